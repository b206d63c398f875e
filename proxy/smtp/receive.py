"""The aiosmtpd handler of the front door: who may send, as whom, to how
many, and what happens to an accepted message.

It knows nothing about linting: each accepted DATA becomes a typed
:class:`~proxy.core.submission.Submission` handed to an injected
:class:`~proxy.core.submission.MessageProcessor`, whose reply is passed back to
the mail program verbatim. The handler never logs addresses or message
text; only submission ids and exception types.
"""

from __future__ import annotations

import asyncio
import binascii
import ipaddress
import logging
import math
import uuid
from base64 import b64decode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from proxy.accounts.auth import AuthBackend, AuthOutcome, Identity
from proxy.accounts.users import UserInputError, normalize_address
from proxy.core.clock import Clock
from proxy.core.config import Gateway
from proxy.core.submission import TEMPORARY_FAILURE, MessageProcessor, SmtpReply, Submission
from proxy.smtp.author import author_problem
from proxy.smtp.lean import ProtocolNames
from proxy.store.login_failures import LoginFailures

log = logging.getLogger(__name__)

AUTH_SUCCEEDED = "235 2.7.0 Authentication successful"
AUTH_INVALID = "535 5.7.8 Wrong user name or password"
AUTH_UNAVAILABLE = "454 4.7.0 Cannot check your password right now, please try again later"
# Submission.user for mail from a trusted network without AUTH. It contains
# a space, which no account name may, so it never names a real user.
TRUSTED_NETWORK_USER = "(trusted network)"
# Only a placeholder while the envelope is built: gateway mail is submitted
# as its envelope sender, the worker (see SubmissionHandler.handle_DATA).
GATEWAY_USER = "(agency mail system)"
GATEWAY_CERTIFICATE_NEEDED = (
    "530 5.7.0 This mail system must start TLS and show its client certificate "
    "(the one configured in smtp.gateway) before sending through Tactful"
)
GATEWAY_FOREIGN_SENDER = (
    "553 5.7.1 Tactful relays mail only from the agency's own addresses; "
    "the envelope sender must be in the agency's domains"
)
GATEWAY_NULL_SENDER = (
    "550 5.7.1 Tactful does not relay bounces (an empty sender); deliver them "
    "inside the agency mail system"
)


