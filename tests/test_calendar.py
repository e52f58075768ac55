"""Working-day arithmetic against hand-checked dates, plus properties that must hold for any date."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow_app.services.calendar import CalendarError, WorkingCalendar

ENGLAND = WorkingCalendar("GB-ENG", "Europe/London")
SCOTLAND = WorkingCalendar("GB-SCT", "Europe/London")
WISCONSIN = WorkingCalendar("US-WI", "America/Chicago")


def at(cal: WorkingCalendar, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(cal.timezone))


@pytest.mark.parametrize("cal,start,days,expected", [
    # Christmas 2026: Fri 25 and Mon 28 (Boxing Day observed) are bank holidays in England.
    (ENGLAND, (2026, 12, 24, 10), 2, (2026, 12, 30, 10)),
    (ENGLAND, (2026, 12, 31, 10), 1, (2027, 1, 4, 10)),  # New Year's Day, Friday
    # Easter 2027: Good Friday 26 March, Easter Monday 29 March.
    (ENGLAND, (2027, 3, 25, 9), 1, (2027, 3, 30, 9)),
    # August bank holiday (England) Monday 31 August 2026; not a holiday in Scotland.
    (ENGLAND, (2026, 8, 28, 12), 1, (2026, 9, 1, 12)),
    (SCOTLAND, (2026, 8, 28, 12), 1, (2026, 8, 31, 12)),
    # 2 January is a bank holiday in Scotland (Monday 4 January 2027 in lieu), not in England.
    (SCOTLAND, (2026, 12, 31, 12), 1, (2027, 1, 5, 12)),
    (ENGLAND, (2026, 12, 31, 12), 2, (2027, 1, 5, 12)),
    # US Thanksgiving Thursday 26 November 2026 and the day after is not a federal holiday.
    (WISCONSIN, (2026, 11, 25, 9), 1, (2026, 11, 27, 9)),
    # Independence Day 2026 is a Saturday, observed Friday 3 July.
    (WISCONSIN, (2026, 7, 2, 9), 1, (2026, 7, 6, 9)),
    # Weekend: Friday + 2 working days is Tuesday.
    (ENGLAND, (2026, 12, 18, 15, 30), 2, (2026, 12, 22, 15, 30)),
    # DST: clocks go back on Sunday 25 October 2026; local time of day is kept, UTC offset changes.
    (ENGLAND, (2026, 10, 23, 9), 1, (2026, 10, 26, 9)),
])
def test_hand_checked_dates(cal, start, days, expected):
    result = cal.add_working_days(at(cal, *start), days)
    assert result == at(cal, *expected)
    assert result.utcoffset() == at(cal, *expected).utcoffset()


def test_dst_change_moves_the_utc_time():
    before = at(ENGLAND, 2026, 10, 23, 9)
    after = ENGLAND.add_working_days(before, 1)
    assert before.astimezone(timezone.utc).hour == 8
    assert after.astimezone(timezone.utc).hour == 9


def test_local_closure_days_are_not_working_days():
    closed = WorkingCalendar("GB-ENG", "Europe/London", frozenset({date(2026, 12, 24)}))
    assert closed.add_working_days(at(closed, 2026, 12, 23, 10), 1) == at(closed, 2026, 12, 29, 10)
    assert closed.holiday_name(date(2026, 12, 24)) == "Local closure"


def test_unknown_calendar_and_timezone_are_errors():
    with pytest.raises(CalendarError, match="Unknown holiday calendar 'ZZ'"):
        WorkingCalendar("ZZ", "Europe/London")
    with pytest.raises(CalendarError, match="Unknown timezone"):
        WorkingCalendar("GB-ENG", "Mars/Olympus")


moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                       timezones=st.just(timezone.utc))
calendars = st.sampled_from([ENGLAND, SCOTLAND, WISCONSIN])


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=moments, days=st.integers(min_value=1, max_value=40))
def test_result_is_always_a_working_day_and_counts_back(cal, start, days):
    due = cal.add_working_days(start, days)
    local_due = due.astimezone(cal.zone)
    assert cal.is_working_day(local_due.date())
    assert local_due.weekday() < 5
    # Counting starts the day after the start date, whether or not the start is a working day.
    assert cal.working_days_between(start, due) == days
    assert due > start


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=moments, days=st.integers(min_value=0, max_value=40))
def test_from_a_working_day_adding_then_counting_gives_n(cal, start, days):
    local = start.astimezone(cal.zone)
    while not cal.is_working_day(local.date()):
        local += timedelta(days=1)
    due = cal.add_working_days(local, days)
    assert cal.working_days_between(local, due) == days
    assert due.astimezone(cal.zone).time() == local.time()


@settings(max_examples=200, deadline=None)
@given(cal=calendars, start=moments, days=st.integers(min_value=1, max_value=20))
def test_more_days_never_earlier(cal, start, days):
    assert cal.add_working_days(start, days + 1) > cal.add_working_days(start, days)
