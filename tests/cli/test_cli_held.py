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
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from proxy.accounts.users import Role, UserDirectory, save_users
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
from tests.support.accounts import hashed_once

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
    title="referral",  # as the pipeline records it
)
# The user file: reviewers sam and pat, an admin, and the worker who sends.
ACCOUNTS = (
    ("sam", Role.REVIEWER, ()),
    ("pat", Role.REVIEWER, ("pat@agency.example",)),
    ("boss", Role.ADMIN, ()),
    ("worker", Role.WORKER, ("worker@agency.example",)),
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

    def read_notices(self) -> list[tuple[str, str]]:
        """Subject and body of each queued notice, as the worker reads them."""
        parsed = [message_from_bytes(raw, policy=email_policy.default) for raw in self.notices()]
        return [
            (str(m["Subject"]), m.get_content().replace("\r\n", "\n"))  # type: ignore[attr-defined]
            for m in parsed
        ]

    def notices(self) -> list[bytes]:
        """Raw bytes of the queued notices (deferred spool rows of user tactful)."""
        rows = [m for m in self.spool.by_state([SpoolState.DEFERRED]) if m.user == "tactful"]
        return [self.spool.raw(m.id) or b"" for m in rows]


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("TACTFUL_HOLD_KEY", raising=False)
    # A reviewer's name in $USER must not stand in for --as.
    monkeypatch.setenv("USER", "sam")
    users = UserDirectory()
    for name, role, addresses in ACCOUNTS:
        users = users.with_user(hashed_once(name, role, "a-long-password-1", addresses))
    save_users(tmp_path / "users.json", users)
    config = tmp_path / "tactful.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hold": {"key_file": str(tmp_path / "hold.key")},
                "notices": {"from_address": "tactful@agency.example"},
                "smtp": {"users_file": str(tmp_path / "users.json")},
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
    assert env.run("release", message_id[:10], "--reason", "checked with the client",
                   "--as", "sam") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"Released message {message_id}" in out and "tactful serve" in out
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.RELEASED
    assert row.decided_by == "sam" and row.decision_reason == "checked with the client"
    [notice] = env.notices()
    assert b"To: worker@agency.example" in notice
    [(subject, body)] = env.read_notices()
    assert subject == 'Released and being sent: "referral"'
    assert body.startswith(
        'A reviewer (sam) released your message "referral" to 2 recipients, as you wrote it.\n'
        "It is being sent now; you do not need to do anything.\n"
    )
    assert body.endswith(f"Reference (for the helpdesk): {message_id}\n")
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
    [(subject, body)] = env.read_notices()
    assert subject == 'Returned, not sent: "referral"'
    assert body.startswith(
        'A reviewer (pat) returned your message "referral" to 2 recipients.\n'
        "It was NOT sent, and Tactful has deleted its copy.\n\n"
        f"Their note:\n  {note}\n"
    )
    assert env.run("delete", message_id, "--reason", "cleanup", "--as", "boss") == 1
    assert "was already returned to the sender by pat" in capsys.readouterr().err


def test_delete_purges_and_tells_the_sender(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """As in the web app: the sender learns it was deleted and not sent
    (the admin's reason stays in the spool row, not in the email)."""
    message_id = env.hold()
    assert env.run("delete", message_id, "--reason", "sent to the wrong agency",
                   "--as", "boss") == 0  # fmt: skip
    assert "Deleted message" in capsys.readouterr().out
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.DELETED and not row.has_content
    (notice,) = env.notices()
    assert env.read_notices()[0][0] == 'Deleted, not sent: "referral"'
    assert message_id.encode() in notice
    assert b"wrong agency" not in notice


def test_four_eyes_refuses_the_sender(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """Pat is a reviewer who also writes to clients: not on his own mail."""
    message_id = env.hold(user="pat")
    assert env.run("release", message_id, "--reason", "mine", "--as", "Pat") == 1
    assert "four-eyes" in capsys.readouterr().err
    assert env.run("reject", message_id, "--reason", "mine", "--as", "pat") == 1
    assert "you (pat) sent message" in capsys.readouterr().err
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.HELD and row.has_content
    assert env.notices() == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ((), "who is deciding? give --as NAME"),  # $USER is sam, a reviewer: not used
        (("--as", "  "), "who is deciding? give --as NAME"),
        (("--as", "worker"), "--as 'worker' is not a reviewer or admin account"),
        (("--as", "worker@agency.example"), "is not a reviewer or admin account"),
        (("--as", "root"), "--as 'root' is not a reviewer or admin account"),
    ],
)
def test_every_decision_names_a_reviewer_account(
    env: Env, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], said: str
) -> None:
    message_id = env.hold()
    for action in ("release", "reject", "delete"):
        assert env.run(action, message_id, "--reason", "checked", *argv) == 2, action
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.HELD and row.has_content
    assert row.decided_by is None and env.notices() == []