def _parsed_ip(peer: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client address of a transport's ``peername``; None for anything odd."""
    if not isinstance(peer, tuple) or not peer:
        return None
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def certificate_names(certificate: Mapping[str, Any] | None) -> frozenset[str]:
    """The DNS names (subjectAltName) and common names of a peer certificate
    as :meth:`ssl.SSLSocket.getpeercert` returns it, lower case."""
    if not certificate:
        return frozenset()
    names: set[str] = set()
    for kind, value in certificate.get("subjectAltName", ()):
        if kind == "DNS" and isinstance(value, str):
            names.add(value.lower())
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and isinstance(value, str):
                names.add(value.lower())
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class FrontDoorPolicy:
    """The limits and upstream capabilities the handler enforces."""

    max_message_size: int
    max_recipients: int
    # Extensions the upstream server offers (upper case); None: not probed,
    # so nothing is withheld.
    upstream_extensions: frozenset[str] | None = None
    # smtp.trusted_networks: clients here may submit without AUTH.
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # smtp.gateway: the agency's own mail system, and agency.domains, which
    # its envelope senders must be in.
    gateway: Gateway = field(default_factory=Gateway)
    agency_domains: tuple[str, ...] = ()

    def upstream_offers(self, extension: str) -> bool:
        return self.upstream_extensions is None or extension in self.upstream_extensions

    def trusts(self, peer: Any) -> bool:
        """On ``smtp.trusted_networks`` (and not a gateway client, which is
        held to stricter rules). ``peer`` is a transport's ``peername``."""
        address = _parsed_ip(peer)
        if address is None or self.on_gateway_network(peer):
            return False
        return any(address in network for network in self.trusted_networks)

    def on_gateway_network(self, peer: Any) -> bool:
        """On ``smtp.gateway.networks``: the agency's mail system, if it also
        shows the certificate when one is required."""
        address = _parsed_ip(peer)
        if address is None:
            return False
        return any(address in network for network in self.gateway.networks)

    def vouched_for(self, peer: Any) -> bool:
        """Needs no login to connect: a trusted network or the gateway's."""
        return self.trusts(peer) or self.on_gateway_network(peer)

    def certificate_accepted(self, certificate: Mapping[str, Any] | None) -> bool:
        """The gateway's client-certificate condition. The TLS layer already
        checked the signature against ``client_ca_file``; here a verified
        certificate must be present and, if names are listed, carry one."""
        if self.gateway.client_ca_file is None:
            return True
        if not certificate:
            return False
        if not self.gateway.client_names:
            return True
        return not certificate_names(certificate).isdisjoint(self.gateway.client_names)

    def in_agency_domains(self, address: str) -> bool:
        domain = address.rpartition("@")[2].strip().lower().rstrip(".")
        return bool(domain) and domain in self.agency_domains


def parse_plain_credentials(blob: bytes) -> tuple[str, str] | None:
    """RFC 4616 ``authzid NUL authcid NUL passwd``. Acting for someone else
    (an authzid different from the login) is not supported."""
    parts = blob.split(b"\x00")
    if len(parts) != 3:
        return None
    authzid, login, password = parts
    if authzid and authzid != login:
        return None
    return _decode_credentials(login, password)


def _decode_credentials(login: bytes, password: bytes) -> tuple[str, str] | None:
    try:
        return login.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _b64(text: str) -> bytes | None:
    if text == "=":  # RFC 4954: an empty initial response
        return b""
    try:
        return b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def size_parameter(mail_options: Sequence[str]) -> int | None:
    for option in mail_options:
        key, _, value = option.partition("=")
        if key.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


def filter_ehlo(responses: Sequence[str], policy: FrontDoorPolicy) -> list[str]:
    """Drop the extensions the upstream cannot honour, and re-number the
    continuation markers so the last line still ends the reply."""
    keywords: list[str] = []
    for line in responses:
        text = line[4:]
        keyword = text.split(" ", 1)[0].upper()
        if keyword == "8BITMIME" and not policy.upstream_offers("8BITMIME"):
            continue
        if keyword == "SIZE":
            continue  # re-added below with our own limit
        keywords.append(text)
    keywords.insert(1, f"SIZE {policy.max_message_size}")
    return [f"250{' ' if i == len(keywords) - 1 else '-'}{text}" for i, text in enumerate(keywords)]


def locked_out(remaining: timedelta) -> str:
    """The 454 for a locked-out login: temporary, in plain words, with what to do."""
    minutes = max(1, math.ceil(remaining.total_seconds() / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "454 4.7.0 Too many wrong passwords for this account from your computer: logging in "
        f"is paused for {minutes} more {unit}. Check the password saved in your mail "
        "program, then try again."
    )


def _client(server: SMTP) -> str:
    """The client's address as the throttle counts it ("unknown" for odd sockets)."""
    peer = server.session.peer if server.session is not None else None
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return "unknown"


def _identity(session: Session) -> Identity | None:
    """The logged-in user, or None when the client has not authenticated."""
    identity = session.auth_data
    if session.authenticated and isinstance(identity, Identity):
        return identity
    return None


class SubmissionHandler(ProtocolNames):
    """aiosmtpd ``handle_*`` hooks and the PLAIN/LOGIN mechanisms (``ProtocolNames``:
    aiosmtpd searches the handler on every connection, see :mod:`proxy.smtp.lean`)."""

    def __init__(
        self,
        processor: MessageProcessor,
        backend: AuthBackend,
        policy: FrontDoorPolicy,
        clock: Clock,
        logins: LoginFailures,
    ) -> None:
        self._clock = clock
        self._processor = processor
        self._backend = backend
        self._logins = logins
        self.policy = policy
        self._in_flight: set[asyncio.Task[SmtpReply]] = set()

    # -- authentication -------------------------------------------------

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            challenge = await server.challenge_auth("")
            if challenge is MISSING:
                return AuthResult(success=False, handled=True)
            assert isinstance(challenge, bytes)
            blob: bytes | None = challenge
        else:
            blob = _b64(args[1])
        if blob is None:
            await server.push("501 5.5.2 Cannot decode the base64 data")
            return AuthResult(success=False, handled=True)
        credentials = parse_plain_credentials(blob)
        if credentials is None:
            return AuthResult(success=False, handled=False, message=AUTH_INVALID)
        return await self._check(*credentials, _client(server))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login = await server.challenge_auth(SMTP.AuthLoginUsernameChallenge)
            if login is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            initial = _b64(args[1])
            if initial is None:
                await server.push("501 5.5.2 Cannot decode the base64 data")
                return AuthResult(success=False, handled=True)
            login = initial
        password = await server.challenge_auth(SMTP.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        assert isinstance(login, bytes) and isinstance(password, bytes)
        credentials = _decode_credentials(login, password)
        if credentials is None:
            return AuthResult(success=False, handled=False, message=AUTH_INVALID)
        return await self._check(*credentials, _client(server))

    async def _check(self, login: str, password: str, client: str) -> AuthResult:
        """One login attempt, through the shared throttle: failures count per
        account and client address across connections (and nodes), and a
        locked-out pair is refused before the password is even looked at.
        If the throttle's database cannot be reached, nobody logs in (454):
        otherwise an outage would mean unlimited guesses."""
        if not login or not password:
            return AuthResult(success=False, handled=False, message=AUTH_INVALID)
        try:
            until = await asyncio.to_thread(self._logins.blocked_until, login, client)
        except Exception as exc:
            log.error("cannot read the login throttle: %s", type(exc).__name__)
            return AuthResult(success=False, handled=False, message=AUTH_UNAVAILABLE)
        if until is not None:
            log.warning("SMTP login refused: locked out after too many wrong passwords")
            reply = locked_out(until - self._logins.clock())
            return AuthResult(success=False, handled=False, message=reply)
        decision = await self._backend.authenticate(login, password)
        try:
            if decision.outcome is AuthOutcome.ACCEPTED and decision.identity is not None:
                await asyncio.to_thread(self._logins.succeeded, login, client, door="smtp")
                return AuthResult(success=True, auth_data=decision.identity, message=AUTH_SUCCEEDED)
            if decision.outcome is AuthOutcome.UNAVAILABLE:
                return AuthResult(success=False, handled=False, message=AUTH_UNAVAILABLE)
            await asyncio.to_thread(self._logins.failed, login, client, door="smtp")
        except Exception as exc:
            log.error("cannot update the login throttle: %s", type(exc).__name__)
            return AuthResult(success=False, handled=False, message=AUTH_UNAVAILABLE)
        return AuthResult(success=False, handled=False, message=AUTH_INVALID)

    def _account(self, session: Session) -> str | None:
        """Who is submitting: the logged-in user, the trusted-network
        pseudo-user, the gateway's pseudo-user, or None (not allowed to
        submit)."""
        identity = _identity(session)
        if identity is not None:
            return identity.name
        if self.policy.trusts(session.peer):
            return TRUSTED_NETWORK_USER
        if self.policy.on_gateway_network(session.peer):
            return GATEWAY_USER
        return None

    def _gateway(self, server: SMTP, session: Session) -> bool | str:
        """True when this client is the agency's mail system (gateway mode),
        False when it is not, or the refusal when it is on the gateway's
        network but has not shown the required certificate."""
        identity = _identity(session)
        if identity is not None:
            return identity.name.lower() in self.policy.gateway.relay_accounts
        if not self.policy.on_gateway_network(session.peer):
            return False
        transport = server.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        certificate = tls.getpeercert() if tls is not None else None
        if not self.policy.certificate_accepted(certificate):
            return GATEWAY_CERTIFICATE_NEEDED
        return True

    # -- SMTP hooks -----------------------------------------------------

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return filter_ehlo(responses, self.policy)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._account(session) is None:
            return "530 5.7.0 Authentication required"
        gateway = self._gateway(server, session)
        if isinstance(gateway, str):
            return gateway
        if gateway:
            # The worker is the envelope sender, so it must be the agency's.
            if address.strip("<> ") == "":
                return GATEWAY_NULL_SENDER
            if not self.policy.in_agency_domains(address):
                return GATEWAY_FOREIGN_SENDER
        # A trusted network's sender is not tied to a user (permit_mynetworks).
        identity = _identity(session)
        if not gateway and identity is not None and not identity.may_send_as(address):
            return "553 5.7.1 You may not send as that address. Use your own address as the sender."
        if "BODY=8BITMIME" in mail_options and not self.policy.upstream_offers("8BITMIME"):
            return "555 5.5.4 BODY=8BITMIME is not supported here"
        declared = size_parameter(mail_options)
        if declared is not None and declared > self.policy.max_message_size:
            return f"552 5.3.4 Message too big: the limit is {self.policy.max_message_size} bytes"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self._account(session) is None:
            return "530 5.7.0 Authentication required"
        try:
            normalize_address(address)
        except UserInputError:
            return "553 5.1.3 That recipient address is not valid; write it as name@domain"
        if any(existing.lower() == address.lower() for existing in envelope.rcpt_tos):
            return "250 2.1.5 Recipient OK"
        if len(envelope.rcpt_tos) >= self.policy.max_recipients:
            return (
                "452 4.5.3 Too many recipients: send to at most "
                f"{self.policy.max_recipients} at once, or use a list"
            )
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        user = self._account(session)
        if user is None:
            return "530 5.7.0 Authentication required"
        if envelope.mail_from is None:
            return "503 5.5.1 Bad sequence of commands"
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        # The header From:/Sender: is held to the same rule as MAIL FROM, so
        # nothing relayed (and DKIM-signed) names someone else as its author.
        # A trusted network's mail is not tied to a user, as in handle_MAIL;
        # the gateway's is tied to its envelope sender, the worker.
        gateway = self._gateway(server, session)
        if isinstance(gateway, str):
            return gateway
        identity = _identity(session)
        if gateway:
            worker = envelope.mail_from.strip().lower()
            problem = author_problem(raw, lambda address: address.strip().lower() == worker)
            if problem is not None:
                log.info("refused gateway mail whose From/Sender is not its envelope sender")
                return str(problem)
            user = worker
        elif identity is not None:
            problem = author_problem(raw, identity.may_send_as)
            if problem is not None:
                log.info("refused a message whose From/Sender is not the logged-in user's")
                return str(problem)
        submission = Submission(
            id=uuid.uuid4().hex,
            sender=envelope.mail_from,
            recipients=tuple(envelope.rcpt_tos),
            user=user,
            raw=raw,
            received_at=self._clock(),
        )
        # Shielded: if the mail program hangs up mid-way, processing still
        # finishes, so a message is never left half relayed or half stored.
        task = asyncio.get_running_loop().create_task(self._process(submission))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        reply = await asyncio.shield(task)
        return str(reply)

    async def _process(self, submission: Submission) -> SmtpReply:
        try:
            return await self._processor.process(submission)
        except Exception as exc:
            log.error("processing submission %s failed: %s", submission.id, type(exc).__name__)
            return TEMPORARY_FAILURE

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd would send the exception text to the client; that text
        may quote client data, so only a generic temporary failure goes out."""
        log.error("SMTP session error: %s", type(error).__name__)
        return str(TEMPORARY_FAILURE)

    async def drain(self) -> None:
        """Wait for messages still being processed (used at shutdown)."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
