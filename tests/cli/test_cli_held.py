"""``tactful held`` against a real spool on SQLite and (when
TACTFUL_TEST_DATABASE_URL is set) PostgreSQL: listing, showing, the three
decisions, four eyes, and the sender notices they queue."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from proxy.cli import main
from proxy.core.clock import system_clock
from proxy.core.config import load_settings
from proxy.core.submission import Submission
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine
from proxy.store.migrations import upgrade
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import FindingSummary, HitSummary, VerdictSummary

REPO = Path(__file__).resolve().parents[2]
TACTFUL = REPO / ".venv" / "bin" / "tactful"
SECRET = b"Maria Lopez DOB 04/12/1987"
RAW = (
    b"From: worker@agency.example\r\nTo: intake@partner.example.net\r\n"
    b"Subject: referral\r\n\r\nPlease see " + SECRET + b".\r\n"
)
DOB_REASON = "Remove the date of birth, or send it through the secure client portal."
SUMMARY = VerdictSummary(
    verdict="hold",
    enforced="hold",
    mode="enforce",
    hits=(HitSummary(rule="personal-identifier", action="hold", message=DOB_REASON),),
    findings=(
        FindingSummary(entity="DATE_OF_BIRTH", location="body"),
        FindingSummary(entity="CLIENT_NAME", location="body", client_id="C-1"),
    ),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tactful.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Env:
    db: str
    config: Path
    spool: SpoolStore

    def run(self, *argv: str) -> int:
        return main(["held", *argv, "--db", self.db, "--config", str(self.config)])

    def hold(self, *, user: str = "worker", message_id: str | None = None) -> str:
        sub = Submission(
            id=message_id or uuid.uuid4().hex,
            sender=f"{user}@agency.example",
            recipients=("intake@partner.example.net", "cc@partner.example.net"),
            user=user,
            raw=RAW,
            received_at=datetime.now(UTC) - timedelta(hours=3),
        )
        self.spool.hold(sub, SUMMARY)
        return sub.id

    def notices(self) -> list[bytes]:
        """Raw bytes of the queued notices (deferred spool rows of user tactful)."""
        rows = [m for m in self.spool.by_state([SpoolState.DEFERRED]) if m.user == "tactful"]
        return [self.spool.raw(m.id) or b"" for m in rows]


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("TACTFUL_HOLD_KEY", raising=False)
    monkeypatch.setenv("USER", "sam")
    config = tmp_path / "tactful.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hold": {"key_file": str(tmp_path / "hold.key")},
                "notices": {"from_address": "tactful@agency.example"},
            }
        ),
        encoding="utf-8",
    )
    settings = load_settings(config)
    engine = make_engine(db_url)
    upgrade(engine)
    # `tactful held` runs on the real clock; the spool it shares does too.
    spool = SpoolStore(engine, MessageCipher(load_or_create_key(settings.hold)), clock=system_clock)
    yield Env(db_url, config, spool)
    engine.dispose()


# --- list ---------------------------------------------------------------------


def test_list_json_shows_pending_holds_only(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    first = env.hold()
    second = env.hold(user="pat")
    env.spool.release(second, "sam", "fine")
    assert env.run("list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in listed] == [first]
    entry = listed[0]
    assert entry["state"] == "held" and entry["sender"] == "worker@agency.example"
    assert entry["recipient_count"] == 2 and entry["rules"] == ["personal-identifier"]
    assert entry["short_id"] == first[:12]
    assert 3 * 3600 - 60 <= entry["age_seconds"] <= 3 * 3600 + 600
    assert "Maria" not in json.dumps(listed)

    assert env.run("list", "--json", "--all") == 0
    states = {m["id"]: m["state"] for m in json.loads(capsys.readouterr().out)}
    assert states == {first: "held", second: "released"}


def test_list_table(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert env.run("list") == 0
    assert "No messages are waiting for a decision." in capsys.readouterr().out
    message_id = env.hold()
    assert env.run("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "AGE", "SUBJECT", "SENDER", "TO", "RULES"]
    assert lines[1].split() == [message_id[:12], "3h", "referral", "worker@agency.example", "2",
                                "personal-identifier"]  # fmt: skip


# --- show ---------------------------------------------------------------------


def test_show_gives_reasons_and_findings_without_content(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = env.hold()
    assert env.run("show", message_id[:8]) == 0
    out = capsys.readouterr().out
    assert f"Message {message_id}" in out
    assert DOB_REASON in out
    assert "DATE_OF_BIRTH in body" in out and "CLIENT_NAME in body (client C-1)" in out
    assert "intake@partner.example.net, cc@partner.example.net" in out
    assert "Maria" not in out and "1987" not in out

    assert env.run("show", message_id, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == message_id and shown["has_content"] is True
    assert shown["reasons"][0]["message"] == DOB_REASON
    assert {f["entity"] for f in shown["findings"]} == {"DATE_OF_BIRTH", "CLIENT_NAME"}


def test_show_raw_prints_the_decrypted_message(
    env: Env, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    message_id = env.hold()
    assert env.run("show", message_id, "--raw") == 0
    assert capsysbinary.readouterr().out == RAW
    env.spool.delete(message_id, "admin", "wrong recipient")
    assert env.run("show", message_id, "--raw") == 1
    assert b"has no content any more (deleted)" in capsysbinary.readouterr().err


# --- decisions ----------------------------------------------------------------


def test_release_queues_the_released_notice(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    message_id = env.hold()
    assert env.run("release", message_id[:10], "--reason", "checked with the client") == 0
    out = capsys.readouterr().out
    assert f"Released message {message_id}" in out and "tactful serve" in out
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.RELEASED
    assert row.decided_by == "sam" and row.decision_reason == "checked with the client"
    [notice] = env.notices()
    assert b"To: worker@agency.example" in notice
    assert b"Released: your held message is being sent" in notice
    assert b"A reviewer (sam) released your held message as you wrote it" in notice
    due = {m.id for m in env.spool.due_for_delivery(datetime.now(UTC) + timedelta(seconds=1))}
    assert message_id in due and len(due) == 2  # the message and its notice

    assert env.run("release", message_id, "--reason", "again", "--as", "pat") == 1
    assert f"message {message_id} was already released by sam" in capsys.readouterr().err
    assert len(env.notices()) == 1


def test_reject_returns_with_the_note(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    message_id = env.hold()
    note = "Use the portal for the date of birth."
    assert env.run("reject", message_id, "--reason", note, "--as", "pat") == 0
    assert "will not be sent" in capsys.readouterr().out
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.RETURNED and not row.has_content
    assert row.decided_by == "pat"
    [notice] = env.notices()
    assert b"Returned: your held message was not sent" in notice
    assert note.encode() in notice
    assert env.run("delete", message_id, "--reason", "cleanup") == 1
    assert "was already returned to the sender by pat" in capsys.readouterr().err


def test_delete_purges_and_tells_the_sender(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """As in the web app: the sender learns it was deleted and not sent
    (the admin's reason stays in the spool row, not in the email)."""
    message_id = env.hold()
    assert env.run("delete", message_id, "--reason", "sent to the wrong agency") == 0
    assert "Deleted message" in capsys.readouterr().out
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.DELETED and not row.has_content
    (notice,) = env.notices()
    assert b"Deleted: your held message was not sent" in notice
    assert message_id.encode() in notice
    assert b"wrong agency" not in notice


def test_four_eyes_refuses_the_sender(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = env.hold(user="worker")
    assert env.run("release", message_id, "--reason", "mine", "--as", "Worker") == 1
    assert "four-eyes" in capsys.readouterr().err
    monkeypatch.setenv("USER", "worker")
    assert env.run("reject", message_id, "--reason", "mine") == 1
    assert "you (worker) sent message" in capsys.readouterr().err
    assert env.run("delete", message_id, "--reason", "x", "--as", "worker@agency.example") == 1
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.HELD and row.has_content
    assert env.notices() == []


def test_unknown_ambiguous_and_short_ids(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    a = env.hold(message_id="abcdef01" + "1" * 24)
    b = env.hold(message_id="abcdef01" + "2" * 24)
    assert env.run("release", "abcdef01", "--reason", "x") == 1
    err = capsys.readouterr().err
    assert "matches more than one message" in err and a in err and b in err
    assert env.run("show", "99999999") == 1
    assert "no spooled message has an id starting with '99999999'" in capsys.readouterr().err
    assert env.run("release", "abc", "--reason", "x") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert env.run("release", "abcdef011", "--reason", "ok") == 0
    row = env.spool.get(a)
    assert row is not None and row.state is SpoolState.RELEASED


def test_reason_is_required(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    message_id = env.hold()
    with pytest.raises(SystemExit) as exc:
        env.run("release", message_id)
    assert exc.value.code == 2
    assert "--reason" in capsys.readouterr().err
    assert env.run("release", message_id, "--reason", "   ") == 2
    assert "--reason must say why" in capsys.readouterr().err
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.HELD


def test_a_deferred_message_is_not_held(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    sub = Submission(
        id=uuid.uuid4().hex, sender="worker@agency.example", recipients=("a@b.example",),
        user="worker", raw=RAW, received_at=datetime.now(UTC),
    )  # fmt: skip
    env.spool.defer(sub, datetime.now(UTC) + timedelta(hours=12), SUMMARY)
    assert env.run("release", sub.id, "--reason", "now") == 1
    assert "is not held: it is deferred" in capsys.readouterr().err


@pytest.mark.e2e  # the shipped `tactful held` in a subprocess
def test_held_list_in_a_real_process(env: Env) -> None:
    message_id = env.hold()
    child_env = {k: v for k, v in os.environ.items() if k != "TACTFUL_HOLD_KEY"}
    done = subprocess.run(
        [str(TACTFUL), "held", "list", "--json", "--db", env.db, "--config", str(env.config)],
        capture_output=True, text=True, timeout=120, env=child_env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [m["id"] for m in listed] == [message_id]
    assert listed[0]["rules"] == ["personal-identifier"]


def test_a_bad_or_unreachable_database_is_a_clear_usage_error(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ["--config", str(env.config)]
    assert main(["held", "list", "--db", "nonsense://", *config]) == 2
    err = capsys.readouterr().err
    assert "database URL" in err and "is not valid" in err and "Traceback" not in err
    unreachable = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    assert main(["held", "release", "abcdef01", "--reason", "x", "--db", unreachable,
                 *config]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot open the database" in err and "secret" not in err
