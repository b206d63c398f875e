"""The review desk in real headless Chromium, the way a supervisor works
it: the queue, a held email and a held text (subject and text on the
page), the masked preview, each decision's result, the consent and audit
pages. Every page is checked with axe-core (installed from the npm
registry by ``make axe-core``; skipped with the reason when it is not
there) and for reflow at 320 CSS pixels (what 400 % zoom of a 1280-pixel
window gives, WCAG 1.4.10).

Full-page screenshots go to var/screenshots/ (gitignored), one per page,
for a person to look at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from proxy.core.consent import Channel
from proxy.lint.engine import LintEngine
from proxy.store.spool_model import SpoolState
from tests.review import test_browser, test_desk
from tests.review.test_browser import CHROMIUM, Served, record_dialog
from tests.review.test_desk import PoolLinter, email, held, text_message
from tests.support.web_fixtures import (
    ADMIN,
    PASSWORD,
    REVIEWER,
    REVIEWER2,
    WORKER,
    World,
    build_world,
)

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "var" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "var" / "screenshots"

# Fixtures shared with the other review tests: the lint engine, Chromium.
engine = test_desk.engine
browser = test_browser.browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]

EMAIL_SUBJECT = "Housing referral for a family of four"
EMAIL_BODY = (
    "Hello,\n\n"
    "I am referring the family for housing support. The mother's SSN is 123-45-6789 "
    "and her DOB: 03/14/1988.\n"
    "Please let me know what else you need.\n\n"
    "On Mon, Nov 30, 2026 at 9:00 AM Intake <intake@partner.example.net> wrote:\n"
    "> Can you send the referral before Friday?\n"
)
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 320, "height": 640}  # 400 % zoom of a 1280-pixel window
TEXT_WORDS = "Hi Dana, your caseworker needs your SSN 123-45-6789 before the visit on Friday."


def _log_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def _axe(page: Any) -> list[str]:
    """axe-core's violations on the page, as 'rule: target' lines."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => JSON.stringify((await axe.run(document, "
        "{resultTypes: ['violations']})).violations.map("
        "v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))"
    )
    found: list[str] = json.loads(result)
    return found


