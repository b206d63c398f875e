"""What a program and a worker are told about a text, for every verdict
that answers 201: the ``tactful`` object in the reply (so a program can
tell a masked text from one sent as written) and the worker's notice,
titled by the text's first words and worded for texts.

Real HTTP on both sides (Tactful's SMS routes and a Twilio-compatible
provider on their own ports), the real lint engine, a real spool.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.sms_fixtures import (
    AGENCY_NUMBER,
    CLIENT_SID,
    MARIA,
    WORKER,
    WORKER_PASSWORD,
    SmsWorld,
    chicago,
    sms_world,
)

DAYTIME = chicago(2026, 11, 24, 10)  # a Tuesday morning
NIGHT = chicago(2026, 11, 24, 22, 30)  # quiet hours until 08:00
LONG = "Please bring the lease, two pay stubs and the utility bill. " * 9


@dataclass(frozen=True)
class Case:
    body: str
    at: Any
    status: str  # the Message resource's status
    action: str
    masked: int
    note: str  # the note, up to its reference
    reasons: tuple[str, ...]  # words each reason contains, in order
    title: str  # the notice's subject, as the worker reads it
    notice: tuple[str, ...]  # lines of the notice's body


CASES = {
    "pass": Case(
        "See you Thursday at 3.", DAYTIME, "queued", "pass", 0, "Sent.", (), "", ()
    ),
    "warn": Case(
        LONG.strip(), DAYTIME, "queued", "warn", 0,
        "Sent as written, with advice for next time in the reasons.",
        ("This text is long",),
        'Sent, with advice for next time: text "Please bring the lease, two pay..."',
        (
            'Tactful has sent your text "Please bring the lease, two pay..." to 1 number as you '
            "wrote it.",
            "It has gone; you do not need to do anything now.",
            "Tactful noticed something worth knowing for next time:",
        ),
    ),
    "redact": Case(
        "I put your SSN 512-44-8821 on the SNAP form.", DAYTIME, "queued", "redact", 1,
        "Sent. 1 detail is masked (like ***-**-8821).",
        ("Masked: the Social Security number in the message.",),
        'Sent with 1 detail masked: text "I put your SSN ***-**-8821 on..."',
        (
            'Tactful has sent your text "I put your SSN ***-**-8821 on..." to 1 number, with 1 '
            "detail masked first.",
            "It has gone; you do not need to do anything.",
            "  - the Social Security number in the message",
            "The recipient sees each masked detail like this: ***-**-8821",
            "If they need the full detail, share it through the secure client portal, not by "
            "text.",
        ),
    ),
    "defer": Case(
        "Reminder: visit tomorrow at 10.", NIGHT, "scheduled", "defer", 0,
        "Scheduled: it has NOT been sent yet and will be sent on Wednesday 25 November at "
        "08:00 CST (America/Chicago).",
        ("quiet hours",),
        "Scheduled for Wednesday 25 November at 08:00 CST (America/Chicago): "
        'text "Reminder: visit tomorrow at 10."',
        (
            'Tactful will send your text "Reminder: visit tomorrow at 10." to 1 number on '
            "Wednesday 25 November at 08:00 CST (America/Chicago),",
            "It has NOT been sent yet.",
            "A text cannot be marked urgent. If it cannot wait, phone the client;",
        ),
    ),
    "hold": Case(
        "Your date of birth 03/14/1988 is on the form.", DAYTIME, "accepted", "hold", 0,
        "Held for a supervisor to review; it has NOT been sent. You will get an email when "
        "they decide.",
        ("date of birth",),
        'Held for review, not sent yet: text "Your date of birth **/**/**** is..."',
        (
            'Tactful is holding your text "Your date of birth **/**/**** is..." to 1 number for '
            "a supervisor to review.",
            "It has NOT been sent yet.",
            "If you change the text and send it again, cancel this one so the",
        ),
    ),
}


def post(world: SmsWorld, body: str) -> httpx.Response:
    return httpx.post(
        f"{world.base_url}/2010-04-01/Accounts/{CLIENT_SID}/Messages.json",
        data={"To": MARIA, "From": AGENCY_NUMBER, "Body": body},
        auth=(WORKER, WORKER_PASSWORD),
    )


def notices(world: SmsWorld) -> list[tuple[str, str]]:
    """Subject and body of each notice queued for the worker."""
    found = []
    for row in world.services.spool.by_state():
        if row.user == "tactful" and row.recipients == (WORKER,):
            raw = world.services.spool.raw(row.id)
            assert raw is not None
            mail = message_from_bytes(raw, policy=email_policy.default)
            body = mail.get_content()  # type: ignore[attr-defined]
            found.append((str(mail["Subject"]), body.replace("\r\n", "\n")))
    return found


@pytest.fixture
def world(tmp_path: Path, nlp_service: Any) -> Iterator[SmsWorld]:
    with sms_world(
        tmp_path, f"sqlite:///{tmp_path / 'tactful.db'}", nlp_service, now=DAYTIME
    ) as running:
        yield running


@pytest.mark.parametrize("name", list(CASES))
def test_every_201_says_what_tactful_did(world: SmsWorld, name: str) -> None:
    case = CASES[name]
    world.clock.now = case.at
    reply = post(world, case.body)
    assert reply.status_code == 201, reply.text
    resource = reply.json()
    assert resource["status"] == case.status
    tactful = resource["tactful"]
    assert set(tactful) == {"reference", "action", "note", "reasons", "masked", "send_at"}
    assert re.fullmatch(r"[0-9a-f]{32}", tactful["reference"])
    assert tactful["action"] == case.action
    assert tactful["masked"] == case.masked
    assert tactful["note"] == f"{case.note} Reference {tactful['reference']}."
    assert len(tactful["reasons"]) == len(case.reasons)
    for reason, words in zip(tactful["reasons"], case.reasons, strict=True):
        assert words in reason
    assert (tactful["send_at"] is not None) == (case.action == "defer")
    # Texts have no subject to tag: nothing tells a program to add one.
    assert "[urgent]" not in reply.text and "subject" not in reply.text.lower()
    if case.action == "redact":
        assert resource["body"] == "I put your SSN ***-**-8821 on the SNAP form."
        assert world.provider.bodies == [resource["body"]]

    told = notices(world)
    if not case.title:
        assert told == []  # a plain text that went as written needs no email
        return
    [(subject, body)] = told
    assert subject == case.title
    for line in case.notice:
        assert line in body.splitlines(), (line, body)
    assert body.endswith(f"Reference (for the helpdesk): {tactful['reference']}\n")
    assert "[urgent]" not in body and "subject" not in body.lower()
    # The text's own values never reach the worker's mailbox.
    for value in ("512-44", "03/14/1988"):
        assert value not in subject + body


def test_five_scheduled_texts_can_be_told_apart(world: SmsWorld) -> None:
    world.clock.now = NIGHT
    bodies = [
        f"Reminder for {day}: bring the signed lease." for day in
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    ]  # fmt: skip
    for body in bodies:
        assert post(world, body).status_code == 201
    subjects = sorted(subject for subject, _ in notices(world))
    assert len(set(subjects)) == 5
    for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"):
        assert any(f'text "Reminder for {day}: bring the signed..."' in s for s in subjects)


def test_the_readme_shows_the_tactful_object_of_a_masked_text(world: SmsWorld) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index('For the text "I put your\nSSN 512-44-8821 on the SNAP form." it is:')
    fence = readme.index("```json\n", start) + len("```json\n")
    shown = readme[fence : readme.index("\n```\n", fence)]
    reply = post(world, "I put your SSN 512-44-8821 on the SNAP form.")
    assert reply.status_code == 201
    tactful = reply.json()["tactful"]
    written = json.dumps(tactful).replace(tactful["reference"], "9f1c2e4b7a6d4c0e8b5a3f2d1e0c9b8a")
    assert written == shown
