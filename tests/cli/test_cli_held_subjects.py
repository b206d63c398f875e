"""``tactful held list`` and ``show`` name messages by their subject (a
text by its first words) and never list Tactful's own notices to workers,
with or without ``--all``."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from proxy.core.consent import Channel
from proxy.core.submission import Submission
from proxy.pipeline.notices import title_of
from proxy.sms.provider import OutgoingText
from proxy.sms.textmail import to_message
from proxy.store.spool_summary import VerdictSummary
from tests.cli import test_cli_held as held_tests
from tests.cli.test_cli_held import SUMMARY, Env

# The spool and configuration fixtures of the main ``tactful held`` tests.
db_url = held_tests.db_url
env = held_tests.env

NOTICE = (
    b"From: tactful@agency.example\r\nTo: worker@agency.example\r\n"
    b"Subject: Released: referral\r\n\r\nYour message was released.\r\n"
)
TEXT = "Hi Dana, the visit moves to Thursday at 10. Reply STOP to opt out of these texts."


def _text(env: Env) -> str:
    at = datetime.now(UTC) - timedelta(hours=1)
    raw = to_message(
        sender="worker@agency.example",
        text=OutgoingText(to="+15555550123", body=TEXT),
        message_id=uuid.uuid4().hex,
        at=at,
    )
    sub = Submission(
        id=uuid.uuid4().hex, sender="worker@agency.example", recipients=("sms:+15555550123",),
        user="worker", raw=raw, received_at=at, channel=Channel.SMS,
    )  # fmt: skip
    # The title the pipeline keeps with a text: its first words.
    title = title_of(subject="", raw=raw, channel=Channel.SMS)
    env.spool.hold(sub, replace(SUMMARY, title=title))
    return sub.id


def _notice(env: Env) -> str:
    now = datetime.now(UTC)
    sub = Submission(
        id=uuid.uuid4().hex, sender="tactful@agency.example",
        recipients=("worker@agency.example",), user="tactful", raw=NOTICE, received_at=now,
    )  # fmt: skip
    env.spool.defer(sub, now, VerdictSummary(verdict="pass", enforced="pass", mode="enforce"))
    return sub.id


@pytest.mark.parametrize("all_states", [False, True])
def test_list_names_messages_and_leaves_out_notices(
    env: Env, capsys: pytest.CaptureFixture[str], all_states: bool
) -> None:
    email = env.hold()
    text = _text(env)
    notice = _notice(env)
    extra = ["--all"] if all_states else []
    assert env.run("list", "--json", *extra) == 0
    listed = {m["id"]: m["subject"] for m in json.loads(capsys.readouterr().out)}
    assert listed == {
        email: "referral",
        text: "Text: “Hi Dana, the visit moves to...”",
    }
    assert notice not in listed
    assert env.run("list", *extra) == 0
    table = capsys.readouterr().out
    assert "SUBJECT" in table.splitlines()[0]
    assert "referral" in table and "Text: “Hi Dana, the visit moves to" in table
    assert notice[:12] not in table


def test_show_names_the_subject(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    email = env.hold()
    assert env.run("show", email[:8]) == 0
    assert "  Subject:    referral\n" in capsys.readouterr().out
    assert env.run("show", email, "--json") == 0
    assert json.loads(capsys.readouterr().out)["subject"] == "referral"
    env.spool.release(email, "sam", "fine")
    env.spool.reject(env.hold(), "sam", "fix")  # content purged on return
    assert env.run("list", "--all", "--json") == 0
    subjects = {m["state"]: m["subject"] for m in json.loads(capsys.readouterr().out)}
    # The title is kept (encrypted) with the message, so it outlives the content.
    assert subjects["returned"] == "referral"
