"""LeanSMTP builds exactly the connection aiosmtpd's own constructor builds,
without searching the classes on every connection."""

from __future__ import annotations

import asyncio
import inspect
import smtplib
from collections.abc import Iterator
from types import MethodType
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from proxy.smtp import lean
from proxy.smtp.lean import LeanSMTP


class Handler:
    """A handler with every kind of thing aiosmtpd looks for."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        # Set on the instance, not the class: aiosmtpd's dir() sees these too.
        self.handle_NOOP = self._noop

    async def _noop(self, server: SMTP, session: Session, envelope: Envelope, arg: str) -> str:
        return "250 OK noop"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(bytes(envelope.content or b""))
        return "250 OK"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        return AuthResult(success=False)


def _check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == b"secret"
    return AuthResult(success=ok, handled=False)


def _normalised(value: object, owner: object, handler: object) -> object:
    """Attribute values, with per-instance objects replaced by what they are."""
    if isinstance(value, MethodType):
        who = "self" if value.__self__ is owner else "handler" if value.__self__ is handler else "?"
        return ("method", who, value.__func__)
    if isinstance(value, dict):
        return {k: _normalised(v, owner, handler) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_normalised(v, owner, handler) for v in value)
    if isinstance(value, asyncio.StreamReader | asyncio.AbstractEventLoop | asyncio.Future):
        return type(value)
    if inspect.isfunction(value) or callable(value):
        return ("callable", getattr(value, "__func__", value))
    return value


def _state(smtp: SMTP, handler: object) -> dict[str, object]:
    return {
        name: _normalised(value, smtp, handler)
        for name, value in vars(smtp).items()
        if name not in {"_stream_reader_wr", "_strong_reader", "_source_traceback"}
    }


class Plain(SMTP):
    pass


class Lean(LeanSMTP):
    pass


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_copied_from_this_aiosmtpd() -> None:
    assert lean.COPIED, (
        f"aiosmtpd is not {lean.AIOSMTPD_VERSION}: LeanSMTP falls back to SMTP's "
        "slow constructor; copy the new one into proxy/smtp/lean.py"
    )


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"auth_required": True, "authenticator": _check_login, "hostname": "mx.example.org"},
        {"auth_exclude_mechanism": ["LOGIN"], "command_call_limit": 5, "ident": "X"},
        {"command_call_limit": {"NOOP": 3, "*": 7}, "data_size_limit": None},
        {"enable_SMTPUTF8": True, "decode_data": True, "timeout": 9.5},
    ],
)
def test_same_state_as_aiosmtpd(loop: asyncio.AbstractEventLoop, options: dict[str, Any]) -> None:
    handler = Handler()
    plain = Plain(handler, loop=loop, **options)
    lean_smtp = Lean(handler, loop=loop, **options)
    expected, actual = _state(plain, handler), _state(lean_smtp, handler)
    assert actual == expected
    # And the things the protocol looks up per command really are there.
    assert set(actual["_auth_methods"]) >= {"CRAM-MD5"} | (  # type: ignore[arg-type]
        set() if "auth_exclude_mechanism" in options else {"LOGIN", "PLAIN"}
    )
    assert {"NOOP", "EHLO", "DATA"} <= set(actual["_handle_hooks"])  # type: ignore[arg-type]
    assert actual["_ehlo_hook_ver"] == "new"


def test_no_introspection_after_the_first_connection(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = Handler()
    Lean(handler, loop=loop)
    calls: list[str] = []
    real_getmembers, real_signature = inspect.getmembers, inspect.signature

    def counting_getmembers(*args: Any, **kwargs: Any) -> Any:
        calls.append("getmembers")
        return real_getmembers(*args, **kwargs)

    def counting_signature(*args: Any, **kwargs: Any) -> Any:
        calls.append("signature")
        return real_signature(*args, **kwargs)

    monkeypatch.setattr(inspect, "getmembers", counting_getmembers)
    monkeypatch.setattr(inspect, "signature", counting_signature)
    for _ in range(3):
        Lean(handler, loop=loop)
    assert calls == []
    Plain(handler, loop=loop)
    assert "getmembers" in calls  # the stock constructor does search: the test can see it


def test_a_lean_server_talks_smtp() -> None:
    """Real connections through a real listener: EHLO, AUTH, the instance's
    own NOOP hook and a message."""
    handler = Handler()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            lambda: Lean(
                handler,
                loop=loop,
                auth_require_tls=False,
                authenticator=_check_login,
                auth_exclude_mechanism=["CRAM-MD5"],  # the handler's is a stand-in
                hostname="lean.example.org",
            ),
            "127.0.0.1",
            0,
        )
    )
    port = server.sockets[0].getsockname()[1]
    import threading

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        for n in range(2):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                code, text = client.ehlo("client.example.org")
                assert code == 250 and b"lean.example.org" in text
                assert client.noop() == (250, b"OK noop")
                client.user, client.password = "worker", "wrong"
                with pytest.raises(smtplib.SMTPAuthenticationError):
                    client.auth("PLAIN", client.auth_plain)
                client.password = "secret"
                assert client.auth("PLAIN", client.auth_plain)[0] == 235
                client.sendmail("a@example.org", ["b@example.org"], f"Subject: {n}\r\n\r\nhi\r\n")
        assert [b"Subject: 0" in m for m in handler.received] == [True, False]
        assert len(handler.received) == 2
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


def test_tactful_connections_find_what_aiosmtpd_would() -> None:
    """Tactful's own connection class and handler: the cached names are the
    ones aiosmtpd's search finds (its own smtp_ and auth_ overrides too)."""
    from proxy.smtp.connection import TactfulSMTP
    from proxy.smtp.receive import SubmissionHandler

    handler = SubmissionHandler.__new__(SubmissionHandler)  # names only: no state needed
    names = lean._names(TactfulSMTP, handler)

    def found(obj: object, prefix: str) -> tuple[str, ...]:
        return tuple(n for n in dir(obj) if n.startswith(prefix))

    assert names.smtp_methods == found(TactfulSMTP, "smtp_")
    assert names.own_auth == found(TactfulSMTP, "auth_")
    assert names.handler_auth == found(SubmissionHandler, "auth_")
    assert names.handle_hooks == found(SubmissionHandler, "handle_")
    assert {"DATA", "MAIL", "RCPT", "AUTH", "EHLO"} <= {
        n.removeprefix("smtp_") for n in names.smtp_methods
    }
    assert {"auth_PLAIN", "auth_LOGIN"} <= set(names.handler_auth)
