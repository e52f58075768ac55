"""FEEL's built-in functions (DMN 1.5 chapter 10.3.4), each returning null when its arguments do not fit."""
from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

from workflow_app import clock
from workflow_app.decisions import values as v
from workflow_app.decisions.values import FeelFunction, Range, YearsMonths, missing

BUILTINS: dict[str, FeelFunction] = {}


def builtin(name: str, *params: str, variadic: bool = False) -> Callable:
    """Register ``fn(**args)`` as a FEEL function; a parameter written ``"x?"`` is optional."""
    optional = sum(1 for p in params if p.endswith("?"))
    names = [p.rstrip("?") for p in params]

    def register(fn: Callable) -> Callable:
        def body(args: dict[str, Any]) -> Any:
            try:
                return fn(*[args.get(n) for n in names])
            except (ArithmeticError, ValueError, TypeError, OverflowError, IndexError, re.error, KeyError):
                return None
        existing = BUILTINS.get(name)
        function = FeelFunction(name, names, body, optional=optional, variadic=variadic)
        if existing is not None:  # overloads by arity / parameter names
            BUILTINS[name] = _overload(existing, function)
        else:
            BUILTINS[name] = function
        return fn
    return register


def _overload(first: FeelFunction, second: FeelFunction) -> FeelFunction:
    options = getattr(first, "overloads", [first]) + [second]

    def body(args: dict[str, Any]) -> Any:  # never called directly
        return None

    combined = FeelFunction(first.name, first.params, body)

    def call(positional: list | None = None, named: dict | None = None) -> Any:
        for option in options:
            if named is not None and set(named) <= set(option.params) and \
                    len(named) >= len(option.params) - option.optional:
                return option.call(None, named)
            if positional is not None and (option.variadic or
                                           len(option.params) - option.optional <= len(positional) <= len(option.params)):
                return option.call(positional, None)
        return None

    combined.call = call  # type: ignore[method-assign]
    combined.overloads = options  # type: ignore[attr-defined]
    return combined


def _given(value: Any) -> bool:
    return not missing(value)


def _is_num(*values: Any) -> bool:
    return all(isinstance(x, Decimal) and not isinstance(x, bool) for x in values)


def _is_int(value: Any) -> bool:
    return _is_num(value) and value == value.to_integral_value()


def _items(args: Any) -> list | None:
    """The list a list function works on: its single list argument or its arguments (``max(1, 2, 3)``)."""
    if isinstance(args, list) and len(args) == 1 and isinstance(args[0], list):
        return args[0]
    if isinstance(args, list):
        return args
    return None


# ---------------------------------------------------------------------------------------------- boolean

