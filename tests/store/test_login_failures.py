"""The login throttle's store, on SQLite and PostgreSQL: lock-outs, back-off,
what a success clears, and keys that hold no typed text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from proxy.core.clock import ManualClock
from proxy.core.metrics import Metrics
from proxy.store.audit import AuditTrail
from proxy.store.login_failure_model import LoginFailureRow
from proxy.store.login_failures import LoginFailures, LoginLimits, client_key

START = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
ACCOUNT = "sam@example.org"



def throttle(engine: Engine, clock: ManualClock) -> LoginFailures:
    return LoginFailures(
        engine, LoginLimits(5, timedelta(minutes=15)), clock=clock,
        account_exists=lambda name: name == ACCOUNT,
    )  # fmt: skip


def fail(
    logins: LoginFailures, times: int, account: str = ACCOUNT, address: str = "10.0.0.9"
) -> None:
    for _ in range(times):
        logins.failed(account, address, door="review")


def test_each_lock_out_lasts_twice_as_long_until_a_success(engine: Engine) -> None:
    clock = ManualClock(START)
    logins = throttle(engine, clock)
    fail(logins, 4)
    assert logins.blocked_until(ACCOUNT, "10.0.0.9") is None
    fail(logins, 1)
    assert logins.blocked_until(ACCOUNT, "10.0.0.9") == START + timedelta(minutes=15)
    assert logins.blocked_until(ACCOUNT, "10.0.0.8") is None  # another machine
    assert logins.blocked_until(ACCOUNT.upper(), "::ffff:10.0.0.9") is not None
    clock.advance(timedelta(minutes=16))
    assert logins.blocked_until(ACCOUNT, "10.0.0.9") is None
    fail(logins, 5)
    assert logins.blocked_until(ACCOUNT, "10.0.0.9") == clock() + timedelta(minutes=30)
    clock.advance(timedelta(minutes=31))
    logins.succeeded(ACCOUNT, "10.0.0.9")
    fail(logins, 5)
    assert logins.blocked_until(ACCOUNT, "10.0.0.9") == clock() + timedelta(minutes=15)
    locks = [e for e in AuditTrail(engine).entries() if e.action == "login.locked_out"]
    assert [e.details["minutes"] for e in locks] == [15, 30, 15]
    assert {e.actor for e in locks} == {ACCOUNT}


def test_an_unknown_name_is_not_stored_or_recorded(engine: Engine) -> None:
    logins = throttle(engine, ManualClock(START))
    typed = "my-Secret-passw0rd"  # typed into the name field by mistake
    fail(logins, 5, account=typed)
    with engine.connect() as connection:
        keys = connection.execute(select(LoginFailureRow.key)).scalars().all()
    assert keys and all(len(k) == 64 and typed.lower() not in k for k in keys)
    entries = AuditTrail(engine).entries()
    assert [e.actor for e in entries] == ["unknown-user"]
    assert typed.lower() not in repr([(e.details, e.target) for e in entries])


def test_client_key() -> None:
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    assert client_key("testclient") == "testclient"


def test_logins_and_lock_outs_are_counted_for_metrics_without_names(engine: Engine) -> None:
    metrics = Metrics()
    logins = LoginFailures(
        engine,
        LoginLimits(5, timedelta(minutes=15)),
        clock=ManualClock(START),
        account_exists=lambda name: name == ACCOUNT,
        metrics=metrics,
    )
    fail(logins, 5)
    logins.succeeded(ACCOUNT, "10.0.0.8", door="smtp")
    text = metrics.exposition().decode()
    assert 'tactful_logins_total{door="review",result="failure"} 5.0' in text
    assert 'tactful_logins_total{door="smtp",result="success"} 1.0' in text
    assert 'tactful_lockouts_total{door="review",scope="pair"} 1.0' in text
    assert ACCOUNT not in text and "10.0.0" not in text
