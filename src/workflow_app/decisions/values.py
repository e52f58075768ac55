"""FEEL values and the operations on them (DMN 1.3–1.5 semantics).

FEEL types map onto Python values as follows: number → ``decimal.Decimal``; string → ``str``; boolean →
``bool``; null → ``None``; list → ``list``; context → ``dict``; date → ``datetime.date``; time →
``datetime.time`` (optionally with a tzinfo); date and time → ``datetime.datetime``; days and time duration
→ ``datetime.timedelta``; years and months duration → :class:`YearsMonths`; range → :class:`Range`;
function → :class:`FeelFunction` (or a built-in).

Every operation returns ``None`` (null) when its operands do not fit, instead of raising: that is how
FEEL reports errors inside an expression.
"""
from __future__ import annotations

import calendar
import datetime as dt
import decimal
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

FEEL_CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emin=-6143, Emax=6144,
                               traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


@dataclass(frozen=True, order=True)
class YearsMonths:
    """A years and months duration, kept as a signed number of months."""

    months: int

    def __str__(self) -> str:
        sign = "-" if self.months < 0 else ""
        years, months = divmod(abs(self.months), 12)
        if not years and not months:
            return "P0M"
        return sign + "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")


@dataclass(frozen=True)
class Range:
    """An interval; an endpoint of ``None`` is unbounded (``< 5`` is ``Range(None, 5, False, False)``)."""

    start: Any
    end: Any
    start_included: bool
    end_included: bool

    def contains(self, value: Any) -> bool | None:
        if value is None:
            return None
        if self.start is not None:
            low = compare(value, self.start)
            if low is None:
                return None
            if low < 0 or (low == 0 and not self.start_included):
                return False
        if self.end is not None:
            high = compare(value, self.end)
            if high is None:
                return None
            if high > 0 or (high == 0 and not self.end_included):
                return False
        return True


@dataclass
class FeelFunction:
    """A function value: user-defined (``function(a, b) a + b``), a business knowledge model or a built-in."""

    name: str
    params: list[str]
    body: Callable[..., Any]  # called with a dict of named arguments
    optional: int = 0  # how many trailing params may be omitted
    variadic: bool = False  # the last param takes the remaining positional arguments as a list
    param_types: list[str | None] | None = None

    def call(self, positional: list[Any] | None = None, named: dict[str, Any] | None = None) -> Any:
        if named is not None:
            unknown = set(named) - set(self.params)
            if unknown:
                return None
            required = len(self.params) - self.optional
            args = {p: named[p] if p in named else (None if i < required else _MISSING)
                    for i, p in enumerate(self.params)}
            return self.body(args)
        positional = positional or []
        count = len(self.params)
        if self.variadic:
            fixed = count - 1
            if len(positional) < fixed:
                return None
            args = dict(zip(self.params[:fixed], positional[:fixed]))
            args[self.params[-1]] = list(positional[fixed:])
            args["__varargs__"] = True
            return self.body(args)
        if len(positional) > count or len(positional) < count - self.optional:
            return None
        args = dict(zip(self.params, positional))
        for extra in self.params[len(positional):]:
            args[extra] = _MISSING
        return self.body(args)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def missing(value: Any) -> bool:
    """Whether an optional argument was left out (as opposed to given as null)."""
    return value is _MISSING


# ---------------------------------------------------------------------------------------------- kinds

def is_number(value: Any) -> bool:
    return isinstance(value, Decimal)


def is_datetime(value: Any) -> bool:
    return isinstance(value, dt.datetime)


def is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def kind(value: Any) -> str:
    """The FEEL type name of a value."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "date and time"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time"
    if isinstance(value, dt.timedelta):
        return "days and time duration"
    if isinstance(value, YearsMonths):
        return "years and months duration"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "context"
    if isinstance(value, Range):
        return "range"
    if isinstance(value, FeelFunction) or callable(value):
        return "function"
    return "Any"


# ---------------------------------------------------------------------------------------------- numbers

def number(value: Any) -> Decimal:
    """A Python number as a FEEL number."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return FEEL_CONTEXT.create_decimal(repr(value))