@builtin("not", "negand")
def _not(value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


@builtin("is", "value1", "value2")
def _is(a: Any, b: Any) -> Any:
    if v.kind(a) != v.kind(b):
        return False
    if isinstance(a, (dt.time, dt.datetime)) and a.tzinfo != b.tzinfo:
        return False
    return v.equal(a, b) is True


# ---------------------------------------------------------------------------------------------- conversion

@builtin("date", "from")
def _date_from(value: Any) -> Any:
    if isinstance(value, str):
        return v.parse_date(value)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None


@builtin("date", "year", "month", "day")
def _date(year: Any, month: Any, day: Any) -> Any:
    if not _is_num(year, month, day):
        return None
    return dt.date(int(year), int(month), int(day))


@builtin("time", "from")
def _time_from(value: Any) -> Any:
    if isinstance(value, str):
        return v.parse_time(value)
    if isinstance(value, dt.datetime):
        return value.timetz()
    if isinstance(value, dt.date):
        return dt.time(0, 0, 0, tzinfo=dt.timezone.utc)
    if isinstance(value, dt.time):
        return value
    return None


@builtin("time", "hour", "minute", "second", "offset?")
def _time(hour: Any, minute: Any, second: Any, offset: Any) -> Any:
    if not _is_num(hour, minute, second):
        return None
    tz = None
    if _given(offset) and offset is not None:
        if not isinstance(offset, dt.timedelta):
            return None
        tz = dt.timezone(offset)
    micro = int((second % 1) * 1000000)
    return dt.time(int(hour), int(minute), int(second), micro, tzinfo=tz)


@builtin("date and time", "from")
def _datetime_from(value: Any) -> Any:
    if isinstance(value, str):
        if "T" not in value:
            return None if not re.match(r"^-?\d{4,}-\d\d-\d\d$", value) else v.parse_datetime(value)
        return v.parse_datetime(value)
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return None


@builtin("date and time", "date", "time")
def _datetime(day: Any, moment: Any) -> Any:
    if not isinstance(day, dt.date) or not isinstance(moment, dt.time):
        return None
    return dt.datetime.combine(day if not isinstance(day, dt.datetime) else day.date(), moment, tzinfo=moment.tzinfo)


@builtin("duration", "from")
def _duration(text: Any) -> Any:
    return v.parse_duration(text) if isinstance(text, str) else None


@builtin("years and months duration", "from", "to")
def _ym_duration(start: Any, end: Any) -> Any:
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None
    return YearsMonths(v.months_between(start, end))


@builtin("number", "from", "grouping separator?", "decimal separator?")
def _number(text: Any, grouping: Any, decimal_sep: Any) -> Any:
    if not isinstance(text, str):
        return None
    grouping = None if missing(grouping) else grouping
    decimal_sep = None if missing(decimal_sep) else decimal_sep
    if grouping not in (None, " ", ",", ".") or decimal_sep not in (None, ",", "."):
        return None
    if grouping is not None and grouping == decimal_sep:
        return None
    if grouping:
        text = text.replace(grouping, "")
    if decimal_sep:
        text = text.replace(decimal_sep, ".")
    if not re.match(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$", text):
        return None
    return Decimal(text)


@builtin("string", "from")
def _string(value: Any) -> Any:
    return None if value is None else v.format_value(value)


@builtin("context", "entries")
def _context(entries: Any) -> Any:
    if not isinstance(entries, list):
        entries = [entries]
    result = {}
    for entry in entries:
        if not isinstance(entry, dict) or "key" not in entry or "value" not in entry or not isinstance(entry["key"], str):
            return None
        if entry["key"] in result:
            return None
        result[entry["key"]] = entry["value"]
    return result


# ---------------------------------------------------------------------------------------------- string

def _check_str(*values: Any) -> bool:
    return all(isinstance(x, str) for x in values)


@builtin("substring", "string", "start position", "length?")
def _substring(text: Any, start: Any, length: Any) -> Any:
    if not _check_str(text) or not _is_num(start) or start == 0:
        return None
    chars = list(text)  # code points
    begin = int(start) - 1 if start > 0 else len(chars) + int(start)
    if begin < 0 or begin > len(chars):
        begin = max(begin, 0)
    if _given(length):
        if not _is_num(length) or length < 0:
            return None
        return "".join(chars[begin:begin + int(length)])
    return "".join(chars[begin:])


@builtin("string length", "string")
def _string_length(text: Any) -> Any:
    return Decimal(len(text)) if _check_str(text) else None


@builtin("upper case", "string")
def _upper(text: Any) -> Any:
    return text.upper() if _check_str(text) else None


@builtin("lower case", "string")
def _lower(text: Any) -> Any:
    return text.lower() if _check_str(text) else None


@builtin("substring before", "string", "match")
def _before(text: Any, match: Any) -> Any:
    if not _check_str(text, match):
        return None
    index = text.find(match)
    return text[:index] if index >= 0 else ""


@builtin("substring after", "string", "match")
def _after(text: Any, match: Any) -> Any:
    if not _check_str(text, match):
        return None
    index = text.find(match)
    return text[index + len(match):] if index >= 0 else ""


def _regex(pattern: str, flags: Any) -> re.Pattern:
    """An XPath regular expression as a Python one (the common subset; flags s, m, i, x, q)."""
    options = 0
    flags = "" if flags is None or missing(flags) else flags
    if not isinstance(flags, str) or set(flags) - set("smixq"):
        raise ValueError("flags")
    if "q" in flags:
        pattern = re.escape(pattern)
    for flag, value in (("s", re.S), ("m", re.M), ("i", re.I), ("x", re.X)):
        if flag in flags:
            options |= value
    if re.search(r"\(\?[^:]", pattern) or re.search(r"\\[0-9]", pattern) and "(" not in pattern:
        raise ValueError("unsupported")
    pattern = pattern.replace(r"\p{L}", r"[^\W\d_]").replace(r"\p{Lu}", "[A-Z]").replace(r"\p{Ll}", "[a-z]")
    pattern = pattern.replace(r"\p{N}", r"\d").replace(r"\p{IsBasicLatin}", r"[\x00-\x7F]")
    return re.compile(pattern, options)


@builtin("replace", "input", "pattern", "replacement", "flags?")
def _replace(text: Any, pattern: Any, replacement: Any, flags: Any) -> Any:
    if not _check_str(text, pattern, replacement):
        return None
    compiled = _regex(pattern, flags)
    if compiled.match(""):
        return None
    python_replacement = re.sub(r"\$(\d)", r"\\g<\1>", replacement.replace("\\", "\\\\").replace("\\\\$", "$$"))
    python_replacement = python_replacement.replace("$$", "$")
    return compiled.sub(python_replacement, text)


@builtin("contains", "string", "match")
def _contains(text: Any, match: Any) -> Any:
    return (match in text) if _check_str(text, match) else None


@builtin("starts with", "string", "match")
def _starts(text: Any, match: Any) -> Any:
    return text.startswith(match) if _check_str(text, match) else None


@builtin("ends with", "string", "match")
def _ends(text: Any, match: Any) -> Any:
    return text.endswith(match) if _check_str(text, match) else None


@builtin("matches", "input", "pattern", "flags?")
def _matches(text: Any, pattern: Any, flags: Any) -> Any:
    if not _check_str(text, pattern):
        return None
    return _regex(pattern, flags).search(text) is not None


@builtin("split", "string", "delimiter")
def _split(text: Any, delimiter: Any) -> Any:
    if not _check_str(text, delimiter):
        return None
    return _regex(delimiter, None).split(text)


@builtin("string join", "list", "delimiter?", "prefix?", "suffix?")
def _join(items: Any, delimiter: Any, prefix: Any, suffix: Any) -> Any:
    if not isinstance(items, list) or not all(x is None or isinstance(x, str) for x in items):
        return None
    delimiter = "" if missing(delimiter) or delimiter is None else delimiter
    prefix = "" if missing(prefix) or prefix is None else prefix
    suffix = "" if missing(suffix) or suffix is None else suffix
    return prefix + delimiter.join(x for x in items if x is not None) + suffix


# ---------------------------------------------------------------------------------------------- list

@builtin("list contains", "list", "element")
def _list_contains(items: Any, element: Any) -> Any:
    if not isinstance(items, list):
        return None
    return any(v.equal(x, element) is True for x in items)


@builtin("count", "list", variadic=True)
def _count(items: Any) -> Any:
    items = _items(items)
    return Decimal(len(items)) if items is not None else None


def _ordered(items: list | None) -> list | None:
    if not items or any(x is None for x in items):
        return None
    first = items[0]
    if any(v.compare(first, x) is None for x in items):
        return None
    return items


def _extreme(items: Any, sign: int) -> Any:
    """The smallest (sign -1) or largest (sign 1) of comparable items; null when they cannot be compared."""
    items = _ordered(_items(items))
    if items is None:
        return None
    best = items[0]
    for x in items[1:]:
        if v.compare(x, best) * sign > 0:
            best = x
    return best


@builtin("min", "list", variadic=True)
def _min(items: Any) -> Any:
    return _extreme(items, -1)


@builtin("max", "list", variadic=True)
def _max(items: Any) -> Any:
    return _extreme(items, 1)


@builtin("sum", "list", variadic=True)
def _sum(items: Any) -> Any:
    items = _items(items)
    if items is None or not _is_num(*items):
        return None
    if not items:
        return None
    return v.num_op(lambda a, b: a + b, sum(items[:-1], Decimal(0)), items[-1])


@builtin("mean", "list", variadic=True)
def _mean(items: Any) -> Any:
    items = _items(items)
    if not items or not _is_num(*items):
        return None
    return v.num_op(lambda a, b: a / b, sum(items, Decimal(0)), Decimal(len(items)))


@builtin("median", "list", variadic=True)
def _median(items: Any) -> Any:
    items = _items(items)
    if not items or not _is_num(*items):
        return None
    ordered = sorted(items)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@builtin("stddev", "list", variadic=True)
def _stddev(items: Any) -> Any:
    items = _items(items)
    if not items or len(items) < 2 or not _is_num(*items):
        return None
    mean = sum(items, Decimal(0)) / len(items)
    variance = sum(((x - mean) ** 2 for x in items), Decimal(0)) / (len(items) - 1)
    return variance.sqrt(v.FEEL_CONTEXT)


@builtin("mode", "list", variadic=True)
def _mode(items: Any) -> Any:
    items = _items(items)
    if items is None or not _is_num(*items):
        return None
    if not items:
        return []
    counts: dict[Decimal, int] = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    top = max(counts.values())
    return sorted(x for x, n in counts.items() if n == top)


@builtin("product", "list", variadic=True)
def _product(items: Any) -> Any:
    items = _items(items)
    if not items or not _is_num(*items):
        return None
    result = Decimal(1)
    for x in items:
        result = v.num_op(lambda a, b: a * b, result, x)
    return result


@builtin("all", "list", variadic=True)
def _all(items: Any) -> Any:
    items = _items(items)
    if items is None:
        return None
    if any(x is False for x in items):
        return False
    return True if all(x is True for x in items) else None


@builtin("any", "list", variadic=True)
def _any(items: Any) -> Any:
    items = _items(items)
    if items is None:
        return None
    if any(x is True for x in items):
        return True
    return False if all(x is False for x in items) else None


@builtin("sublist", "list", "start position", "length?")
def _sublist(items: Any, start: Any, length: Any) -> Any:
    if not isinstance(items, list) or not _is_int(start) or start == 0:
        return None
    begin = int(start) - 1 if start > 0 else len(items) + int(start)
    if begin < 0 or begin >= len(items):
        return None
    if _given(length):
        if not _is_int(length) or begin + int(length) > len(items):
            return None
        return items[begin:begin + int(length)]
    return items[begin:]


@builtin("append", "list", "items", variadic=True)
def _append(items: Any, extra: Any) -> Any:
    if not isinstance(items, list):
        return None
    return items + list(extra)


@builtin("concatenate", "lists", variadic=True)
def _concatenate(lists: Any) -> Any:
    if not all(isinstance(x, list) for x in lists):
        return None
    return [item for part in lists for item in part]


@builtin("insert before", "list", "position", "newItem")
def _insert_before(items: Any, position: Any, new: Any) -> Any:
    if not isinstance(items, list) or not _is_int(position) or position == 0 or abs(position) > len(items):
        return None
    index = int(position) - 1 if position > 0 else len(items) + int(position)
    return items[:index] + [new] + items[index:]


@builtin("remove", "list", "position")
def _remove(items: Any, position: Any) -> Any:
    if not isinstance(items, list) or not _is_int(position) or position == 0 or abs(position) > len(items):
        return None
    index = int(position) - 1 if position > 0 else len(items) + int(position)
    return items[:index] + items[index + 1:]


@builtin("reverse", "list")
def _reverse(items: Any) -> Any:
    return list(reversed(items)) if isinstance(items, list) else None


@builtin("index of", "list", "match")
def _index_of(items: Any, match: Any) -> Any:
    if not isinstance(items, list):
        return None
    return [Decimal(i + 1) for i, x in enumerate(items) if v.equal(x, match) is True]


def _distinct(items: list) -> list:
    result: list = []
    for x in items:
        if not any(v.equal(x, y) is True for y in result):
            result.append(x)
    return result


@builtin("union", "lists", variadic=True)
def _union(lists: Any) -> Any:
    if not all(isinstance(x, list) for x in lists):
        return None
    return _distinct([item for part in lists for item in part])


@builtin("distinct values", "list")
def _distinct_values(items: Any) -> Any:
    return _distinct(items) if isinstance(items, list) else None


@builtin("duplicate values", "list")
def _duplicates(items: Any) -> Any:
    if not isinstance(items, list):
        return None
    return _distinct([x for i, x in enumerate(items) if any(v.equal(x, y) is True for y in items[:i])])


@builtin("flatten", "list")
def _flatten(items: Any) -> Any:
    if not isinstance(items, list):
        return None
    result: list = []
    for x in items:
        if isinstance(x, list):
            result.extend(_flatten(x))
        else:
            result.append(x)
    return result


@builtin("sort", "list", "precedes?")
def _sort(items: Any, precedes: Any) -> Any:
    if not isinstance(items, list):
        return None
    if missing(precedes) or precedes is None:
        if _ordered(items) is None and items:
            return None
        import functools
        return sorted(items, key=functools.cmp_to_key(lambda a, b: v.compare(a, b)))
    if not isinstance(precedes, FeelFunction):
        return None
    import functools

    def order(a: Any, b: Any) -> int:
        if precedes.call([a, b]) is True:
            return -1
        if precedes.call([b, a]) is True:
            return 1
        return 0
    return sorted(items, key=functools.cmp_to_key(order))


@builtin("list replace", "list", "position", "newItem")
def _list_replace(items: Any, position: Any, new: Any) -> Any:
    if not isinstance(items, list):
        return None
    if isinstance(position, FeelFunction):
        return [new if position.call([x, new]) is True else x for x in items]
    if not _is_int(position) or position == 0 or abs(position) > len(items):
        return None
    index = int(position) - 1 if position > 0 else len(items) + int(position)
    return items[:index] + [new] + items[index + 1:]


# ---------------------------------------------------------------------------------------------- numeric

def _scaled(n: Any, scale: Any, rounding: str) -> Any:
    if not _is_num(n) or not _is_int(scale) or not -6111 <= scale <= 6176:
        return None
    return n.quantize(Decimal(1).scaleb(-int(scale)), rounding=rounding, context=v.FEEL_CONTEXT)


@builtin("decimal", "n", "scale")
def _decimal(n: Any, scale: Any) -> Any:
    return _scaled(n, scale, ROUND_HALF_EVEN)


@builtin("floor", "n", "scale?")
def _floor(n: Any, scale: Any) -> Any:
    return _scaled(n, Decimal(0) if missing(scale) else scale, ROUND_FLOOR)


@builtin("ceiling", "n", "scale?")
def _ceiling(n: Any, scale: Any) -> Any:
    return _scaled(n, Decimal(0) if missing(scale) else scale, ROUND_CEILING)


@builtin("round up", "n", "scale")
def _round_up(n: Any, scale: Any) -> Any:
    return _scaled(n, scale, ROUND_UP)


@builtin("round down", "n", "scale")
def _round_down(n: Any, scale: Any) -> Any:
    return _scaled(n, scale, ROUND_DOWN)


@builtin("round half up", "n", "scale")
def _round_half_up(n: Any, scale: Any) -> Any:
    return _scaled(n, scale, ROUND_HALF_UP)


@builtin("round half down", "n", "scale")
def _round_half_down(n: Any, scale: Any) -> Any:
    return _scaled(n, scale, ROUND_HALF_DOWN)


@builtin("abs", "n")
def _abs(n: Any) -> Any:
    if _is_num(n):
        return abs(n)
    if isinstance(n, dt.timedelta):
        return abs(n)
    if isinstance(n, YearsMonths):
        return YearsMonths(abs(n.months))
    return None


@builtin("modulo", "dividend", "divisor")
def _modulo(dividend: Any, divisor: Any) -> Any:
    if not _is_num(dividend, divisor) or divisor == 0:
        return None
    with_context = v.FEEL_CONTEXT
    quotient = (dividend / divisor).to_integral_value(rounding=ROUND_FLOOR)
    return with_context.subtract(dividend, with_context.multiply(divisor, quotient))


@builtin("sqrt", "number")
def _sqrt(n: Any) -> Any:
    if not _is_num(n) or n < 0:
        return None
    return n.sqrt(v.FEEL_CONTEXT)


@builtin("log", "number")
def _log(n: Any) -> Any:
    if not _is_num(n) or n <= 0:
        return None
    return n.ln(v.FEEL_CONTEXT)


@builtin("exp", "number")
def _exp(n: Any) -> Any:
    return n.exp(v.FEEL_CONTEXT) if _is_num(n) else None


@builtin("odd", "number")
def _odd(n: Any) -> Any:
    return (int(n) % 2 == 1) if _is_int(n) else None


@builtin("even", "number")
def _even(n: Any) -> Any:
    return (int(n) % 2 == 0) if _is_int(n) else None


@builtin("random number")
def _random() -> Any:
    import secrets
    return Decimal(secrets.randbelow(10**9)) / Decimal(10**9)


# ---------------------------------------------------------------------------------------------- context

@builtin("get value", "m", "key")
def _get_value(context: Any, key: Any) -> Any:
    if not isinstance(context, dict) or not isinstance(key, str):
        return None
    return context.get(key)


@builtin("get entries", "m")
def _get_entries(context: Any) -> Any:
    if not isinstance(context, dict):
        return None
    return [{"key": k, "value": x} for k, x in context.items()]


@builtin("context put", "context", "key", "value")
def _context_put(context: Any, key: Any, value: Any) -> Any:
    if not isinstance(context, dict):
        return None
    if isinstance(key, str):
        result = dict(context)
        result[key] = value
        return result
    if isinstance(key, list) and key and all(isinstance(k, str) for k in key):
        if len(key) == 1:
            return _context_put(context, key[0], value)
        inner = context.get(key[0])
        if not isinstance(inner, dict):
            return None
        nested = _context_put(inner, key[1:], value)
        return None if nested is None else {**context, key[0]: nested}
    return None


@builtin("context put", "context", "keys", "value")
def _context_put_keys(context: Any, keys: Any, value: Any) -> Any:
    return _context_put(context, keys, value)


@builtin("context merge", "contexts")
def _context_merge(contexts: Any) -> Any:
    if not isinstance(contexts, list) or not all(isinstance(c, dict) for c in contexts):
        return None
    result: dict = {}
    for c in contexts:
        result.update(c)
    return result


# ---------------------------------------------------------------------------------------------- temporal

@builtin("now")
def _now() -> Any:
    return clock.now().astimezone(dt.timezone.utc)


@builtin("today")
def _today() -> Any:
    return clock.now().date()


@builtin("day of year", "date")
def _day_of_year(day: Any) -> Any:
    return Decimal(day.timetuple().tm_yday) if isinstance(day, dt.date) else None


@builtin("day of week", "date")
def _day_of_week(day: Any) -> Any:
    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    return names[day.weekday()] if isinstance(day, dt.date) else None


@builtin("month of year", "date")
def _month_of_year(day: Any) -> Any:
    names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
    return names[day.month - 1] if isinstance(day, dt.date) else None


@builtin("week of year", "date")
def _week_of_year(day: Any) -> Any:
    return Decimal(day.isocalendar()[1]) if isinstance(day, dt.date) else None


# ---------------------------------------------------------------------------------------------- ranges

def _as_range(value: Any) -> Range | None:
    if isinstance(value, Range):
        return value
    if value is None or isinstance(value, (list, dict)):
        return None
    return Range(value, value, True, True)


def _point_or_range(fn: Callable[[Range, Range], bool | None]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        x, y = _as_range(a), _as_range(b)
        if x is None or y is None:
            return None
        return fn(x, y)
    return run


def _cmp(a: Any, b: Any) -> int:
    result = v.compare(a, b)
    if result is None:
        raise TypeError("not comparable")
    return result


def _before_fn(a: Range, b: Range) -> bool:
    order = _cmp(a.end, b.start)
    return order < 0 or (order == 0 and not (a.end_included and b.start_included))


def _meets_fn(a: Range, b: Range) -> bool:
    return a.end_included and b.start_included and _cmp(a.end, b.start) == 0


def _overlaps_fn(a: Range, b: Range) -> bool:
    return not _before_fn(a, b) and not _before_fn(b, a)


def _overlaps_before_fn(a: Range, b: Range) -> bool:
    start = _cmp(a.start, b.start)
    end_start = _cmp(a.end, b.start)
    end = _cmp(a.end, b.end)
    return ((start < 0 or (start == 0 and a.start_included and not b.start_included))
            and (end_start > 0 or (end_start == 0 and a.end_included and b.start_included))
            and (end < 0 or (end == 0 and (not a.end_included or b.end_included))))


def _finishes_fn(a: Range, b: Range) -> bool:
    if a.start == a.end and a.start_included and a.end_included:  # a point
        return b.end_included and _cmp(a.start, b.end) == 0
    return (a.end_included == b.end_included and _cmp(a.end, b.end) == 0
            and (_cmp(a.start, b.start) > 0 or (_cmp(a.start, b.start) == 0 and (not a.start_included or b.start_included))))


def _includes_fn(a: Range, b: Range) -> bool:
    start = _cmp(a.start, b.start)
    end = _cmp(a.end, b.end)
    return ((start < 0 or (start == 0 and (a.start_included or not b.start_included)))
            and (end > 0 or (end == 0 and (a.end_included or not b.end_included))))


def _starts_fn(a: Range, b: Range) -> bool:
    if a.start == a.end and a.start_included and a.end_included:
        return b.start_included and _cmp(a.start, b.start) == 0
    return (a.start_included == b.start_included and _cmp(a.start, b.start) == 0
            and (_cmp(a.end, b.end) < 0 or (_cmp(a.end, b.end) == 0 and (not a.end_included or b.end_included))))


def _coincides_fn(a: Range, b: Range) -> bool:
    return (_cmp(a.start, b.start) == 0 and _cmp(a.end, b.end) == 0 and a.start_included == b.start_included
            and a.end_included == b.end_included)


for _name, _fn, _params in (
        ("before", _before_fn, ("point1", "point2", "range", "range1", "range2")),
        ("after", lambda a, b: _before_fn(b, a), ("point1", "point2", "range", "range1", "range2")),
        ("meets", _meets_fn, ("range1", "range2")),
        ("met by", lambda a, b: _meets_fn(b, a), ("range1", "range2")),
        ("overlaps", _overlaps_fn, ("range1", "range2")),
        ("overlaps before", _overlaps_before_fn, ("range1", "range2")),
        ("overlaps after", lambda a, b: _overlaps_before_fn(b, a), ("range1", "range2")),
        ("finishes", _finishes_fn, ("point", "range", "range1", "range2")),
        ("finished by", lambda a, b: _finishes_fn(b, a), ("range", "point", "range1", "range2")),
        ("includes", _includes_fn, ("range", "point", "range1", "range2")),
        ("during", lambda a, b: _includes_fn(b, a), ("point", "range", "range1", "range2")),
        ("starts", _starts_fn, ("point", "range", "range1", "range2")),
        ("started by", lambda a, b: _starts_fn(b, a), ("range", "point", "range1", "range2")),
        ("coincides", _coincides_fn, ("point1", "point2", "range1", "range2")),
):
    _runner = _point_or_range(_fn)
    _pairs = [("range1", "range2")]
    if _name in ("before", "after"):
        _pairs = [("point1", "point2"), ("point", "range"), ("range", "point"), ("range1", "range2")]
    if _name in ("coincides",):
        _pairs = [("point1", "point2"), ("range1", "range2")]
    if _name in ("finishes", "during", "starts"):
        _pairs = [("point", "range"), ("range1", "range2")]
    if _name in ("finished by", "includes", "started by"):
        _pairs = [("range", "point"), ("range1", "range2")]
    for _pair in _pairs:
        builtin(_name, *_pair)(lambda a, b, _r=_runner: _r(a, b))


@builtin("range", "from")
def _range_from(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    from workflow_app.decisions.feel import FeelSyntaxError, compile_expression
    try:
        value = compile_expression(text).evaluate({})
    except FeelSyntaxError:
        return None
    if not isinstance(value, Range):
        return None
    for endpoint in (value.start, value.end):
        if endpoint is not None and v.kind(endpoint) not in ("number", "string", "date", "time", "date and time",
                                                               "days and time duration",
                                                               "years and months duration"):
            return None
    return value


def _unused() -> tuple:  # keep imports used by type checkers
    return (math, statistics, ZoneInfo)
