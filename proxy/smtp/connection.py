"""One SMTP connection: aiosmtpd's ``SMTP`` made strict.

aiosmtpd does the protocol (EHLO, STARTTLS, AUTH, MAIL, RCPT). Two of its
loops are replaced because they are where mail systems get smuggled into:

* the command loop (``_handle_client``) accepts a bare LF as a line end and
  processes commands a client sent without waiting for replies;
* the DATA loop keeps bare CR/LF inside lines and passes them on, where a
  later server may see a second message.

The replacements refuse instead of normalising (see :mod:`proxy.smtp.hygiene`).
PIPELINING is not offered, so any byte already waiting behind a command (or
behind the end of a message) means the client did not wait for our reply:
it is refused and the connection closed. That also covers STARTTLS command
injection (CVE-2011-0411): plaintext sent along with STARTTLS is never run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import TLSSetupException, syntax

from proxy.core.config import Smtp
from proxy.core.submission import TEMPORARY_FAILURE, SmtpReply
from proxy.smtp.gate import Admission, ConnectionGate
from proxy.smtp.hygiene import (
    CRLF,
    END_OF_DATA,
    SYNC_ERROR,
    LineProblem,
    MessageCollector,
    command_problem,
    command_reply,
    data_reply,
)
from proxy.smtp.lean import LeanSMTP
from proxy.smtp.receive import SubmissionHandler
from proxy.store.login_failures import client_key

log = logging.getLogger(__name__)

BOGUS_COMMAND_LIMIT = 5
MAX_AUTH_FAILURES = 3
# A client still sending after this much DATA is not going to stop: it is
# cut off instead of being read to the end.
DATA_HARD_CAP_SLACK = 1024 * 1024
TIMER_RESET_INTERVAL = 1.0  # seconds; DATA lines re-arm the idle timer at most this often


def is_loopback(peer: Any) -> bool:
    """``peer`` is a transport's ``peername`` (a tuple, or None for odd sockets)."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _host(peer: Any) -> str:
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return "unknown"


@dataclass(frozen=True, slots=True)
class _Line:
    data: bytes | None  # None: longer than the limit, skipped
    length: int


