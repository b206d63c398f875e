"""End to end: the shipped ``tactful serve`` under the two login attacks of
the adversarial suite, with real SMTP clients on real sockets.

- Guessing passwords over many connections: the count lives in the
  database, so new connections get no fresh tries, and the lock-out is on
  the audit trail without the password.
- Flooding the front door with idle connections: one address cannot use up
  every slot, so a worker on another machine still sends.

Each test starts its own server: a lock-out must not leak into another test.
"""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.store.audit import AuditTrail
from proxy.store.db import make_engine
from tests.support.proxy_fixtures import (
    WORKER,
    WORKER_PASSWORD,
    TactfulServer,
    example,
)
from tests.support.upstream_fixtures import Sink, run_sink

COLLEAGUE = "sam@example.org"


@pytest.fixture
def upstream() -> Iterator[Sink]:
    with run_sink() as sink:
        yield sink


@pytest.fixture
def server(tmp_path: Path, upstream: Sink) -> Iterator[TactfulServer]:
    instance = TactfulServer(
        home=tmp_path,
        upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
    )
    instance.prepare()
    instance.start()
    yield instance
    instance.stop()
    assert "Traceback" not in instance.log_text()


def login_reply(server: TactfulServer, password: str) -> int:
    """The AUTH reply code for one login on a new connection (235 = in)."""
    with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
        try:
            client.login(WORKER, password)
        except smtplib.SMTPAuthenticationError as refused:
            return refused.smtp_code
        return 235


def test_thirty_wrong_passwords_over_ten_connections_lock_the_account(
    server: TactfulServer,
) -> None:
    wrong = "not-the-password"
    codes = []
    for _ in range(10):
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as client:
            for _ in range(3):
                try:
                    client.login(WORKER, wrong)
                except smtplib.SMTPAuthenticationError as refused:
                    codes.append(refused.smtp_code)
                except smtplib.SMTPServerDisconnected:
                    break
    # 535 wrong password, 421 this connection is closed, 454 locked out.
    assert codes and all(code in (535, 421, 454) for code in codes), codes
    assert 454 in codes  # the lock-out came before the thirtieth guess
    # The right password, on a fresh connection, is refused while locked out.
    assert login_reply(server, WORKER_PASSWORD) == 454
    engine = make_engine(server.db_url)
    try:
        locked = [e for e in AuditTrail(engine).entries() if e.action == "login.locked_out"]
    finally:
        engine.dispose()
    assert locked
    assert not any(wrong in repr(e.details) or WORKER_PASSWORD in repr(e.details) for e in locked)


def test_a_flood_of_idle_connections_does_not_lock_a_worker_out(
    server: TactfulServer, upstream: Sink
) -> None:
    flood: list[socket.socket] = []
    try:
        for _ in range(110):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30,
                                            source_address=("127.0.0.1", 0))  # fmt: skip
            flood.append(sock)
        # The worker's machine is another address (all of 127/8 is loopback).
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60,
                          source_address=("127.0.0.2", 0)) as client:  # fmt: skip
            client.login(WORKER, WORKER_PASSWORD)
            refused = client.sendmail(WORKER, [COLLEAGUE], example("01-pass-internal.eml"))
        assert refused == {}
    finally:
        for sock in flood:
            sock.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not upstream.received:
        time.sleep(0.1)
    assert [r.recipients for r in upstream.received] == [[COLLEAGUE]]
