"""Delivering accepted mail to the agency's real mail server.

The front door must never say 250 for mail that is not safely upstream, and
must never invent a permanent failure for a problem that is only ours or only
temporary. So every delivery ends in a :class:`DeliveryResult` that carries
the upstream's own reply (code, enhanced code, text) when there was one, and
``451 4.4.1`` when the upstream could not be reached or the conversation broke
before it confirmed the message: the worker's client keeps the message and
retries, nothing is lost, nothing bounces.

Security note: aiosmtplib is locked at 5.x. Its 5.x line rejects CR, LF, NUL
and the other C0 controls in command arguments
(``protocol.COMMAND_INJECTION_REGEX``) and validates every address before the
envelope starts (``email.ADDRESS_INJECTION_REGEX``), which closes the SMTP
command-injection advisory affecting earlier releases. We still validate
addresses ourselves so a bad one becomes a clear reply, not a ``ValueError``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import aiosmtplib

from proxy.core.config import ConfigError
from proxy.core.submission import SmtpReply

log = logging.getLogger(__name__)

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)")

UNREACHABLE_TEXT = "The agency mail server could not be reached; the message will be retried"
LOST_TEXT = (
    "The connection to the agency mail server broke before it confirmed the message; "
    "it will be retried"
)
SETUP_TEXT = "Tactful could not open a session with the agency mail server; it will be retried"


class UpstreamConfigError(ConfigError, ValueError):
    """``upstream`` settings that cannot work; the text names the key."""


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What the upstream said about one recipient."""

    code: int
    enhanced: str
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome of one delivery, faithful to the upstream's reply.

    ``accepted`` is true only when the upstream took the message for at least
    one recipient; ``per_recipient`` then says which (refused ones keep their
    own code). ``code``/``enhanced``/``text`` are the reply to pass back to
    the sending client.
    """

    accepted: bool
    code: int
    enhanced: str
    text: str
    per_recipient: dict[str, RecipientResult] = field(default_factory=dict)

    @property
    def refused(self) -> dict[str, RecipientResult]:
        return {r: res for r, res in self.per_recipient.items() if not res.accepted}

    @property
    def partial(self) -> bool:
        """Accepted for some recipients but refused for others."""
        return self.accepted and bool(self.refused)

    def to_reply(self) -> SmtpReply:
        lines = tuple(line for line in self.text.splitlines() if line) or ("",)
        return SmtpReply(self.code, self.enhanced, lines)


class Upstream(Protocol):
    """Where accepted mail goes next."""

    async def deliver(
        self, sender: str, recipients: Sequence[str], data: bytes
    ) -> DeliveryResult: ...


def temporary_failure(text: str, recipients: Sequence[str] = ()) -> DeliveryResult:
    """The reply for "not delivered, try again": never a 250, never a 5xx."""
    per = {r: RecipientResult(451, "4.4.1", text) for r in recipients}
    return DeliveryResult(False, 451, "4.4.1", text, per)


def split_enhanced(code: int, message: str) -> tuple[str, str]:
    """The enhanced status code and the remaining text of an SMTP reply.

    Each line of a multi-line reply repeats the enhanced code; it is removed
    from every line so :meth:`DeliveryResult.to_reply` can put it back once.
    A server that sends none gets the generic code for its class.
    """
    klass = str(code)[0]
    enhanced = ""
    lines = []
    for line in message.splitlines() or [""]:
        match = _ENHANCED.match(line)
        # An enhanced code of another class than the reply is not one.
        if match is not None and match.group(1)[0] == klass:
            enhanced = enhanced or match.group(1)
            line = line[match.end() :]
        lines.append(line)
    return enhanced or f"{klass}.0.0", "\n".join(lines)


def _recipient_result(code: int, message: str) -> RecipientResult:
    enhanced, text = split_enhanced(code, message)
    return RecipientResult(code, enhanced, text)


def _needs_smtputf8(addresses: Sequence[str]) -> bool:
    return not all(a.isascii() for a in addresses)


@dataclass(frozen=True, slots=True)
class _Connection:
    hostname: str
    port: int
    starttls: Literal["auto", "require", "off"]
    implicit_tls: bool
    verify_tls: bool
    timeout: float
    ca_file: str | None


class SmtpUpstream:
    """An SMTP (or SMTPS) server; by default one connection per delivery.

    A fresh connection per message keeps failure handling simple and exact:
    nothing from an earlier transaction can leak into this one's reply.
    ``tactful serve`` keeps ``upstream.idle_connections`` (4 unless set)
    open instead, because setting up a connection costs more of the front
    door's CPU than the delivery itself (measured: 1.15-1.2x msg/s).

    With ``idle_connections`` > 0, up to that many connections stay open
    after a delivery the upstream accepted, and the next delivery on the same
    event loop takes one, saving the connection, greeting, EHLO, TLS and login.
    Each is reset (RSET) before it is used again, so no state carries over;
    one the upstream closed or that idled longer than ``idle_seconds`` is
    dropped and a fresh connection made, so a server that does not keep
    connections open gets exactly the old behaviour.
    """

    def __init__(
        self,
        hostname: str,
        port: int,
        *,
        starttls: Literal["auto", "require", "off"] = "auto",
        implicit_tls: bool = False,
        verify_tls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        ca_file: str | None = None,
        local_hostname: str | None = None,
        idle_connections: int = 0,
        idle_seconds: float = 30.0,
    ) -> None:
        if implicit_tls and starttls == "require":
            raise UpstreamConfigError(
                "upstream.implicit_tls and upstream.starttls: require cannot both be set "
                "(implicit TLS is already encrypted; set starttls: off)"
            )
        self._conn = _Connection(
            hostname, port, starttls, implicit_tls, verify_tls, timeout, ca_file
        )
        self._username = username
        self._password = password
        self._local_hostname = local_hostname
        self._max_idle = idle_connections
        self._idle_seconds = idle_seconds
        # (client, the loop it belongs to, when it went idle by that loop's clock)
        self._idle: list[tuple[aiosmtplib.SMTP, asyncio.AbstractEventLoop, float]] = []

    def __repr__(self) -> str:
        # Never the password.
        return f"SmtpUpstream({self._conn.hostname!r}, {self._conn.port})"

    def _client(self) -> aiosmtplib.SMTP:
        c = self._conn
        start_tls: bool | None
        if c.implicit_tls or c.starttls == "off":
            start_tls = False
        elif c.starttls == "require":
            start_tls = True
        else:
            start_tls = None  # aiosmtplib: upgrade if the server offers it
        tls_context: ssl.SSLContext | None = None
        if c.ca_file is not None and c.verify_tls:
            tls_context = ssl.create_default_context(cafile=c.ca_file)
        return aiosmtplib.SMTP(
            hostname=c.hostname,
            port=c.port,
            use_tls=c.implicit_tls,
            start_tls=start_tls,
            validate_certs=c.verify_tls,
            tls_context=tls_context,
            username=self._username,
            password=self._password,
            timeout=c.timeout,
            local_hostname=self._local_hostname,
        )

    async def _open(self) -> aiosmtplib.SMTP | DeliveryResult:
        """A connected, greeted, (encrypted, logged-in) client, or why not."""
        client = self._client()
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            log.warning("upstream refused our login (%s)", exc.code)
            return temporary_failure(SETUP_TEXT)
        except aiosmtplib.SMTPConnectResponseError as exc:
            log.warning("upstream greeted with %s instead of 220", exc.code)
            return temporary_failure(UNREACHABLE_TEXT)
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            log.warning("upstream unreachable: %s", type(exc).__name__)
            return temporary_failure(UNREACHABLE_TEXT)
        except aiosmtplib.SMTPException as exc:
            # STARTTLS required but not offered, TLS handshake refused, ...
            log.warning("upstream session set-up failed: %s", type(exc).__name__)
            await _close(client)
            return temporary_failure(SETUP_TEXT)
        return client

    async def extensions(self) -> frozenset[str] | None:
        """The upstream's EHLO keywords (lower case), or None if unreachable."""
        opened = await self._open()
        if isinstance(opened, DeliveryResult):
            return None
        try:
            await opened.ehlo()
            return frozenset(opened.esmtp_extensions)
        except (aiosmtplib.SMTPException, OSError):
            return None
        finally:
            await _close(opened)

    async def deliver(self, sender: str, recipients: Sequence[str], data: bytes) -> DeliveryResult:
        bad = _first_bad_address([sender, *recipients])
        if bad is not None:
            return DeliveryResult(False, 553, "5.1.3", bad)
        if not recipients:
            return DeliveryResult(False, 554, "5.5.1", "No valid recipients")
        reused = await self._reuse() if self._max_idle else None
        opened = reused if reused is not None else await self._open()
        if isinstance(opened, DeliveryResult):
            return temporary_failure(opened.text, recipients)
        keep = False
        try:
            result = await self._transaction(opened, sender, recipients, data)
            keep = result.accepted and opened.is_connected
            return result
        finally:
            if keep and len(self._idle) < self._max_idle:
                loop = asyncio.get_running_loop()
                self._idle.append((opened, loop, loop.time()))
            else:
                await _close(opened)

    async def _reuse(self) -> aiosmtplib.SMTP | None:
        """An idle connection of this event loop that answers RSET, if any."""
        loop = asyncio.get_running_loop()
        while self._idle:
            client, owner, since = self._idle.pop()
            if owner is not loop or owner.is_closed():
                continue  # another loop's: not ours to use (or to close)
            if loop.time() - since > self._idle_seconds or not client.is_connected:
                await _close(client)
                continue
            try:
                await client.rset()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
                continue
            return client
        return None

    async def _transaction(
        self, client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str], data: bytes
    ) -> DeliveryResult:
        options: list[str] = []
        try:
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            if _needs_smtputf8([sender, *recipients]):
                if not client.supports_extension("smtputf8"):
                    text = "The agency mail server does not accept non-ASCII addresses"
                    return DeliveryResult(False, 553, "5.6.7", text)
                options.append("SMTPUTF8")
            if not data.isascii() and client.supports_extension("8bitmime"):
                options.append("BODY=8BITMIME")
            errors, message = await client.sendmail(
                sender, list(recipients), data, mail_options=options
            )
        except aiosmtplib.SMTPHeloError as exc:
            log.warning("upstream refused EHLO with %s", exc.code)
            return temporary_failure(SETUP_TEXT, recipients)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            per = {e.recipient: _recipient_result(e.code, e.message) for e in exc.recipients}
            first = _most_retryable(list(per.values()))
            return DeliveryResult(False, first.code, first.enhanced, first.text, per)
        except aiosmtplib.SMTPSenderRefused as exc:
            return _refused_all(exc.code, exc.message, recipients)
        except aiosmtplib.SMTPDataError as exc:
            return _refused_all(exc.code, exc.message, recipients)
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 600:
                return _refused_all(exc.code, exc.message, recipients)
            log.warning("upstream sent an unexpected reply code %s", exc.code)
            return temporary_failure(LOST_TEXT, recipients)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Disconnects and timeouts, including after the final dot: the
            # upstream never confirmed, so the client must retry.
            log.warning("upstream conversation broke: %s", type(exc).__name__)
            return temporary_failure(LOST_TEXT, recipients)
        except ValueError:
            # aiosmtplib's own address check; ours above should have caught it.
            return DeliveryResult(False, 553, "5.1.3", "Bad address syntax")
        enhanced, text = split_enhanced(250, message)
        per = {r: RecipientResult(250, enhanced, text) for r in recipients}
        for rcpt, response in errors.items():
            per[rcpt] = _recipient_result(response.code, response.message)
        return DeliveryResult(True, 250, enhanced, text, per)