class TactfulSMTP(LeanSMTP):
    """One SMTP connection."""

    def __init__(
        self,
        handler: SubmissionHandler,
        *,
        config: Smtp,
        gate: ConnectionGate,
        tls_context: ssl.SSLContext | None,
        implicit_tls: bool,
        allow_plaintext_auth_on_loopback: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        # Sizes aiosmtpd's StreamReader, so it must be set before __init__:
        # the longest line plus dot-stuffing and CRLF.
        self.line_length_limit = config.max_line_length + 3
        super().__init__(
            handler,
            data_size_limit=None,  # SIZE is advertised and enforced by the handler
            enable_SMTPUTF8=handler.policy.upstream_offers("SMTPUTF8"),
            decode_data=False,
            hostname=config.hostname,
            ident="ESMTP Tactful",
            tls_context=None if implicit_tls else tls_context,
            timeout=config.idle_timeout_seconds,
            auth_required=True,
            auth_require_tls=True,
            loop=loop,
        )
        self._config = config
        self._gate = gate
        self._implicit_tls = implicit_tls
        self._allow_loopback = allow_plaintext_auth_on_loopback
        self._admission = Admission.FULL
        self._pre_auth_timer: asyncio.TimerHandle | None = None
        self._bogus_left = BOGUS_COMMAND_LIMIT
        self._auth_failures = 0
        self._last_timer_reset = 0.0

    # -- connection life cycle ------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        upgrading = self._original_transport is not None
        super().connection_made(transport)
        if upgrading:
            return
        encrypted = transport.get_extra_info("ssl_object") is not None
        peer = transport.get_extra_info("peername")
        exempt = self._allow_loopback and is_loopback(peer)
        trusted = self.event_handler.policy.vouched_for(peer)
        # A trusted network (or the gateway's) never logs in: not counted per address, no
        # pre-login deadline (see proxy.smtp.gate).
        client = None if trusted else client_key(_host(peer))
        self._admission = self._gate.admit(self, client)
        if self._admission is Admission.ADMITTED and not trusted:
            self._pre_auth_timer = self.loop.call_later(
                self._config.pre_auth_timeout_seconds, self._pre_auth_expired
            )
        # smtp.trusted_networks and smtp.gateway.networks: aiosmtpd's own
        # 530 check is lifted; the handler still decides who may send and
        # whether the gateway showed its certificate (proxy.smtp.receive).
        self._auth_required = not trusted
        # aiosmtpd only knows STARTTLS as "encrypted"; implicit TLS and the
        # loopback exemption are decided here, once per connection.
        self._auth_require_tls = not (encrypted or exempt)

    def connection_lost(self, error: Exception | None) -> None:
        self._cancel_pre_auth_timer()
        self._gate.release(self)
        super().connection_lost(error)

    def _cancel_pre_auth_timer(self) -> None:
        if self._pre_auth_timer is not None:
            self._pre_auth_timer.cancel()
            self._pre_auth_timer = None

    def _pre_auth_expired(self) -> None:
        """smtp.pre_auth_timeout_seconds passed without a login."""
        self._pre_auth_timer = None
        seconds = f"{self._config.pre_auth_timeout_seconds:g}"
        self.say_goodbye(
            SmtpReply(
                421,
                "4.7.0",
                (f"{self.hostname} No login within {seconds} seconds, closing connection",),
            )
        )

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._write_now(
                SmtpReply(421, "4.4.2", (f"{self.hostname} No activity, closing connection",))
            )
        super()._timeout_cb()

    @property
    def handler_task(self) -> asyncio.Task[None] | None:
        return self._handler_coroutine

    def say_goodbye(self, reply: SmtpReply) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._write_now(reply)
            self.transport.close()

    def _write_now(self, reply: SmtpReply) -> None:
        assert self.transport is not None
        self.transport.write(str(reply).encode("ascii") + CRLF)  # type: ignore[attr-defined]

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _touch(self) -> None:
        now = self.loop.time()
        if now - self._last_timer_reset >= TIMER_RESET_INTERVAL:
            self._last_timer_reset = now
            self._reset_timeout()

    def _pause_timeout(self) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()

    def _pending_input(self) -> int:
        """Bytes the client sent that no command has read yet. asyncio's
        StreamReader has no public peek; aiosmtpd itself uses ``_buffer``."""
        buffer: bytearray = self._reader._buffer  # type: ignore[attr-defined]
        return len(buffer)

    def _buffered_lines(self) -> int:
        """How many bytes of whole message lines the client already sent,
        stopping before the end-of-data line: what can be taken as one block
        without waiting. The reader stands at the start of a line. (The
        end-of-data line itself is always read on its own, as a line.)"""
        buffer: bytearray = self._reader._buffer  # type: ignore[attr-defined]
        if buffer.startswith(END_OF_DATA):
            return 0
        end = buffer.find(b"\r\n" + END_OF_DATA)
        if end >= 0:
            return end + 2
        return buffer.rfind(CRLF) + 2  # 0 if no line is whole yet

    async def _reply(self, reply: SmtpReply) -> None:
        await self.push(str(reply))

    # -- reading lines --------------------------------------------------

    async def _read_line(self, separator: bytes) -> _Line:
        try:
            data = await self._reader.readuntil(separator)
        except asyncio.LimitOverrunError as exc:
            return _Line(None, await self._skip_line(exc.consumed, separator))
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("client closed the connection mid-line") from exc
        return _Line(data, len(data))

    async def _skip_line(self, consumed: int, separator: bytes) -> int:
        skipped = len(await self._reader.read(consumed))
        while True:
            try:
                return skipped + len(await self._reader.readuntil(separator))
            except asyncio.LimitOverrunError as exc:
                skipped += len(await self._reader.read(exc.consumed))
                self._touch()
            except asyncio.IncompleteReadError as exc:
                raise ConnectionResetError("client closed the connection mid-line") from exc

    # -- the command loop -----------------------------------------------

    async def _handle_client(self) -> None:
        assert self.session is not None
        if self._admission is Admission.FULL:
            await self._reply(
                SmtpReply(421, "4.7.0", (f"{self.hostname} Too many connections, try again later",))
            )
            self._close()
            return
        if self._admission is Admission.CLIENT_FULL:
            limit = self._config.max_connections_per_client
            await self._reply(
                SmtpReply(
                    421,
                    "4.7.0",
                    (
                        f"{self.hostname} Too many connections from your address (at most "
                        f"{limit} at once). Close other mail programs or try again later",
                    ),
                )
            )
            self._close()
            return
        await self.push(f"220 {self.hostname} {self.__ident__}")
        while self.transport is not None:
            try:
                if not await self._next_command():
                    return
            except asyncio.CancelledError:
                self._writer.close()
                raise
            except (ConnectionResetError, BrokenPipeError):
                self._writer.close()
                return
            except TLSSetupException:
                log.info("TLS handshake with a client failed")
                self._close()
                return
            except Exception as exc:
                # The stream may be out of step with the client (e.g. inside
                # DATA), so reading on could run message text as commands.
                log.error("SMTP session error: %s", type(exc).__name__)
                await self._reply(TEMPORARY_FAILURE)
                self._close()
                return

    async def _next_command(self) -> bool:
        """Read and run one command; False when the connection must end."""
        line = await self._read_line(b"\n")
        if line.data is None:
            await self._reply(command_reply(LineProblem.LINE_TOO_LONG))
            return True
        problem = command_problem(line.data)
        if problem is not None:
            await self._reply(command_reply(problem))
            self._close()
            return False
        if self._pending_input():
            await self._reply(SYNC_ERROR)
            self._close()
            return False
        command_bytes, _, arg_bytes = line.data[:-2].partition(b" ")
        try:
            command = command_bytes.upper().decode("ascii")
            arg = self._decode_argument(arg_bytes.strip())
        except UnicodeDecodeError:
            await self._reply(SmtpReply(500, "5.5.2", ("Only ASCII is accepted here",)))
            return True
        if not command:
            await self._reply(SmtpReply(500, "5.5.2", ("Syntax error",)))
            return True
        if not self._tls_handshake_okay and command != "QUIT":
            await self._reply(SmtpReply(554, "5.7.0", ("Command refused: TLS was not set up",)))
            return True
        method = self._smtp_methods.get(command)
        if method is None:
            self._bogus_left -= 1
            if self._bogus_left < 1:
                await self._reply(SmtpReply(502, "5.5.1", ("Too many unknown commands",)))
                self._close()
                return False
            await self._reply(SmtpReply(500, "5.5.1", ("Command not recognized",)))
            return True
        self._reset_timeout()
        await method(arg)
        return True

    def _decode_argument(self, arg_bytes: bytes) -> str | None:
        if not arg_bytes:
            return None
        if self.enable_SMTPUTF8:
            return arg_bytes.decode("utf-8", errors="surrogateescape")
        return arg_bytes.decode("ascii")

    # -- commands that need more than aiosmtpd does ---------------------

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls_protocol is not None or self._implicit_tls:
            await self._reply(SmtpReply(503, "5.5.1", ("TLS is already active",)))
            return
        await super().smtp_STARTTLS(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        await super().smtp_AUTH(arg)
        assert self.session is not None
        if self.session.authenticated:
            self._cancel_pre_auth_timer()
            self._gate.logged_in(self)
            return
        self._auth_failures += 1
        if self._auth_failures >= MAX_AUTH_FAILURES:
            await self._reply(
                SmtpReply(421, "4.7.0", ("Too many failed login attempts, closing connection",))
            )
            self._close()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self._reply(SmtpReply(503, "5.5.1", ("Need RCPT command first",)))
            return
        if arg:
            await self._reply(SmtpReply(501, "5.5.4", ("Syntax: DATA",)))
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        collector = MessageCollector(self._config.max_message_size, self._config.max_line_length)
        if not await self._receive_message(collector):
            return
        if self._pending_input():
            self._set_post_data_state()
            await self._reply(SYNC_ERROR)
            self._close()
            return
        if collector.problem is not None:
            self._set_post_data_state()
            await self._reply(self._data_reply(collector.problem))
            return
        content = collector.content()
        self.envelope.content = content
        self.envelope.original_content = content
        self._pause_timeout()  # the processor has its own time budget
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            self._reset_timeout()
        self._set_post_data_state()
        await self.push(status if isinstance(status, str) else "250 2.0.0 OK")

    async def _receive_message(self, collector: MessageCollector) -> bool:
        """Read to the end-of-data line; False if the client was cut off."""
        hard_cap = self._config.max_message_size * 2 + DATA_HARD_CAP_SLACK
        while True:
            line = await self._read_line(CRLF)
            self._touch()
            if line.data is None:
                collector.overlong(line.length)
            elif line.data == END_OF_DATA:
                return True
            else:
                collector.feed(line.data)
                whole = self._buffered_lines()
                if whole:
                    block = await self._reader.readexactly(whole)
                    collector.feed_lines(block, self.line_length_limit)
            if collector.received > hard_cap:
                await self._reply(self._data_reply(LineProblem.TOO_BIG))
                self._close()
                return False

    def _data_reply(self, problem: LineProblem) -> SmtpReply:
        return data_reply(
            problem,
            max_size=self._config.max_message_size,
            max_line_length=self._config.max_line_length,
        )
