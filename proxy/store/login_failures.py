"""One login throttle for every door that checks a password: SMTP AUTH, the
review app and the SMS API.

Failures are counted in the database, so a guesser gains nothing by opening
a new connection, and several Tactful nodes on one PostgreSQL agree. Two
counts are kept for every failure:

* **account and client address** (the pair): after ``max_failures`` wrong
  passwords, that account is locked out *from that address*. Keyed on the
  pair, a guesser cannot lock a supervisor out from everywhere, while the
  real person, from their own machine, can still log in.
* **client address** alone: after ``max_failures × ADDRESS_FACTOR`` wrong
  passwords for any accounts, every login from that address is locked out
  (one address trying many accounts: password spraying). A successful
  login never resets this count, so an attacker who knows one password
  does not get fresh tries at everyone else's.

Counts run in a window of ``lockout`` from the first failure; a quiet
window starts again from zero. Back-off: every lock-out of the same key
lasts twice as long as the one before (``lockout``, 2×, 4×, ... at most
``MAX_LOCKOUT``) until the key has been quiet for ``MAX_LOCKOUT``; a
successful login clears only its own pair. Each lock-out is an audit-trail
entry (``login.locked_out``) with the account (when it exists), the client
address and the door, never the password or what was typed as a name.

Keys are SHA-256 digests of what they count, so the table holds no typed
text. Blocking: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Executable, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from proxy.core.clock import Clock
from proxy.core.metrics import Metrics
from proxy.store.audit import record
from proxy.store.db import aware, session_factory, utc
from proxy.store.login_failure_model import LoginFailureRow

# An address is locked for all accounts after this many times the per-account limit.
ADDRESS_FACTOR = 4
# The longest lock-out, and how long a key must be quiet to forget its back-off.
MAX_LOCKOUT = timedelta(hours=24)
UNKNOWN_ACCOUNT = "unknown-user"
LOCKED_OUT = "login.locked_out"


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures: int  # wrong passwords per account and address before a lock-out
    lockout: timedelta  # the first lock-out, and the window failures are counted in

    @property
    def address_max_failures(self) -> int:
        return self.max_failures * ADDRESS_FACTOR


def client_key(address: str) -> str:
    """The client address as counted: IPv4-mapped IPv6 as IPv4, and IPv6 by
    its /64 (one machine gets a whole /64); anything else as written."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address.strip().lower()[:200]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed)


def account_key(account: str) -> str:
    """Login names compare case-blind, as every door normalises them."""
    return account.strip().lower()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Scope:
    name: str  # "pair" or "address"
    key: str
    limit: int


