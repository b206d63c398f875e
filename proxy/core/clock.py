"""The one clock every time-dependent decision reads.

Tactful decides by the time: working hours, quiet hours, holidays, hold
expiry, leases, sessions, login lock-outs, cancel links, the digest. If
each of those read the wall clock on its own, a test (or an operator's
``tactful lint --at``) could set the time for some of them and not the
others, and the answer would depend on the day the code happened to run.
So the composition root builds one :data:`Clock` and hands it to every
part; nothing else in ``proxy/`` or ``detectors/`` reads the system time
for a decision (``tests/test_clock.py`` enforces it).

A clock is just a function returning an aware UTC datetime, so a lambda
is a clock too; :class:`ManualClock` is one that moves only when told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current moment as an aware datetime (UTC)."""


def system_clock() -> datetime:
    """The real time: what ``tactful serve`` and the CLI run on."""
    return datetime.now(UTC)


def timestamp(clock: Clock) -> Callable[[], float]:
    """The same clock as POSIX seconds, for libraries that want a float
    (itsdangerous' signed links, DKIM's ``t=`` tag)."""
    return lambda: clock().timestamp()


def change_stamp() -> datetime:
    """When a consent row last changed, for change detection only.

    Running proxies reload their registry snapshot when the latest
    ``updated_at`` moves (:mod:`proxy.store.registry_source`), across processes
    and nodes. That needs a stamp that only goes forward, whatever moment
    the decision clock is set to (a test's, or a back-dated revocation), so
    it is the one read of the real time outside the composition roots. It
    decides nothing: no rule, expiry or lock-out reads ``updated_at``."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until it is set or advanced.

    Tests use it to put the whole proxy at a chosen moment (a Friday at
    17:59, a holiday, the night clocks go forward); ``tactful lint --at``
    uses it to ask what would happen at another time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a clock's time must carry its time zone")
        self._now = value.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now