def num_op(op: Callable[[Decimal, Decimal], Decimal], a: Decimal, b: Decimal) -> Decimal | None:
    try:
        with decimal.localcontext(FEEL_CONTEXT):
            result = op(a, b)
        return result if result.is_finite() else None
    except (decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, ZeroDivisionError):
        return None


def format_number(value: Decimal) -> str:
    if value == 0:
        return "0"
    text = format(value.normalize(FEEL_CONTEXT), "f")
    return text


# ---------------------------------------------------------------------------------------------- comparison

def _comparable(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if kind(a) != kind(b):
        return False
    return True


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 for ordered values of the same type; None when they cannot be ordered."""
    if a is None or b is None or not _comparable(a, b) or isinstance(a, bool):
        return None
    if isinstance(a, (Decimal, str, dt.date, dt.timedelta, YearsMonths)) or isinstance(a, dt.time):
        try:
            if isinstance(a, dt.time):
                a, b = _time_key(a), _time_key(b)
                if a is None or b is None:
                    return None
            return (a > b) - (a < b)
        except TypeError:
            return None
    return None


def _time_key(value: dt.time) -> Any:
    if value.tzinfo is None:
        return dt.datetime.combine(dt.date(2000, 1, 1), value)
    offset = value.utcoffset()
    if offset is None:
        offset = value.tzinfo.utcoffset(dt.datetime.combine(dt.date(2000, 1, 1), value.replace(tzinfo=None)))
    return dt.datetime.combine(dt.date(2000, 1, 1), value.replace(tzinfo=None)) - offset


def equal(a: Any, b: Any) -> bool | None:
    """FEEL ``=``: null equals only null; values of different types are not comparable (null)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        result: bool | None = True
        for x, y in zip(a, b):
            same = equal(x, y)
            if same is False:
                return False
            if same is None:
                result = None
        return result
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False
        for key in a:
            same = equal(a[key], b[key])
            if not same:
                return same
        return True
    if isinstance(a, Range) and isinstance(b, Range):
        return (a.start_included == b.start_included and a.end_included == b.end_included
                and equal(a.start, b.start) is not False and equal(a.end, b.end) is not False)
    if kind(a) != kind(b):
        return None
    if isinstance(a, dt.time):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return _time_key(a) == _time_key(b)
    if isinstance(a, dt.datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return a == b
    if isinstance(a, (FeelFunction,)):
        return a is b
    return a == b


# ---------------------------------------------------------------------------------------------- temporal

_DATE_RE = re.compile(r"^(-?\d{4,9})-(\d\d)-(\d\d)$")
_TIME_RE = re.compile(r"^(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d(?::\d\d)?)?(?:@(.+))?$")
_DURATION_RE = re.compile(r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_date(text: str) -> dt.date | None:
    match = _DATE_RE.match(text)
    if not match:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _tz(offset: str | None, zone: str | None) -> dt.tzinfo | None:
    if zone:
        try:
            return ZoneInfo(zone)
        except (KeyError, ValueError, OSError):
            raise ValueError(zone) from None
    if offset is None:
        return None
    if offset == "Z":
        return dt.timezone.utc
    sign = -1 if offset[0] == "-" else 1
    parts = [int(p) for p in offset[1:].split(":")]
    delta = dt.timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2] if len(parts) > 2 else 0)
    if delta > dt.timedelta(hours=14):
        raise ValueError(offset)
    return dt.timezone(sign * delta)


def parse_time(text: str) -> dt.time | None:
    match = _TIME_RE.match(text)
    if not match:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3))
    micro = int((match.group(4) or ".0")[1:].ljust(6, "0")[:6])
    if match.group(5) and match.group(6):
        return None
    try:
        tz = _tz(match.group(5), match.group(6))
        if hour == 24 and minute == 0 and second == 0 and micro == 0:
            hour = 0
        return dt.time(hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None


def parse_datetime(text: str) -> dt.datetime | None:
    if "T" not in text:
        day = parse_date(text)
        return dt.datetime(day.year, day.month, day.day) if day else None
    date_part, time_part = text.split("T", 1)
    day, moment = parse_date(date_part), parse_time(time_part)
    if day is None or moment is None:
        return None
    if time_part.startswith("24:00:00"):
        day = day + dt.timedelta(days=1)
    return dt.datetime.combine(day, moment, tzinfo=moment.tzinfo)


def parse_duration(text: str) -> dt.timedelta | YearsMonths | None:
    match = _DURATION_RE.match(text.strip())
    if not match or text.strip().rstrip("T").endswith("P") or text.strip().endswith("T"):
        return None
    sign, years, months, days, hours, minutes, seconds = match.groups()
    negative = -1 if sign else 1
    if years is not None or months is not None:
        if any(x is not None for x in (days, hours, minutes, seconds)):
            return None
        return YearsMonths(negative * (int(years or 0) * 12 + int(months or 0)))
    seconds_value = Decimal(seconds or "0")
    delta = dt.timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                         seconds=int(seconds_value), microseconds=int((seconds_value % 1) * 1000000))
    return -delta if sign else delta