class LoginFailures:
    """Store-backed login throttle (see the module text). ``account_exists``
    tells whether a login name is a real account, so a lock-out's audit
    entry names it; anything else is recorded as ``unknown-user``."""

    def __init__(
        self,
        engine: Engine,
        limits: LoginLimits,
        *,
        clock: Clock,
        account_exists: Callable[[str], bool] = lambda _name: False,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = session_factory(engine)
        self._dialect = engine.dialect.name
        self.limits = limits
        self.clock = clock  # the clock lock-outs are measured on
        self._account_exists = account_exists
        self._metrics = metrics

    def _scopes(self, account: str, address: str) -> tuple[_Scope, _Scope]:
        client = client_key(address)
        return (
            _Scope("pair", _digest("pair", account_key(account), client), self.limits.max_failures),
            _Scope("address", _digest("address", client), self.limits.address_max_failures),
        )

    def blocked_until(self, account: str, address: str) -> datetime | None:
        """When this account may try again from this address, or None if now."""
        now = self.clock()
        scopes = self._scopes(account, address)
        with self._sessions() as session:
            rows = session.scalars(
                select(LoginFailureRow).where(
                    or_(
                        *(
                            (LoginFailureRow.scope == s.name) & (LoginFailureRow.key == s.key)
                            for s in scopes
                        )
                    )
                )
            ).all()
        until = [aware(r.locked_until) for r in rows if r.locked_until is not None]
        latest = max((u for u in until if u > now), default=None)
        return latest

    def failed(self, account: str, address: str, *, door: str) -> int:
        """Count one wrong password; returns the failures in a row for this
        account from this address. A lock-out it causes is recorded in the
        audit trail in the same transaction."""
        now = self.clock()
        pair, by_address = self._scopes(account, address)
        with self._sessions.begin() as session:
            session.execute(
                delete(LoginFailureRow).where(
                    LoginFailureRow.last_failure < utc(now - 2 * MAX_LOCKOUT),
                    or_(
                        LoginFailureRow.locked_until.is_(None),
                        LoginFailureRow.locked_until < utc(now),
                    ),
                )
            )
            count, pair_until = self._count(session, pair, now)
            _, address_until = self._count(session, by_address, now)
            locks = [(s, u) for s, u in ((pair, pair_until), (by_address, address_until)) if u]
            for scope, until in locks:
                name = account_key(account)
                known = name if name and self._account_exists(name) else UNKNOWN_ACCOUNT
                record(
                    session,
                    actor=known,
                    action=LOCKED_OUT,
                    details={
                        "door": door,
                        "scope": "account_and_address" if scope.name == "pair" else "address",
                        "remote": client_key(address)[:60],
                        "minutes": int((until - now).total_seconds() // 60),
                    },
                    at=now,
                )
        if self._metrics is not None:
            self._metrics.count_login(door, succeeded=False)
            for scope, _ in locks:
                self._metrics.lockouts.labels(door=door, scope=scope.name).inc()
        return count

    def succeeded(self, account: str, address: str, *, door: str = "unknown") -> None:
        """A right password clears this account's count from this address,
        and nothing else (not the address's count for other accounts)."""
        if self._metrics is not None:
            self._metrics.count_login(door, succeeded=True)
        pair, _ = self._scopes(account, address)
        with self._sessions.begin() as session:
            session.execute(
                delete(LoginFailureRow).where(
                    LoginFailureRow.scope == pair.name, LoginFailureRow.key == pair.key
                )
            )

    def _insert(self, values: dict[str, object]) -> Executable:
        if self._dialect == "postgresql":
            return postgresql.insert(LoginFailureRow).values(values).on_conflict_do_nothing()
        return sqlite.insert(LoginFailureRow).values(values).on_conflict_do_nothing()

    def _count(self, session: Session, scope: _Scope, now: datetime) -> tuple[int, datetime | None]:
        """Add one failure to ``scope``; returns its count and, if this
        failure locked it, until when."""
        # Insert-or-nothing first: it takes the write lock (SQLite) before
        # the row is read, and the row lock below queues nodes (PostgreSQL).
        session.execute(
            self._insert(
                {
                    "scope": scope.name,
                    "key": scope.key,
                    "failures": 0,
                    "window_start": utc(now),
                    "last_failure": utc(now),
                    "lockouts": 0,
                    "locked_until": None,
                }
            )
        )
        row = session.scalars(
            select(LoginFailureRow)
            .where(LoginFailureRow.scope == scope.name, LoginFailureRow.key == scope.key)
            .with_for_update()
        ).one()
        locked_until = aware(row.locked_until) if row.locked_until is not None else None
        if locked_until is not None and now < locked_until:
            row.failures += 1  # a race with another door; already locked
            row.last_failure = utc(now)
            return row.failures, None
        if now - aware(row.last_failure) >= MAX_LOCKOUT:
            row.lockouts = 0  # quiet long enough: the back-off is forgotten
        window_over = now - aware(row.window_start) >= self.limits.lockout
        if locked_until is not None or window_over:
            row.failures, row.window_start, row.locked_until = 0, utc(now), None
        row.failures += 1
        row.last_failure = utc(now)
        if row.failures < scope.limit:
            return row.failures, None
        row.lockouts += 1
        length = min(self.limits.lockout * 2 ** min(row.lockouts - 1, 16), MAX_LOCKOUT)
        until = now + length
        row.locked_until = utc(until)
        return row.failures, until
