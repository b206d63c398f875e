"""Login throttling per account and client address.

Why both: throttling by account alone lets anyone lock a supervisor out
from anywhere; by address alone lets a botnet guess one password slowly.
Keyed on the pair, a guesser is slowed while the real reviewer, from their
own machine, can still log in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from proxy.core.clock import Clock

# Bounds memory if someone sprays many names from many addresses.
MAX_TRACKED = 10_000


@dataclass(slots=True)
class _Failures:
    count: int
    last: datetime


class LoginThrottle:
    def __init__(
        self,
        max_failures: int,
        lockout: timedelta,
        *,
        clock: Clock,
    ) -> None:
        self._max = max_failures
        self._lockout = lockout
        self._clock = clock
        self._failures: dict[tuple[str, str], _Failures] = {}

    def blocked_until(self, account: str, address: str) -> datetime | None:
        """When logging in is possible again, or None if it is now."""
        entry = self._failures.get((account, address))
        if entry is None:
            return None
        until = entry.last + self._lockout
        if self._clock() >= until:
            if entry.count >= self._max:
                del self._failures[(account, address)]
            return None
        return until if entry.count >= self._max else None

    def failed(self, account: str, address: str) -> int:
        """Count a failure; returns how many there were in a row."""
        now = self._clock()
        key = (account, address)
        entry = self._failures.get(key)
        if entry is None or now - entry.last > self._lockout:
            entry = _Failures(0, now)
        entry.count += 1
        entry.last = now
        self._failures[key] = entry
        if len(self._failures) > MAX_TRACKED:
            oldest = min(self._failures, key=lambda k: self._failures[k].last)
            del self._failures[oldest]
        return entry.count

    def succeeded(self, account: str, address: str) -> None:
        self._failures.pop((account, address), None)