def test_deleting_is_an_admins_decision_as_on_the_web(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = env.hold()
    assert env.run("delete", message_id, "--reason", "duplicate", "--as", "sam") == 2
    assert "sam is a reviewer; only an admin may delete a message" in capsys.readouterr().err
    row = env.spool.get(message_id)
    assert row is not None and row.state is SpoolState.HELD and env.notices() == []
    assert env.run("delete", message_id, "--reason", "duplicate", "--as", "boss") == 0


def _route(env: Env, enforce: bool | None) -> None:
    """review.supervisors sends the worker's mail to pat."""
    config = yaml.safe_load(env.config.read_text(encoding="utf-8"))
    config["review"] = {"supervisors": {"worker": ["pat"]}}
    if enforce is not None:
        config["review"]["enforce_routing"] = enforce
    env.config.write_text(yaml.safe_dump(config), encoding="utf-8")


def test_routing_is_enforced_by_default(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    _route(env, None)
    first, second = env.hold(), env.hold()
    assert env.run("release", first, "--reason", "fine", "--as", "sam") == 1
    assert (
        f"message {first} is for pat to decide (review.supervisors); only they or an admin "
        "may release or return it" in capsys.readouterr().err
    )
    row = env.spool.get(first)
    assert row is not None and row.state is SpoolState.HELD and env.notices() == []
    # The assigned reviewer and an admin may.
    assert env.run("release", first, "--reason", "fine", "--as", "pat") == 0
    assert env.run("reject", second, "--reason", "use the portal", "--as", "boss") == 0
    decided = [env.spool.get(first), env.spool.get(second)]
    assert [(m.state, m.decided_by) for m in decided if m is not None] == [
        (SpoolState.RELEASED, "pat"),
        (SpoolState.RETURNED, "boss"),
    ]


def test_routing_can_be_advisory(env: Env) -> None:
    _route(env, False)
    message_id = env.hold()
    assert env.run("release", message_id, "--reason", "fine", "--as", "sam") == 0
    row = env.spool.get(message_id)
    assert row is not None and row.decided_by == "sam"


def test_unknown_ambiguous_and_short_ids(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    a = env.hold(message_id="abcdef01" + "1" * 24)
    b = env.hold(message_id="abcdef01" + "2" * 24)
    assert env.run("release", "abcdef01", "--reason", "x", "--as", "sam") == 1
    err = capsys.readouterr().err
    assert "matches more than one message" in err and a in err and b in err
    assert env.run("show", "99999999") == 1
    assert "no spooled message has an id starting with '99999999'" in capsys.readouterr().err
    assert env.run("release", "abc", "--reason", "x", "--as", "sam") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert env.run("release", "abcdef011", "--reason", "ok", "--as", "sam") == 0
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
    assert env.run("release", sub.id, "--reason", "now", "--as", "sam") == 1
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
    assert main(["held", "release", "abcdef01", "--reason", "x", "--as", "sam",
                 "--db", unreachable, *config]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot open the database" in err and "secret" not in err
