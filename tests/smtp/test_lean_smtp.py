"""LeanSMTP builds exactly the connection aiosmtpd's own constructor builds,
while its search walks only the names it keeps."""

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
from proxy.smtp.lean import SEARCHED_PREFIXES, LeanSMTP, ProtocolNames


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


class LeanHandler(Handler, ProtocolNames):
    """The same hooks, searched the narrow way."""


class OldEhloHandler(Handler):
    """aiosmtpd's deprecated 4-argument EHLO hook: it must still be told apart."""

    async def handle_EHLO(  # type: ignore[override]
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        session.host_name = hostname
        return "250 old"


class LeanOldEhloHandler(OldEhloHandler, ProtocolNames):
    pass


def _check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == b"secret"
    return AuthResult(success=ok, handled=False)


def _normalised(value: object, owner: object, handler: object) -> object:
    """Attribute values, with per-instance objects replaced by what they are."""
    if value is handler:
        return "handler"
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
@pytest.mark.parametrize("narrow_handler", [True, False])
def test_same_state_as_aiosmtpd(
    loop: asyncio.AbstractEventLoop, options: dict[str, Any], narrow_handler: bool
) -> None:
    handler = Handler()
    lean_handler = LeanHandler() if narrow_handler else Handler()
    plain = Plain(handler, loop=loop, **options)
    lean_smtp = Lean(lean_handler, loop=loop, **options)
    expected, actual = _state(plain, handler), _state(lean_smtp, lean_handler)
    assert actual == expected
    # And the things the protocol looks up per command really are there.
    assert set(actual["_auth_methods"]) >= {"CRAM-MD5"} | (  # type: ignore[arg-type]
        set() if "auth_exclude_mechanism" in options else {"LOGIN", "PLAIN"}
    )
    assert {"NOOP", "EHLO", "DATA"} <= set(actual["_handle_hooks"])  # type: ignore[arg-type]
    assert actual["_ehlo_hook_ver"] == "new"


def test_old_ehlo_hook_told_apart(loop: asyncio.AbstractEventLoop) -> None:
    plain = Plain(OldEhloHandler(), loop=loop)
    lean_smtp = Lean(LeanOldEhloHandler(), loop=loop)
    assert plain._ehlo_hook_ver == lean_smtp._ehlo_hook_ver == "old"
    assert Lean(LeanHandler(), loop=loop)._ehlo_hook_ver == "new"


def test_the_search_walks_only_what_it_keeps(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: dict[str, list[str]] = {"plain": [], "lean": []}
    side = "plain"
    real_getmembers = inspect.getmembers

    def recording_getmembers(*args: Any, **kwargs: Any) -> Any:
        members = real_getmembers(*args, **kwargs)
        walked[side].extend(name for name, _ in members)
        return members

    monkeypatch.setattr(inspect, "getmembers", recording_getmembers)
    Plain(Handler(), loop=loop)
    side = "lean"
    Lean(LeanHandler(), loop=loop)
    assert walked["lean"] and all(n.startswith(SEARCHED_PREFIXES) for n in walked["lean"])
    # The stock walk goes through everything: the test can see the difference.
    assert not all(n.startswith(SEARCHED_PREFIXES) for n in walked["plain"])
    assert sorted(n for n in walked["plain"] if n.startswith(SEARCHED_PREFIXES)) == sorted(
        walked["lean"]
    )


def test_a_lean_server_talks_smtp() -> None:
    """Real connections through a real listener: EHLO, AUTH, the instance's
    own NOOP hook and a message."""
    handler = LeanHandler()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(
            lambda: Lean(
                handler,  # LeanHandler: its instance NOOP hook must be found too
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
    """Tactful's own connection class and handler: the narrowed listing has
    every searched name Python's default listing has (its own smtp_ and
    auth_ overrides too), and nothing else."""
    from proxy.smtp.connection import TactfulSMTP
    from proxy.smtp.receive import SubmissionHandler

    for obj in (TactfulSMTP.__new__(TactfulSMTP), SubmissionHandler.__new__(SubmissionHandler)):
        default = {n for n in object.__dir__(obj) if n.startswith(SEARCHED_PREFIXES)}
        assert set(dir(obj)) == default
    connection_names = set(lean.protocol_names(TactfulSMTP))
    assert {"smtp_DATA", "smtp_MAIL", "smtp_RCPT", "smtp_AUTH", "smtp_EHLO"} <= connection_names
    assert {"auth_PLAIN", "auth_LOGIN", "handle_EHLO", "handle_DATA"} <= set(
        lean.protocol_names(SubmissionHandler)
    )
    assert getattr(SubmissionHandler.handle_EHLO, "__signature__", None) == inspect.signature(
        SubmissionHandler.handle_EHLO
    )