def format_duration(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    days = value.days
    seconds = value.seconds
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if secs or value.microseconds:
        if value.microseconds:
            clock += format_number(Decimal(secs) + Decimal(value.microseconds) / Decimal(1000000)) + "S"
        else:
            clock += f"{secs}S"
    if clock:
        text += "T" + clock
    if text == "P":
        return "PT0S"
    return sign + text


def _format_offset(tz: dt.tzinfo | None, sample: dt.datetime | None) -> str:
    if tz is None:
        return ""
    if isinstance(tz, ZoneInfo):
        return "@" + tz.key
    offset = tz.utcoffset(sample)
    if offset == dt.timedelta(0):
        return "Z"
    sign = "-" if offset < dt.timedelta(0) else "+"
    offset = abs(offset)
    hours, rest = divmod(offset.seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}"
    if rest % 60:
        text += f":{rest % 60:02d}"
    return text


def format_time(value: dt.time) -> str:
    text = value.replace(tzinfo=None).isoformat()
    return text + _format_offset(value.tzinfo, None)


def format_value(value: Any) -> str:
    """FEEL ``string()`` of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        day = format_value(value.date())
        return f"{day}T{value.replace(tzinfo=None).time().isoformat()}{_format_offset(value.tzinfo, value)}"
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, dt.time):
        return format_time(value)
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, YearsMonths):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_quoted(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_quoted(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Range):
        return (("[" if value.start_included else "(") + _quoted(value.start) + ".." + _quoted(value.end)
                + ("]" if value.end_included else ")"))
    return "function"


def _quoted(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return format_value(value)


def add_months(value: dt.date, months: int) -> dt.date | None:
    total = value.year * 12 + (value.month - 1) + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        return None
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from start to end (negative when end is earlier), as FEEL's ``years and months duration``."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    start_rest = (start.day, start.time() if isinstance(start, dt.datetime) else dt.time())
    end_rest = (end.day, end.time() if isinstance(end, dt.datetime) else dt.time())
    if months > 0 and end_rest < start_rest:
        months -= 1
    elif months < 0 and end_rest > start_rest:
        months += 1
    return months


def as_datetime(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def to_feel(value: Any) -> Any:
    """A Python value (task data, test input) as a FEEL value: ints and floats become Decimals, tuples lists."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, (list, tuple)):
        return [to_feel(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_feel(v) for k, v in value.items()}
    return value


def to_python(value: Any) -> Any:
    """A FEEL value as plain Python: whole Decimals become ints, others floats (for task data)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    return value
