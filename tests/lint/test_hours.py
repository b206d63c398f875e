"""Working-window arithmetic: weekends, holidays, the 18:00 edge and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from proxy.core.config import Agency, QuietHours, Sms, WorkingHours, settings_from_mapping
from proxy.lint.hours import (
    NoWorkingHoursError,
    in_quiet_hours,
    in_working_hours,
    next_working_start,
)

CHICAGO = ZoneInfo("America/Chicago")
AGENCY = settings_from_mapping({}).agency  # shipped defaults: Mon-Fri 08-18, Chicago


def local(y: int, mo: int, d: int, h: int, mi: int = 0, tz: ZoneInfo = CHICAGO) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (local(2026, 3, 2, 8, 0), True),  # Monday opening minute
        (local(2026, 3, 2, 7, 59), False),
        (local(2026, 3, 2, 17, 59), True),
        (local(2026, 3, 2, 18, 0), False),  # end is exclusive
        (local(2026, 3, 7, 12, 0), False),  # Saturday
        (local(2026, 11, 26, 12, 0), False),  # Thanksgiving (configured holiday)
        # 23:30 UTC is 17:30 in Chicago in winter (CST, UTC-6) ...
        (datetime(2026, 3, 2, 23, 30, tzinfo=UTC), True),
        # ... and 18:30 in summer (CDT, UTC-5).
        (datetime(2026, 7, 1, 23, 30, tzinfo=UTC), False),
        # Naive datetimes are agency-local wall-clock time.
        (datetime(2026, 3, 2, 17, 59), True),
        (datetime(2026, 3, 2, 18, 0), False),
    ],
)
def test_in_working_hours(now: datetime, inside: bool) -> None:
    assert in_working_hours(now, AGENCY) is inside


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Inside hours: nothing to wait for.
        (local(2026, 3, 2, 10, 0), None),
        # Before opening on a working day: today at 08:00.
        (local(2026, 3, 2, 6, 30), local(2026, 3, 2, 8, 0)),
        # 18:00 exactly on Monday: Tuesday 08:00.
        (local(2026, 3, 2, 18, 0), local(2026, 3, 3, 8, 0)),
        # Friday evening: Monday.
        (local(2026, 7, 3, 19, 0), local(2026, 7, 6, 8, 0)),
        # Saturday and Sunday: Monday.
        (local(2026, 7, 4, 9, 0), local(2026, 7, 6, 8, 0)),
        (local(2026, 7, 5, 23, 59), local(2026, 7, 6, 8, 0)),
        # The evening before Thanksgiving (Thu holiday): Friday.
        (local(2026, 11, 25, 19, 0), local(2026, 11, 27, 8, 0)),
        # On the holiday itself, during what would be working time: Friday.
        (local(2026, 11, 26, 10, 0), local(2026, 11, 27, 8, 0)),
        # Christmas Eve evening: Christmas is Friday, so Monday 28th.
        (local(2026, 12, 24, 19, 0), local(2026, 12, 28, 8, 0)),
        # New Year's Eve evening: 1 Jan is a Friday holiday, so Monday 4th.
        (local(2026, 12, 31, 18, 5), local(2027, 1, 4, 8, 0)),
    ],
)
def test_next_working_start(now: datetime, expected: datetime | None) -> None:
    assert next_working_start(now, AGENCY) == expected


def test_spring_forward_weekend_opens_at_local_eight() -> None:
    # DST starts Sunday 8 March 2026: Friday is CST (UTC-6), Monday is CDT (UTC-5).
    friday_evening = datetime(2026, 3, 7, 0, 30, tzinfo=UTC)  # Fri 18:30 CST
    start = next_working_start(friday_evening, AGENCY)
    assert start is not None
    assert start.astimezone(UTC) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    assert (start.astimezone(CHICAGO).hour, start.astimezone(CHICAGO).minute) == (8, 0)


def test_fall_back_weekend_opens_at_local_eight() -> None:
    # DST ends Sunday 1 November 2026: Monday 08:00 CST is 14:00 UTC.
    friday_evening = datetime(2026, 10, 31, 0, 30, tzinfo=UTC)  # Fri 19:30 CDT
    start = next_working_start(friday_evening, AGENCY)
    assert start is not None
    assert start.astimezone(UTC) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_opening_time_inside_a_dst_gap_moves_to_the_first_real_instant() -> None:
    # Sunday-only agency opening at 02:30: on 8 March 2026 02:30 does not exist
    # in Chicago (clocks jump from 02:00 to 03:00).
    agency = Agency(working_hours=WorkingHours(days=("sun",), start=time(2, 30), end=time(9, 0)))
    start = next_working_start(local(2026, 3, 7, 12, 0), agency)
    assert start is not None
    assert start.astimezone(UTC) == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    assert start.astimezone(CHICAGO).hour == 3


def test_result_is_in_agency_time_zone_even_for_utc_input() -> None:
    start = next_working_start(datetime(2026, 3, 3, 2, 0, tzinfo=UTC), AGENCY)  # Mon 20:00 CST
    assert start is not None
    assert start.tzinfo is not None
    assert start.utcoffset() == CHICAGO.utcoffset(datetime(2026, 3, 3, 8, 0))
    assert start == local(2026, 3, 3, 8, 0)


def test_other_time_zone_agency() -> None:
    agency = Agency(timezone="Europe/London")
    # 17:30 UTC on a winter Monday is 17:30 in London: inside; 11:30 in Chicago.
    assert in_working_hours(datetime(2026, 1, 5, 17, 30, tzinfo=UTC), agency)
    # 18:30 London time on a summer Monday (17:30 UTC, BST) is outside.
    assert not in_working_hours(datetime(2026, 7, 6, 17, 30, tzinfo=UTC), agency)


@pytest.mark.parametrize(
    "hours",
    [
        WorkingHours(days=(), start=time(8), end=time(18)),
        WorkingHours(days=("mon",), start=time(18), end=time(8)),
    ],
)
def test_a_window_that_never_opens_is_a_clear_error(hours: WorkingHours) -> None:
    agency = Agency(working_hours=hours)
    with pytest.raises(NoWorkingHoursError, match=r"agency\.working_hours"):
        next_working_start(local(2026, 3, 2, 12, 0), agency)


def test_holidays_covering_every_working_day_for_two_years_is_a_clear_error() -> None:
    agency = Agency(
        working_hours=WorkingHours(days=("mon",)),
        holidays=tuple(date.fromordinal(date(2026, 3, 2).toordinal() + 7 * i) for i in range(120)),
    )
    with pytest.raises(NoWorkingHoursError, match="holidays"):
        next_working_start(local(2026, 3, 1, 12, 0), agency)


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        (time(19, 59), False),
        (time(20, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_wrap_past_midnight(clock: time, quiet: bool) -> None:
    sms = Sms(quiet_hours=QuietHours(start=time(20), end=time(8)))
    now = datetime.combine(date(2026, 3, 2), clock, tzinfo=CHICAGO)
    assert in_quiet_hours(now, sms, CHICAGO) is quiet


def test_quiet_hours_within_one_day_and_empty_window() -> None:
    midday = Sms(quiet_hours=QuietHours(start=time(12), end=time(13)))
    assert in_quiet_hours(local(2026, 3, 2, 12, 30), midday, CHICAGO)
    assert not in_quiet_hours(local(2026, 3, 2, 13, 0), midday, CHICAGO)
    none = Sms(quiet_hours=QuietHours(start=time(9), end=time(9)))
    assert not in_quiet_hours(local(2026, 3, 2, 9, 0), none, CHICAGO)


def test_quiet_hours_use_the_given_time_zone() -> None:
    sms = Sms(quiet_hours=QuietHours(start=time(20), end=time(8)))
    utc_evening = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 19:00 in Chicago, 01:00 UTC
    assert not in_quiet_hours(utc_evening, sms, CHICAGO)
    assert in_quiet_hours(utc_evening, sms, ZoneInfo("UTC"))
