"""The review desk as a worklist, with the real lint engine run the way
``tactful serve`` runs it (the analysis pool's own worker function, which
returns verdicts without the message text): the message page shows the
subject and every part's text, a held text shows its words, quoted mail is
folded, the queue names messages by subject and lists no notices, bulk
decisions are decided one by one, and every decision redirects.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from proxy.core.consent import Channel, Registry
from proxy.core.message import ParsedMessage
from proxy.core.submission import Submission
from proxy.lint.engine import LintEngine, LintRequest, LintResult
from proxy.pipeline import analysis_pool
from proxy.pipeline.notices import found_values, title_of
from proxy.pipeline.scheduler import Scheduler
from proxy.sms.provider import OutgoingText
from proxy.sms.textmail import to_message
from proxy.store.audit import AuditTrail
from proxy.store.spool_model import SpoolState
from proxy.store.spool_summary import summarize
from proxy.store.spool_view import SpooledMessage
from tests.support.web_fixtures import (
    EXTERNAL,
    OPENED_AT,
    REVIEWER,
    REVIEWER2,
    WORKER,
    World,
    build_world,
    login,
    session_token,
    web_settings,
)

TEXT_TO = "+15555550123"


class PoolLinter:
    """The real engine through the analysis pool's worker function: what
    comes back is what ``tactful serve`` gets (no segments, no text)."""

    def __init__(self, engine: LintEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(analysis_pool, "_engine", engine)
        monkeypatch.setattr(analysis_pool, "_db_url", None)

    async def lint(
        self,
        raw: bytes,
        *,
        sender: str,
        recipients: tuple[str, ...],
        at: Any,
        channel: str | None = None,
    ) -> LintResult:
        request = LintRequest(raw, at, sender=sender, recipients=recipients, channel=channel)
        (result,) = await asyncio.to_thread(analysis_pool._lint_batch_in_worker, [request])
        assert isinstance(result, LintResult), result
        return result


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, nlp_service: Any) -> LintEngine:
    return LintEngine(web_settings(tmp_path_factory.mktemp("e")), Registry(), nlp=nlp_service)


@pytest.fixture
def world(tmp_path: Path, engine: LintEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    built = build_world(
        tmp_path,
        f"sqlite:///{tmp_path / 'desk.db'}",
        linter=PoolLinter(engine, monkeypatch),
        supervisors={"lee@example.org": [REVIEWER2], WORKER: [REVIEWER]},
    )
    yield built
    built.services.engine.dispose()


def email(subject: str, body: str, *, sender: str = WORKER, html: str | None = None,
          attachment: tuple[str, str] | None = None) -> bytes:  # fmt: skip
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = EXTERNAL
    mail["Subject"] = subject
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    if attachment is not None:
        name, text = attachment
        mail.add_attachment(text, filename=name)
    return mail.as_bytes()


def held(
    world: World,
    engine: LintEngine,
    raw: bytes,
    *,
    sender: str = WORKER,
    channel: Channel = Channel.EMAIL,
    recipients: tuple[str, ...] = (EXTERNAL,),
    minutes_ago: int = 42,
) -> SpooledMessage:
    """Judged by the real engine and held in the spool as the pipeline does."""
    sms = channel is Channel.SMS
    verdict = engine.lint(
        raw, sender=sender, recipients=recipients, at=world.clock(),
        channel="sms" if sms else None,
    ).verdict  # fmt: skip
    # The title the pipeline keeps with the message (found values masked).
    subject = str(message_from_bytes(raw, policy=email_policy.default).get("Subject", ""))
    title = title_of(subject=subject, raw=raw, channel=channel, hide=found_values(verdict))
    submission = Submission(
        id=uuid.uuid4().hex,
        sender=sender,
        recipients=recipients,
        user=sender,
        raw=raw,
        received_at=world.clock() - timedelta(minutes=minutes_ago),
        channel=channel,
    )
    summary = replace(summarize(verdict), title=title)
    return world.services.spool.hold(submission, summary, now=world.clock())


def text_message(body: str) -> bytes:
    text = OutgoingText(to=TEXT_TO, body=body)
    return to_message(sender=WORKER, text=text, message_id=uuid.uuid4().hex, at=OPENED_AT)


def visible(html: str) -> str:
    """The page's text as a sighted reader sees it: tags, screen-reader
    words and the findings' small numbers dropped, entities read."""
    html = re.sub(r'<span class="sr">.*?</span>', "", html)
    html = re.sub(r'<a href="#finding-\d+" class="num"[^>]*>\d+</a>', "", html)
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_the_pool_really_returns_no_text_so_the_page_must_read_it_again(
    engine: LintEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cause of "the message section is empty": guard the premise."""
    linter = PoolLinter(engine, monkeypatch)
    raw = email("Housing", "The mother's SSN is 123-45-6789.")
    result = asyncio.run(
        linter.lint(raw, sender=WORKER, recipients=(EXTERNAL,), at=OPENED_AT, channel=None)
    )
    assert isinstance(result.message, ParsedMessage)
    assert result.message.full_text == {} and result.findings


@pytest.mark.parametrize(
    ("subject", "body", "marked"),
    [
        ("Benefits paperwork", "For the application: SSN 123-45-6789.\nThanks.", "123-45-6789"),
        ("Referral", "I am referring a family. The mother's DOB: 03/14/1988.", "03/14/1988"),
    ],
)
def test_a_held_email_page_shows_its_subject_text_and_marks(
    world: World, engine: LintEngine, subject: str, body: str, marked: str
) -> None:
    message = held(world, engine, email(subject, body))
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
    assert page.status_code == 200
    assert f"<h1>{subject}</h1>" in page.text
    assert f"<title>{subject} ({message.id[:8]})" in page.text
    shown = visible(page.text)
    for line in body.splitlines():
        for word in line.split():
            assert word in shown
    mark = re.search(r'<mark id="text-(\d+)"><a [^>]*aria-label="Finding \1: ([^"]+)"', page.text)
    assert mark is not None, "no finding is marked in the text"
    assert re.search(rf"<mark id=\"text-\d+\">.*?{re.escape(marked)}", page.text)


def test_a_held_text_shows_its_words(world: World, engine: LintEngine) -> None:
    words = "Hi Dana, your caseworker needs the SSN 123-45-6789 before Friday's visit."
    message = held(
        world, engine, text_message(words), channel=Channel.SMS, recipients=(f"sms:{TEXT_TO}",)
    )
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
        queue = client.get("/")
    assert page.status_code == 200
    shown = visible(page.text)
    assert "The text message" in shown and "Text of the message" in shown
    assert words in shown
    # Named by the title kept with it: its first words, found values masked.
    assert "Text: “Hi ****, your caseworker needs the...”" in shown
    assert "Text message (SMS)" in shown
    # The queue names the text by its first words, not "Text message".
    assert "Text: “Hi ****, your caseworker" in visible(queue.text)


def test_quoted_history_is_folded_html_is_text_and_attachments_are_read(
    world: World, engine: LintEngine
) -> None:
    body = (
        "Thanks, the visit is confirmed.\n\n"
        "On Mon, Dec 1, 2026 at 9:00 AM Lee <lee@partner.example.net> wrote:\n"
        "> Can you confirm the visit on Tuesday?\n"
        "> We will bring the forms.\n"
    )
    raw = email(
        "Visit on Tuesday",
        body,
        html="<p>Thanks, the visit is <b>confirmed</b>.</p><script>alert(1)</script>",
        attachment=("notes.txt", "Case notes: the client's SSN is 123-45-6789.\n"),
    )
    message = held(world, engine, raw)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
    assert page.status_code == 200
    folded = re.search(r"<details class=\"quoted\"[^>]*>(.*?)</details>", page.text, re.S)
    assert folded is not None, "quoted mail is not folded"
    assert "Can you confirm the visit on Tuesday?" in unescape(folded.group(1))
    before = page.text[: folded.start()]
    assert "Thanks, the visit is confirmed." in before
    assert "<script>" not in page.text and "<b>" not in page.text
    assert "Attachment notes.txt" in page.text
    assert "Case notes: the client" in unescape(page.text)
    assert "notes.txt</span> (text/plain" in page.text


def test_the_queue_is_a_worklist_and_lists_no_notices(world: World, engine: LintEngine) -> None:
    lee = "lee@example.org"
    older = email("Older, for Ria", "DOB: 03/14/1988", sender=lee)
    theirs = held(world, engine, older, sender=lee, minutes_ago=90)
    mine = held(world, engine, email("Newer, mine", "The SSN is 123-45-6789."), minutes_ago=5)
    decided = held(world, engine, email("Decided one", "DOB: 03/14/1988"))
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)  # Jane's mail is routed to Sam
        token = session_token(client)
        done = client.post(
            f"/messages/{decided.id}/release", data={"reason": "fine", "csrf": token}
        )
        assert done.status_code == 303
    # Deliver everything due, notices to workers included: they end SENT.
    sent = asyncio.run(Scheduler(world.services).run_once())
    assert sent >= 2
    notices = [m for m in world.services.spool.by_state(None) if m.user == "tactful"]
    assert notices and all(m.state is SpoolState.SENT for m in notices)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        queue = client.get("/")
        recent = client.get("/?show=decided")
    shown = visible(queue.text)
    # Mine first though newer; the subject names each row; reasons in words.
    assert shown.index("Newer, mine") < shown.index("Older, for Ria")
    links = re.findall(r'<a href="/messages/([0-9a-f]+)" class="subject">([^<]+)</a>', queue.text)
    assert links == [(mine.id, "Newer, mine"), (theirs.id, "Older, for Ria")]
    assert "Social Security number" in shown or "SSN" in shown
    assert 'class="code"' not in queue.text
    waits = re.findall(r'<td data-label="Waiting for">([^<]*)</td>', queue.text)
    assert waits == ["you", REVIEWER2]
    # Recently decided: the decision, never Tactful's own notices.
    decided_rows = re.findall(r"<tr[ >]", recent.text)
    assert len(decided_rows) == 2  # the header row and the one decision
    assert "Decided one" in visible(recent.text)
    for notice in notices:
        assert notice.id not in recent.text and notice.id not in queue.text


def test_bulk_release_decides_each_message_on_its_own(world: World, engine: LintEngine) -> None:
    first = held(world, engine, email("First of three", "DOB: 03/14/1988"))
    second = held(world, engine, email("Second of three", "SSN 123-45-6789"))
    own = held(world, engine, email("The reviewer's own", "DOB: 03/14/1988", sender=REVIEWER),
               sender=REVIEWER)  # fmt: skip
    lee = "lee@example.org"
    for_ria = held(world, engine, email("Other team, for Ria", "DOB: 03/14/1988", sender=lee),
                   sender=lee)  # fmt: skip
    ids = [first.id, second.id, own.id, for_ria.id]
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        queue = client.get("/")
        token = session_token(client)
        # No box for a message the reviewer sent, nor for one routed to Ria.
        assert f'name="id" value="{own.id}"' not in queue.text
        assert f'name="id" value="{for_ria.id}"' not in queue.text
        assert f'name="id" value="{first.id}"' in queue.text
        no_reason = client.post("/decide", data={"id": ids, "action": "release", "csrf": token})
        assert no_reason.status_code == 422
        assert all(
            world.services.spool.get(i).state is SpoolState.HELD  # type: ignore[union-attr]
            for i in ids
        )
        done = client.post(
            "/decide",
            data={"id": ids, "action": "release", "reason": "Intake needs these", "csrf": token},
        )
        assert done.status_code == 303
        result = client.get(done.headers["location"])
    assert result.status_code == 200
    page = visible(result.text)
    assert "Released: 2 messages" in page
    assert "First of three" in page and "Second of three" in page
    assert "Not decided: you sent these" in page and "The reviewer's own" in page
    assert "Not decided: assigned to another reviewer" in page and "Other team, for Ria" in page
    spool = world.services.spool
    assert spool.get(first.id).state is SpoolState.RELEASED  # type: ignore[union-attr]
    assert spool.get(second.id).state is SpoolState.RELEASED  # type: ignore[union-attr]
    assert spool.get(own.id).state is SpoolState.HELD  # type: ignore[union-attr]
    assert spool.get(for_ria.id).state is SpoolState.HELD  # type: ignore[union-attr]
    entries = [(e.action, e.target) for e in AuditTrail(world.services.engine).entries()]
    assert ("message.release", first.id) in entries
    assert ("message.release", second.id) in entries
    assert ("message.release", own.id) not in entries


def test_a_decision_redirects_to_its_result_with_the_next_message(
    world: World, engine: LintEngine
) -> None:
    first = held(world, engine, email("Returned one", "DOB: 03/14/1988"), minutes_ago=60)
    waiting = held(world, engine, email("Still waiting", "SSN 123-45-6789"), minutes_ago=30)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        token = session_token(client)
        client.get(f"/messages/{first.id}")
        posted = client.post(
            f"/messages/{first.id}/return",
            data={"reason": "Please use the portal for the date of birth.", "csrf": token},
        )
        assert posted.status_code == 303
        location = posted.headers["location"]
        assert location == f"/messages/{first.id}/decided"
        result = client.get(location)
        again = client.get(location)  # reloading shows the result, decides nothing
    assert result.status_code == again.status_code == 200
    assert "<h1>Returned</h1>" in result.text
    assert "Returned one" in result.text  # named by its subject though its content is purged
    assert f'<a href="/messages/{waiting.id}">Next message: Still waiting</a>' in result.text
    assert "<title>Returned: Returned one" in result.text
