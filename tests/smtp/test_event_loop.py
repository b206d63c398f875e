"""The front door on uvloop (the ``fast`` extra) behaves as on asyncio's own
loop, STARTTLS included (aiosmtpd swaps the transport's protocol by hand),
and the loop choice falls back or fails clearly."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from proxy.app import eventloop
from tests.support.smtp_fixtures import (
    ALICE,
    PASSWORD,
    BackgroundLoop,
    FrontDoor,
    FrontDoorFactory,
    front_door,
    tls_files,
    users_file,
)

__all__ = ["front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

uvloop = pytest.importorskip("uvloop", reason="uvloop (the 'fast' extra) is not installed")

RECIPIENT = "caseworker@partner.example"


@pytest.fixture(scope="module")
def bg_loop() -> Iterator[BackgroundLoop]:
    bg = BackgroundLoop(uvloop.new_event_loop)
    yield bg
    bg.close()


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = ALICE
    msg["To"] = RECIPIENT
    msg["Subject"] = subject
    msg.set_content("Hello,\n\nSee you on Tuesday.\n.\n..leading dots survive\n")
    return msg


def _context(door: FrontDoor) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(door.cert_file))


def test_the_front_door_runs_on_uvloop(bg_loop: BackgroundLoop) -> None:
    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert bg_loop.run(loop_type()) is uvloop.Loop


def test_starttls_auth_and_delivery_on_uvloop(front_door: FrontDoorFactory) -> None:
    door = front_door()
    with smtplib.SMTP(door.host, door.port, timeout=20) as client:
        client.ehlo("client.example")
        client.starttls(context=_context(door))
        client.ehlo("client.example")
        client.login(ALICE, PASSWORD)
        assert client.send_message(_message("starttls"), ALICE, [RECIPIENT]) == {}
    with smtplib.SMTP_SSL(door.host, door.tls_port, timeout=20, context=_context(door)) as client:
        client.login(ALICE, PASSWORD)
        assert client.send_message(_message("implicit"), ALICE, [RECIPIENT]) == {}
    delivered = door.delivered()
    assert [b"Subject: starttls" in d.content for d in delivered] == [True, False]
    assert all(b"\r\n.\r\n..leading dots survive\r\n" in d.content for d in delivered)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")],
)
def test_loop_choice(choice: eventloop.EventLoopChoice, expected: str) -> None:
    name, factory = eventloop.loop_factory(choice)
    assert name == expected

    async def running() -> str:
        return type(asyncio.get_running_loop()).__module__

    module = eventloop.run(running(), choice)
    assert module.startswith("uvloop" if expected == "uvloop" else "asyncio")
    loop = factory()
    loop.close()


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert eventloop.loop_factory("auto")[0] == "asyncio"
    with pytest.raises(eventloop.EventLoopUnavailableError, match="fast"):
        eventloop.loop_factory("uvloop")


def test_serve_refuses_an_unknown_loop_with_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "serve", "--event-loop", "twisted"],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert b"--event-loop" in done.stderr and b"asyncio" in done.stderr
