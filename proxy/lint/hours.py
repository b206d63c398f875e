"""Working-hours and quiet-hours arithmetic in the agency's own time zone.

Clients are not messaged at 23:00 or on a public holiday just because a
worker catches up on email late; deferred mail goes out at the start of the
next working window. All comparisons are made on local wall-clock time so that
"08:00" means 08:00 on both sides of a daylight-saving change.

A naive ``datetime`` (no time zone) is read as agency-local time: that is what
a person typing ``--at 2026-03-02T17:59`` means.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from proxy.core.config import Agency, Sms

_WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Holidays are a finite list, so two years always contains a working day when
# any is configured; the bound only stops an empty configuration from looping.
_SEARCH_DAYS = 2 * 366


class NoWorkingHoursError(ValueError):
    """The configured working hours never open, so nothing can be scheduled."""


def local_time(now: datetime, tz: ZoneInfo) -> datetime:
    """``now`` on the agency's wall clock (naive input is taken as local)."""
    if now.tzinfo is None:
        return now.replace(tzinfo=tz)
    return now.astimezone(tz)


def is_working_day(day: date, agency: Agency) -> bool:
    return _WEEKDAYS[day.weekday()] in agency.working_hours.days and day not in agency.holidays


def in_working_hours(now: datetime, agency: Agency) -> bool:
    """True on a working, non-holiday day between ``start`` (inclusive) and
    ``end`` (exclusive): a message at exactly 18:00 is already after hours."""
    local = local_time(now, agency.tz)
    hours = agency.working_hours
    return is_working_day(local.date(), agency) and hours.start <= local.time() < hours.end


def _at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """``day`` at ``clock`` in ``tz``; a time skipped by a spring-forward change
    moves to the first real instant after it instead of not existing."""
    naive_local = datetime.combine(day, clock, tzinfo=tz)
    return naive_local.astimezone(UTC).astimezone(tz)


def next_working_start(now: datetime, agency: Agency) -> datetime | None:
    """When a message deferred at ``now`` may go out, in the agency time zone.

    ``None`` means ``now`` is already inside working hours. Raises
    :class:`NoWorkingHoursError` when the configuration has no working window
    at all (no days, or ``start`` not before ``end``), because deferring to
    "never" would silently drop client mail.
    """
    if in_working_hours(now, agency):
        return None
    hours = agency.working_hours
    if not hours.days or hours.start >= hours.end:
        raise NoWorkingHoursError(
            "agency.working_hours has no working time (it needs at least one day and "
            "a start before its end), so deferred messages could never be sent"
        )
    tz = agency.tz
    local = local_time(now, tz)
    day = local.date()
    if not (is_working_day(day, agency) and local.time() < hours.start):
        day += timedelta(days=1)
    for _ in range(_SEARCH_DAYS):
        if is_working_day(day, agency):
            return _at_local(day, hours.start, tz)
        day += timedelta(days=1)
    raise NoWorkingHoursError(
        "agency.working_hours and agency.holidays leave no working day in the next two "
        "years, so deferred messages could never be sent"
    )


def in_quiet_hours(now: datetime, sms: Sms, tz: ZoneInfo) -> bool:
    """True inside the SMS quiet window, which may wrap past midnight
    (20:00-08:00). Equal start and end means no quiet hours."""
    clock = local_time(now, tz).time()
    start, end = sms.quiet_hours.start, sms.quiet_hours.end
    if start == end:
        return False
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def quiet_hours_end(now: datetime, sms: Sms, tz: ZoneInfo) -> datetime | None:
    """When the quiet window ``now`` is in ends (local time), or ``None``
    outside quiet hours. A window past midnight ends on the next day when
    entered in the evening."""
    if not in_quiet_hours(now, sms, tz):
        return None
    local = local_time(now, tz)
    end = sms.quiet_hours.end
    day = local.date()
    if local.time() >= end:
        day += timedelta(days=1)
    return _at_local(day, end, tz)
