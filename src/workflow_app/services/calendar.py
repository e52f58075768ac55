"""Working-day calendars: weekends and public holidays per jurisdiction, via the `holidays` package.

A calendar is named by a code such as ``GB-ENG`` (England and Wales bank holidays), ``GB-SCT`` or
``US-WI``: country, then optional subdivision. Deadlines keep the time of day they were set at and
move forward one working day at a time, so "2 working days" from Friday 10:00 is Tuesday 10:00.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from workflow_app.clock import as_utc

DEFAULT_CALENDAR = "GB-ENG"
DEFAULT_TIMEZONE = "Europe/London"


class CalendarError(ValueError):
    """An unknown calendar code or timezone."""


@lru_cache(maxsize=64)
def _holiday_source(code: str) -> holidays.HolidayBase:
    country, _, subdivision = code.partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except (NotImplementedError, KeyError) as exc:
        raise CalendarError(f"Unknown holiday calendar '{code}': use a country code with an optional "
                            f"subdivision, e.g. GB-ENG, GB-SCT, US-WI") from exc


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise CalendarError(f"Unknown timezone '{name}'") from exc


@dataclass(frozen=True)
class WorkingCalendar:
    """Working-day arithmetic for one jurisdiction, in one timezone.

    ``closures`` are extra non-working dates a deployment adds (an office closed on 24 December).
    """

    code: str = DEFAULT_CALENDAR
    timezone: str = DEFAULT_TIMEZONE
    closures: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _holiday_source(self.code)
        _zone(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def holiday_name(self, day: date) -> str | None:
        if day in self.closures:
            return "Local closure"
        return _holiday_source(self.code).get(day)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """``start`` moved forward by ``days`` working days, keeping the local time of day.

        Only working days are counted, so a result never falls on a weekend or holiday; with
        ``days == 0`` a start on a non-working day moves to the next working day.
        """
        if days < 0:
            raise ValueError("working days must not be negative")
        local = as_utc(start).astimezone(self.zone)
        day = local.date()
        if days == 0 and not self.is_working_day(day):
            day = self.next_working_day(day)
        for _ in range(days):
            day = self.next_working_day(day)
        return self._local(day, local.time().replace(tzinfo=None))

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Whole working days from ``start``'s date to ``end``'s date (negative when end is earlier)."""
        a = as_utc(start).astimezone(self.zone).date()
        b = as_utc(end).astimezone(self.zone).date()
        sign = 1
        if b < a:
            a, b, sign = b, a, -1
        count, day = 0, a
        while day < b:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return sign * count

    def _local(self, day: date, at: time) -> datetime:
        # ZoneInfo resolves a wall-clock time on a DST change day to the right offset.
        return datetime.combine(day, at, tzinfo=self.zone)


def calendar_for(code: str | None, timezone: str | None,
                 closures: frozenset[date] = frozenset()) -> WorkingCalendar:
    return WorkingCalendar(code or DEFAULT_CALENDAR, timezone or DEFAULT_TIMEZONE, closures)
