"""Who is logging in: authentication backends for the SMTP front door.

A backend answers one question, "are these credentials good, and whose are
they?", and nothing else. Two are built in: ``local`` (the argon2 user
file) and ``upstream`` (ask the agency mail server by logging in to it, so
there is no second password database to keep in step). Backends are
plugins: ``smtp.auth_backend`` names an entry point in the group
``tactful.auth_backends``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

import aiosmtplib
from argon2 import PasswordHasher

from proxy.accounts.users import (
    Role,
    User,
    UserDirectory,
    UsersFile,
    UsersFileError,
    verify_password,
)
from proxy.core.config import ConfigError, Settings

log = logging.getLogger(__name__)


class AuthOutcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # The backend could not decide (user file unreadable, upstream down):
    # the client is told to try again later rather than "wrong password".
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated person and the sender addresses they may use."""

    name: str
    role: Role
    addresses: frozenset[str]

    def may_send_as(self, address: str) -> bool:
        return address.strip().lower() in self.addresses


@dataclass(frozen=True, slots=True)
class AuthDecision:
    outcome: AuthOutcome
    identity: Identity | None = None


REJECTED = AuthDecision(AuthOutcome.REJECTED)
UNAVAILABLE = AuthDecision(AuthOutcome.UNAVAILABLE)


class AuthBackend(Protocol):
    """Checks one login. Must not block the event loop and must never log
    or raise with the password or login in the message."""

    name: str

    async def authenticate(self, login: str, password: str) -> AuthDecision: ...


def parse_host_port(value: str, *, default_port: int) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6), parsed by the standard library."""
    try:
        parts = urlsplit(f"//{value.strip()}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigError(f"{value!r} is not HOST:PORT ({exc})") from exc
    if host is None:
        raise ConfigError(f"{value!r} is not HOST:PORT (no host name)")
    return host, port if port is not None else default_port


class LocalUserBackend:
    """The argon2 user file. Re-read whenever it changes on disk, so
    ``tactful user add`` takes effect without restarting the proxy."""

    name = "local"

    def __init__(self, users_file: str | Path, hasher: PasswordHasher | None = None) -> None:
        self._users = UsersFile(users_file)
        self._hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        # Verified against for unknown names, so a wrong name costs as much
        # time as a wrong password and login names cannot be probed.
        self._decoy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalUserBackend:
        return cls(settings.smtp.users_file)

    async def authenticate(self, login: str, password: str) -> AuthDecision:
        # argon2 is deliberately slow: keep it off the event loop.
        return await asyncio.to_thread(self._authenticate_blocking, login, password)

    def _authenticate_blocking(self, login: str, password: str) -> AuthDecision:
        directory = self._directory()
        if directory is None:
            return UNAVAILABLE
        user = directory.get(login)
        if user is None:
            verify_password(self._decoy(), password, self._hasher)
            return REJECTED
        if not verify_password(user.password_hash, password, self._hasher):
            return REJECTED
        return AuthDecision(AuthOutcome.ACCEPTED, identity_of(user))

    def _decoy(self) -> str:
        with self._lock:
            if self._decoy_hash is None:
                self._decoy_hash = self._hasher.hash(os.urandom(16).hex())
            return self._decoy_hash

    def _directory(self) -> UserDirectory | None:
        try:
            return self._users.current()
        except UsersFileError as exc:
            log.warning("cannot use the user file: %s", exc)
            return None


def identity_of(user: User) -> Identity:
    return Identity(user.name, user.role, frozenset(user.addresses))


StartTls = Literal["auto", "require", "off"]


class UpstreamAuthBackend:
    """Checks credentials by logging in to the upstream mail server.

    The identity may send as the login name when it is an address, which is
    how agency mail servers name their accounts.
    """

    name = "upstream"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        implicit_tls: bool = False,
        starttls: StartTls = "auto",
        verify_tls: bool = True,
        timeout_seconds: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._implicit_tls = implicit_tls
        self._starttls = starttls
        self._verify_tls = verify_tls
        self._timeout = timeout_seconds
        self._tls_context = tls_context

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamAuthBackend:
        upstream = settings.upstream
        if upstream.target.startswith("maildir:"):
            raise ConfigError(
                "smtp.auth_backend is 'upstream' but upstream.target is a maildir; "
                "set upstream.target to the mail server's HOST:PORT or use the local backend"
            )
        default_port = 465 if upstream.implicit_tls else 587
        host, port = parse_host_port(upstream.target, default_port=default_port)
        return cls(
            host,
            port,
            implicit_tls=upstream.implicit_tls,
            starttls=upstream.starttls,
            verify_tls=upstream.verify_tls,
            timeout_seconds=min(upstream.timeout_seconds, 30.0),
        )

    async def authenticate(self, login: str, password: str) -> AuthDecision:
        start_tls = {"auto": None, "require": True, "off": False}[self._starttls]
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._implicit_tls,
            start_tls=False if self._implicit_tls else start_tls,
            validate_certs=self._verify_tls,
            tls_context=self._tls_context,
            timeout=self._timeout,
        )
        try:
            async with client:
                await client.login(login, password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            # 4xx from the upstream is "try later", 5xx is "wrong credentials".
            return UNAVAILABLE if 400 <= exc.code < 500 else REJECTED
        except aiosmtplib.SMTPException:
            return UNAVAILABLE
        except (OSError, TimeoutError, ssl.SSLError):
            return UNAVAILABLE
        address = login.strip().lower()
        addresses = frozenset({address}) if "@" in address else frozenset()
        return AuthDecision(AuthOutcome.ACCEPTED, Identity(address, Role.WORKER, addresses))


AUTH_BACKEND_GROUP = "tactful.auth_backends"


def auth_backend_factories() -> dict[str, Callable[[Settings], AuthBackend]]:
    """Installed authentication backends by name (entry-point group
    ``tactful.auth_backends``): the built-in ``local`` and ``upstream``
    register exactly as an agency's own (LDAP, say) would."""
    return {ep.name: ep.load() for ep in entry_points(group=AUTH_BACKEND_GROUP)}


def make_auth_backend(settings: Settings) -> AuthBackend:
    factories = auth_backend_factories()
    factory = factories.get(settings.smtp.auth_backend)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none installed"
        raise ConfigError(
            f"smtp.auth_backend is {settings.smtp.auth_backend!r}; installed backends: {known}"
        )
    return factory(settings)