def _reflows(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


class Desk:
    """Checks every page it is shown: axe-core, reflow at 320 px, a title
    of its own; then full-page screenshots (wide and 320 px) for a person
    to look at."""

    def __init__(self, chromium: Any, base: str) -> None:
        self.base = base
        self.page = chromium.new_page(viewport=WIDE)
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: record_dialog(self.dialogs, d))
        self.titles: dict[str, str] = {}
        self.problems: list[str] = []

    def log_in(self, name: str) -> None:
        _log_in(self.page, self.base, name)

    def check(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        self.titles[name] = page.title()
        self.problems += [f"{name}: {v}" for v in _axe(page)]
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        page.set_viewport_size(NARROW)
        if not _reflows(page):
            self.problems.append(f"{name}: scrolls sideways at 320 px")
        page.screenshot(path=str(SHOTS / f"{name}-320px.png"), full_page=True)
        page.set_viewport_size(WIDE)


@pytest.fixture
def world(tmp_path: Path, engine: LintEngine, monkeypatch: pytest.MonkeyPatch) -> World:
    return build_world(
        tmp_path, f"sqlite:///{tmp_path / 'desk.db'}", linter=PoolLinter(engine, monkeypatch)
    )


def test_a_supervisor_reads_judges_and_decides_in_chromium(
    world: World, engine: LintEngine, browser: Any
) -> None:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE}: run `make axe-core` (npm registry)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    mail = held(world, engine, email(EMAIL_SUBJECT, EMAIL_BODY), minutes_ago=75)
    text = held(world, engine, text_message(TEXT_WORDS), channel=Channel.SMS,
                recipients=("sms:+15555550123",), minutes_ago=20)  # fmt: skip
    returned = held(world, engine, email("Visit notes from the second visit", "DOB: 03/14/1988"))
    deleted = held(world, engine, email("Sent by mistake", "SSN 123-45-6789"))
    bulk = [held(world, engine, email(f"School form {n}", "DOB: 03/14/1988")) for n in (1, 2)]
    pending = held(world, engine, email("Benefits paperwork", "DOB: 03/14/1988"), minutes_ago=5)
    with Served(world) as served:
        desk = Desk(browser, served.url)
        page = desk.page
        # Control: axe-core does report a gap when there is one.
        page.set_content('<html lang="en"><title>x</title><main><img src="x.png"></main></html>')
        assert any(v.startswith("image-alt") for v in _axe(page))
        desk.log_in(REVIEWER)
        desk.check("queue")
        row = page.get_by_role("row").filter(has_text=EMAIL_SUBJECT)
        assert row.count() == 1
        assert "Remove the date of birth from the message" in row.inner_text()  # words, no codes

        # A held email: subject, text, the quoted mail folded, marks explained.
        row.get_by_role("link", name=EMAIL_SUBJECT).click()
        page.wait_for_url(f"{served.url}/messages/{mail.id}")
        assert page.get_by_role("heading", level=1).inner_text() == EMAIL_SUBJECT
        shown = _message_text(page)
        assert "I am referring the family for housing support. The mother's SSN is 123-45-6789" in (
            shown
        )
        assert "Please let me know what else you need." in shown
        assert "> Can you send the referral before Friday?" in shown  # folded, still there
        assert page.locator("mark", has_text="123-45-6789").count() == 1
        assert page.locator("details.quoted").count() == 1
        assert page.locator("details.quoted").get_attribute("open") is None  # folded
        desk.check("held-email")

        # A held text: its words, named by its first words.
        page.goto(f"{served.url}/messages/{text.id}")
        heading = page.get_by_role("heading", level=1).inner_text()
        # Named by its first words, found values masked (the client's name too).
        assert heading.startswith("Text: “Hi ****, your caseworker needs your")
        assert _message_text(page) == TEXT_WORDS
        desk.check("held-text")

        # The masked preview: a real button opens it; masked values say so.
        page.goto(f"{served.url}/messages/{mail.id}")
        page.get_by_role("button", name="Preview release with details masked").press("Space")
        page.wait_for_url(f"{served.url}/messages/{mail.id}/redact?")
        masked = page.locator("mark.masked")
        assert masked.count() >= 2
        assert "masked detail" in masked.first.inner_text()
        desk.check("masked-preview")
        page.get_by_label("Why it may go with these details masked").fill(
            "The housing team can work with the masked numbers."
        )
        page.get_by_role("button", name="Release with details masked").click()
        page.wait_for_url(f"{served.url}/messages/{mail.id}/decided")
        assert page.get_by_role("heading", level=1).inner_text() == "Released with details masked"
        desk.check("result-released-masked")

        # Next message, then return it to the sender.
        page.get_by_role("link", name=re.compile("^Next message: ")).click()
        page.wait_for_url(re.compile(r"/messages/[0-9a-f]{32}$"))
        page.goto(f"{served.url}/messages/{returned.id}")
        page.get_by_label("Note to the sender").fill("Please send the date of birth by portal.")
        page.get_by_role("button", name="Return to sender").click()
        page.wait_for_url(f"{served.url}/messages/{returned.id}/decided")
        assert "Visit notes from the second visit" in page.locator("main").inner_text()
        desk.check("result-returned")
        page.reload()  # POST, redirect, GET: a reload decides nothing again
        assert page.get_by_role("heading", level=1).inner_text() == "Returned"

        # Bulk: tick two, release them with one reason.
        page.goto(f"{served.url}/")
        for message in bulk:
            page.locator(f'input[name="id"][value="{message.id}"]').check()
        page.get_by_label("Reason, kept with each decision").fill("School forms are routine.")
        page.get_by_role("button", name="Release ticked messages as sent").click()
        page.wait_for_url(re.compile(r"/decided\?"))
        assert "Released: 2 messages" in page.locator("h1").inner_text()
        desk.check("result-bulk-released")

        # The held text, released as sent.
        page.goto(f"{served.url}/messages/{text.id}")
        page.get_by_label("Why it may go as written").fill("Dana asked for it by text.")
        page.get_by_role("button", name="Release as sent").click()
        page.wait_for_url(f"{served.url}/messages/{text.id}/decided")
        desk.check("result-released-text")

        # Consent pages.
        page.goto(f"{served.url}/consent/add")
        page.get_by_label("Client id").fill("C-2041")
        page.get_by_label("Client's name").fill("Rosa Diaz")
        page.get_by_label("Email address or phone number").fill("rosa.diaz.example.com")
        page.get_by_label("Consent given on").fill("2026-01-05")
        page.get_by_label("Consent ends on (optional)").fill("2026-11-30")
        page.get_by_label("Evidence: who agreed").fill("Signed form, 5 January")
        page.get_by_role("button", name="Add consent").click()
        page.wait_for_load_state("load")
        # Focus moves to the field that is wrong (autofocus; no script).
        page.wait_for_function("document.activeElement && document.activeElement.id === 'address'")
        desk.check("consent-add-errors")
        page.get_by_label("Email address or phone number").fill("rosa.diaz@example.com")
        page.get_by_role("button", name="Add consent").click()
        page.wait_for_url(re.compile(r"/consent/client/C-2041"))
        assert "Expired" in page.locator("main").inner_text()
        desk.check("consent-client")
        page.goto(f"{served.url}/consent")
        desk.check("consent-registry")
        page.goto(f"{served.url}/consent/import")
        bad = "client_id,name\nC-1,Ana\n"
        page.get_by_label("CSV file to import").set_input_files(
            files=[{"name": "clients.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
        )
        page.get_by_role("button", name="Check the file").click()
        assert "Nothing was imported" in page.locator("main").inner_text()
        desk.check("consent-import-errors")

        # An admin deletes one; the audit trail.
        desk.log_in(ADMIN)
        page.goto(f"{served.url}/messages/{deleted.id}")
        page.get_by_label("Why delete it").fill("Sent to the wrong agency by mistake.")
        page.get_by_role("button", name="Delete without sending").click()
        page.wait_for_url(f"{served.url}/messages/{deleted.id}/decided")
        desk.check("result-deleted")
        page.goto(f"{served.url}/audit?verify=1")
        desk.check("audit")
        page.goto(f"{served.url}/?show=decided")
        desk.check("recently-decided")
        page.goto(f"{served.url}/login")
        desk.check("login")
        # The sender's cancel link names the message by its subject.
        link = world.links.cancel_url(pending.id)
        assert link is not None
        page.goto(link.replace("http://testserver", served.url))
        assert page.get_by_text("Benefits paperwork", exact=True).count() == 1
        desk.check("cancel")

    assert desk.dialogs == []
    assert desk.problems == []
    # Every message page has a title of its own.
    titles = [desk.titles[n] for n in ("held-email", "held-text", "masked-preview")]
    assert len(set(titles)) == 3, titles
    spool = world.services.spool
    for message, state in ((mail, SpoolState.RELEASED), (returned, SpoolState.RETURNED),
                           (deleted, SpoolState.DELETED), (text, SpoolState.RELEASED)):  # fmt: skip
        assert spool.get(message.id).state is state  # type: ignore[union-attr]
    assert all(spool.get(m.id).state is SpoolState.RELEASED for m in bulk)  # type: ignore[union-attr]


def _message_text(page: Any) -> str:
    """The words in the message's text boxes, as written: without the
    findings' small numbers and the words only screen readers hear."""
    text: str = page.evaluate(
        """() => Array.from(document.querySelectorAll('figure.part pre.text')).map(pre => {
            const copy = pre.cloneNode(true);
            copy.querySelectorAll('.num, .sr').forEach(e => e.remove());
            return copy.textContent;
        }).join('\\n')"""
    )
    return text.strip()


def test_nobody_decides_their_own_message_from_the_bulk_form(
    world: World, engine: LintEngine, browser: Any
) -> None:
    own = email("The reviewer's own referral", "DOB: 03/14/1988", sender=REVIEWER)
    theirs = held(world, engine, own, sender=REVIEWER)
    other = held(world, engine, email("Ria can take this", "SSN 123-45-6789"), sender=WORKER)
    with Served(world) as served:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _log_in(page, served.url, REVIEWER)
        assert page.locator(f'input[name="id"][value="{theirs.id}"]').count() == 0
        assert (
            page.get_by_role("row")
            .filter(has_text="The reviewer's own referral")
            .inner_text()
            .count("you sent it")
            == 1
        )
        page.close()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _log_in(page, served.url, REVIEWER2)
        page.locator(f'input[name="id"][value="{theirs.id}"]').check()
        page.locator(f'input[name="id"][value="{other.id}"]').check()
        page.get_by_label("Reason, kept with each decision").fill("Both fine.")
        page.get_by_role("button", name="Return ticked messages to their senders").click()
        page.wait_for_url(re.compile(r"/decided\?"))
        assert "Returned to their senders: 2 messages" in page.locator("h1").inner_text()
    assert world.services.spool.get(theirs.id).decided_by == REVIEWER2  # type: ignore[union-attr]
