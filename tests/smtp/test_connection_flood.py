"""No lock-out by connection flood: idle connections that never log in
cannot use up ``smtp.max_connections`` and keep the workers out.

Real front door (``serve()``), raw sockets bound to several loopback
addresses (127.0.0.0/8 is all loopback), a real sink upstream.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from proxy.core.config import ConfigError, settings_from_mapping
from tests.support.smtp_fixtures import (
    ALICE,
    FrontDoor,
    FrontDoorFactory,
    RawClient,
    bg_loop,
    front_door,
    session,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

RECIPIENT = "caseworker@partner.example"


@contextmanager
def idle(door: FrontDoor, count: int, source: str) -> Iterator[list[tuple[int, str]]]:
    """``count`` connections from ``source`` that never log in; yields each
    greeting (code, text) and holds the connections open until the end."""
    clients = [RawClient(door.host, door.port, source=source) for _ in range(count)]
    try:
        yield [client.reply() for client in clients]
    finally:
        for client in clients:
            client.close()


def send_as_worker(door: FrontDoor, source: str) -> tuple[int, str]:
    client = session(door, source=source)
    try:
        assert client.command(f"MAIL FROM:<{ALICE}>")[0] == 250
        assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
        assert client.command("DATA")[0] == 354
        client.send(f"From: {ALICE}\r\nSubject: still here\r\n\r\nHello\r\n.\r\n".encode())
        return client.reply()
    finally:
        client.close()


def test_110_idle_connections_from_one_address_do_not_lock_the_workers_out(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()  # shipped limits: 100 connections, 10 per address
    assert door.settings.smtp.max_connections == 100
    assert door.settings.smtp.max_connections_per_client == 10
    with idle(door, 110, "127.0.0.1") as greetings:
        assert [code for code, _ in greetings[:10]] == [220] * 10
        refused = greetings[10:]
        assert {code for code, _ in refused} == {421}
        assert all(text.startswith("421 4.7.0 ") for _, text in refused)
        assert "Too many connections from your address (at most 10 at once)" in refused[0][1]
        # A worker on another machine still connects, logs in and sends.
        code, text = send_as_worker(door, "127.0.0.2")
        assert code == 250, text
    assert len(door.delivered()) == 1


def test_the_reserve_lets_a_worker_in_when_many_addresses_fill_the_rest(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(
        smtp={"max_connections": 20, "max_connections_per_client": 4, "reserved_connections": 4}
    )
    # Four addresses, four idle connections each: 16, all but the reserve.
    with (
        idle(door, 4, "127.0.1.1") as a,
        idle(door, 4, "127.0.1.2") as b,
        idle(door, 4, "127.0.1.3") as c,
        idle(door, 4, "127.0.1.4") as d,
    ):
        assert {code for code, _ in (*a, *b, *c, *d)} == {220}
        # A fifth address gets one reserved slot, not a second one: it has
        # a connection still waiting to log in.
        with idle(door, 2, "127.0.1.5") as e:
            assert [code for code, _ in e] == [220, 421]
            assert e[1][1].startswith("421 4.7.0 ")
            code, text = send_as_worker(door, "127.0.0.2")
            assert code == 250, text
    assert len(door.delivered()) == 1


def test_a_connection_that_does_not_log_in_is_closed(front_door: FrontDoorFactory) -> None:
    door = front_door(smtp={"pre_auth_timeout_seconds": 0.5})
    client = RawClient(door.host, door.port)
    assert client.reply()[0] == 220
    assert client.command("EHLO client.example")[0] == 250
    code, text = client.reply()  # nothing more sent: the server gives up
    assert code == 421 and text.startswith("421 4.7.0 ")
    assert "No login within 0.5 seconds" in text
    assert client.closed_by_server()
    client.close()
    # A worker who logged in is not cut off by the pre-login deadline.
    worker = session(door)
    time.sleep(1)
    assert worker.command("NOOP")[0] == 250
    worker.close()


def test_the_reserve_must_leave_room() -> None:
    with pytest.raises(ConfigError, match="reserved_connections must be smaller"):
        settings_from_mapping({"smtp": {"max_connections": 5, "reserved_connections": 5}})
    defaults = settings_from_mapping({}).smtp
    assert defaults.reserve == 10
    assert defaults.pre_auth_timeout_seconds == 30
