"""``smtp.processes`` above 1: a front-end process accepts on the main
process's listening sockets (``RunningServer.shared_sockets``), handed to
it at spawn, rather than binding the ports itself. Here both front doors
run in one process; the real processes are in ``tests/e2e``."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage

import pytest

from tests.support.smtp_fixtures import (
    ALICE,
    PASSWORD,
    FrontDoorFactory,
    bg_loop,
    front_door,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest


def note(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = ALICE
    msg["To"] = "partner@partner.example"
    msg["Subject"] = subject
    msg.set_content("The meeting room is booked for Thursday.\n")
    return msg


def test_a_front_door_serves_on_another_doors_sockets_after_that_one_stops(
    front_door: FrontDoorFactory,
) -> None:
    main = front_door(smtp={"processes": 2})
    beside = front_door(smtp={"processes": 2}, sockets=main.running.shared_sockets())
    assert (beside.port, beside.tls_port) == (main.port, main.tls_port)

    front_door.bg.run(main.running.stop(grace_seconds=5))
    # Only the duplicates listen now: whatever arrives is the other door's.
    with smtplib.SMTP(main.host, main.port, timeout=10) as client:
        client.starttls()
        client.login(ALICE, PASSWORD)
        client.send_message(note("Room booking"))
    tls = ssl.create_default_context(cafile=str(main.cert_file))
    with smtplib.SMTP_SSL(main.host, main.tls_port, timeout=10, context=tls) as client:
        client.login(ALICE, PASSWORD)
        client.send_message(note("Room booking, again"))
    assert main.delivered() == []
    assert len(beside.delivered()) == 2

    front_door.bg.run(beside.running.stop(grace_seconds=5))
    # The last door closed the duplicates it was given: the ports are free.
    for port in (main.port, main.tls_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((main.host, port), timeout=5).close()


def test_duplicates_are_the_callers_to_close(front_door: FrontDoorFactory) -> None:
    door = front_door()
    shared = door.running.shared_sockets()
    assert set(shared) == {"submission", "implicit-tls"}
    for name, sock in shared.items():
        assert sock.getsockname()[1] == door.running.address(name)[1]
        sock.close()
    with smtplib.SMTP(door.host, door.port, timeout=10) as client:  # still serving
        assert client.noop()[0] == 250
