"""One throttle for every login: wrong SMTP passwords count per account and
client address across connections, in the database (SQLite and
PostgreSQL), each lock-out is in the audit trail without the password, and
the review app reads the same count.

Real parts: Tactful's front door (``serve()``), raw socket clients from
several loopback addresses, a real database, the real review app.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from starlette.testclient import TestClient

from proxy.store.audit import AuditTrail
from proxy.store.db import make_engine
from tests.support.smtp_fixtures import (
    ALICE,
    BOB,
    PASSWORD,
    FrontDoor,
    FrontDoorFactory,
    RawClient,
    bg_loop,
    front_door,
    tls_files,
    users_file,
)
from tests.support.web_fixtures import PASSWORD as WEB_PASSWORD
from tests.support.web_fixtures import REVIEWER, build_world, login

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

WRONG = [f"guess-{n:02d}-tr0ub4dor" for n in range(40)]


def connect(door: FrontDoor, source: str = "127.0.0.1") -> RawClient:
    client = RawClient(door.host, door.port, source=source)
    assert client.reply()[0] == 220
    assert client.command("EHLO client.example")[0] == 250
    return client


def guess(door: FrontDoor, user: str, passwords: list[str], source: str = "127.0.0.1") -> list[int]:
    """Wrong passwords, three to a connection (the server hangs up after
    three failures, as before); the reply code of each AUTH."""
    codes: list[int] = []
    for start in range(0, len(passwords), 3):
        client = connect(door, source)
        for password in passwords[start : start + 3]:
            code, _ = client.login(user, password)
            codes.append(code)
            if code == 0:
                break
        client.close()
    return codes


def test_thirty_wrong_passwords_over_ten_connections_then_the_right_one_is_refused(
    front_door: FrontDoorFactory, db_url: str
) -> None:
    door = front_door(logins=front_door.login_failures(db_url))
    codes = guess(door, ALICE, WRONG[:30])
    assert len(codes) == 30
    assert codes[:5] == [535] * 5  # counted across connections, not per connection
    assert set(codes[5:]) == {454}  # locked out: not even checked
    client = connect(door)
    code, text = client.login(ALICE, PASSWORD)
    assert code == 454, text
    assert text.startswith("454 4.7.0 Too many wrong passwords")
    assert "paused for 15 more minutes" in text
    client.close()
    # Another machine is not locked out of the account.
    client = connect(door, source="127.0.0.2")
    assert client.login(ALICE, PASSWORD)[0] == 235
    client.close()

    engine = make_engine(db_url)
    try:
        trail = AuditTrail(engine)
        locks = [e for e in trail.entries() if e.action == "login.locked_out"]
        assert [(e.actor, dict(e.details)) for e in locks] == [
            (
                ALICE,
                {"door": "smtp", "scope": "account_and_address", "remote": "127.0.0.1",
                 "minutes": 15},
            )
        ]  # fmt: skip
        dumped = repr([(e.actor, e.target, e.details) for e in trail.entries()])
        assert not any(secret in dumped for secret in (*WRONG, PASSWORD))
        assert trail.verify().ok
    finally:
        engine.dispose()


def test_a_right_password_resets_only_its_own_account(front_door: FrontDoorFactory) -> None:
    door = front_door()
    assert guess(door, BOB, WRONG[:4]) == [535] * 4
    # The guesser knows one password (their own account): logging in with it
    # does not wipe the count for anyone else's.
    client = connect(door)
    assert client.login(ALICE, PASSWORD)[0] == 235
    client.close()
    assert guess(door, BOB, WRONG[4:5]) == [535]  # the fifth in a row: locked now
    client = connect(door)
    assert client.login(BOB, PASSWORD)[0] == 454
    client.close()


def test_many_accounts_from_one_address_lock_the_address(front_door: FrontDoorFactory) -> None:
    door = front_door()
    # Password spraying: four guesses at each of five names stays under the
    # per-account limit, but 20 from one address locks every login from it.
    for n in range(5):
        assert set(guess(door, f"user{n}@example.org", WRONG[:4])) == {535}
    client = connect(door)
    assert client.login(ALICE, PASSWORD)[0] == 454
    client.close()
    client = connect(door, source="127.0.0.3")
    assert client.login(ALICE, PASSWORD)[0] == 235
    client.close()


def test_the_review_app_shares_the_count(front_door: FrontDoorFactory, tmp_path: Path) -> None:
    """Five wrong SMTP passwords for a reviewer from 127.0.0.1: the review
    app refuses the right password from that address too (its usual page),
    and still lets the reviewer in from another address."""
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")
    assert world.services.logins is not None
    door = front_door(
        logins=world.services.logins,
        smtp={"users_file": world.services.settings.smtp.users_file},
    )
    assert guess(door, REVIEWER, WRONG[:5]) == [535] * 5
    with TestClient(world.app, follow_redirects=False, client=("127.0.0.1", 50000)) as web:
        blocked = login(web, REVIEWER, WEB_PASSWORD)
        assert blocked.status_code == 429
        assert "paused until" in blocked.text
    with TestClient(world.app, follow_redirects=False, client=("127.0.0.2", 50000)) as web:
        assert login(web, REVIEWER, WEB_PASSWORD).status_code == 303
    # And the other way round: web failures count for SMTP.
    with TestClient(world.app, follow_redirects=False, client=("127.0.0.4", 50000)) as web:
        for password in WRONG[:5]:
            assert login(web, REVIEWER, password).status_code == 401
    client = connect(door, source="127.0.0.4")
    assert client.login(REVIEWER, WEB_PASSWORD)[0] == 454
    client.close()
    world.clock.advance(timedelta(minutes=16))  # the lock-out ends on the shared clock
    client = connect(door, source="127.0.0.4")
    assert client.login(REVIEWER, WEB_PASSWORD)[0] == 235
    client.close()
    world.services.engine.dispose()