def _refused_all(code: int, message: str, recipients: Sequence[str]) -> DeliveryResult:
    result = _recipient_result(code, message)
    return DeliveryResult(
        False, code, result.enhanced, result.text, {r: result for r in recipients}
    )


def _most_retryable(results: list[RecipientResult]) -> RecipientResult:
    """The reply for a transaction whose every recipient was refused.

    A temporary refusal wins over a permanent one, so the client retries
    rather than bouncing a message that one recipient could still get.
    """
    temporary = [r for r in results if 400 <= r.code < 500]
    return (temporary or results)[0]


_ADDRESS_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>]")


def _first_bad_address(addresses: Sequence[str]) -> str | None:
    """A reply text for the first unusable address, naming no address."""
    for i, address in enumerate(addresses):
        if _ADDRESS_FORBIDDEN.search(address):
            who = "sender" if i == 0 else "recipient"
            return f"Bad {who} address syntax (spaces, brackets or control characters)"
    return None


async def _close(client: aiosmtplib.SMTP) -> None:
    """QUIT politely; if the server already hung up, just drop the socket."""
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


__all__ = [
    "DeliveryResult",
    "RecipientResult",
    "SmtpUpstream",
    "Upstream",
    "UpstreamConfigError",
    "split_enhanced",
    "temporary_failure",
]
