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
DEFAULT_OFFICE_HOURS = "09:00-17:00"


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
    office_hours: str = DEFAULT_OFFICE_HOURS

    def __post_init__(self) -> None:
        _holiday_source(self.code)
        _zone(self.timezone)
        _parse_office_hours(self.office_hours)

    @property
    def office_open(self) -> time:
        return _parse_office_hours(self.office_hours)[0]

    @property
    def office_close(self) -> time:
        return _parse_office_hours(self.office_hours)[1]

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

    def end_of_working_day(self, start: datetime, days: int = 0) -> datetime:
        """Office closing time on the ``days``-th working day after ``start``'s date.

        ``days == 0`` is the end of today when today is a working day and the office is still open,
        otherwise the end of the next working day.
        """
        if days < 0:
            raise ValueError("working days must not be negative")
        local = as_utc(start).astimezone(self.zone)
        day = local.date()
        if days == 0:
            if not self.is_working_day(day) or local.time().replace(tzinfo=None) >= self.office_close:
                day = self.next_working_day(day)
        for _ in range(days):
            day = self.next_working_day(day)
        return self._local(day, self.office_close)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """``start`` plus ``hours`` of office time (office hours on working days only)."""
        if hours < 0:
            raise ValueError("working hours must not be negative")
        local = as_utc(start).astimezone(self.zone)
        day, at = local.date(), local.time().replace(tzinfo=None)
        if not self.is_working_day(day) or at >= self.office_close:
            day, at = self.next_working_day(day), self.office_open
        elif at < self.office_open:
            at = self.office_open
        remaining = timedelta(hours=hours)
        while True:
            left_today = datetime.combine(day, self.office_close) - datetime.combine(day, at)
            if remaining <= left_today:
                return self._local(day, (datetime.combine(day, at) + remaining).time())
            remaining -= left_today
            day, at = self.next_working_day(day), self.office_open

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


@lru_cache(maxsize=32)
def _parse_office_hours(spec: str) -> tuple[time, time]:
    try:
        opening, closing = (time.fromisoformat(part.strip()) for part in spec.split("-"))
    except ValueError:
        raise CalendarError(f"Office hours must look like 09:00-17:00, not '{spec}'") from None
    if opening >= closing:
        raise CalendarError(f"Office hours '{spec}' close before they open")
    return opening, closing


@lru_cache(maxsize=256)
def calendar_for(code: str | None, timezone: str | None, closures: frozenset[date] = frozenset(),
                 office_hours: str | None = None) -> WorkingCalendar:
    """The calendar for these settings; calendars are immutable, so each is made once per process."""
    return WorkingCalendar(code or DEFAULT_CALENDAR, timezone or DEFAULT_TIMEZONE, closures,
                           office_hours or DEFAULT_OFFICE_HOURS)
