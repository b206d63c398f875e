"""``smtp.processes`` above 1: the front door binds its ports so that the
front-end processes can bind them too (SO_REUSEPORT), and refuses to start
where the kernel would not spread connections over them."""

from __future__ import annotations

import smtplib
import socket
import sys

import pytest

from proxy.core.config import ConfigError
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

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's SO_REUSEPORT")


def bind_beside(port: int) -> socket.socket:
    """What a front-end process does: another listening socket on the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


@linux_only
def test_with_several_processes_another_process_can_listen_on_the_ports(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door(smtp={"processes": 2})
    for port in (door.port, door.tls_port):
        beside = bind_beside(port)
        beside.close()
    with smtplib.SMTP(door.host, door.port, timeout=10) as client:  # and it still serves
        client.starttls()
        client.login(ALICE, PASSWORD)
        assert client.noop()[0] == 250


@linux_only
def test_with_one_process_the_port_is_its_own(front_door: FrontDoorFactory) -> None:
    door = front_door()
    with pytest.raises(OSError):
        bind_beside(door.port)


def test_several_processes_are_refused_where_the_kernel_would_not_share(
    front_door: FrontDoorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(ConfigError, match=r"smtp\.processes is 2.*only on Linux.*darwin"):
        front_door(smtp={"processes": 2})
