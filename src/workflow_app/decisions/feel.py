"""A FEEL interpreter: Lark parses the text, and the tree is compiled into Python closures.

Nothing here hands text to Python's ``eval``/``exec``: an expression can only do what the closures below do.

Usage::

    expr = compile_expression('if age >= 18 then "adult" else "minor"')
    expr.evaluate({"age": Decimal(20)})            # -> "adult"
    tests = compile_unary_tests('"A","B"')
    tests.matches("A", {})                          # -> True
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from typing import Any, Callable

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from workflow_app.decisions import values as v
from workflow_app.decisions.grammar import FEEL_GRAMMAR
from workflow_app.decisions.values import FeelFunction, Range, YearsMonths

Node = Callable[["Scope"], Any]


class FeelSyntaxError(ValueError):
    """Text that is not a FEEL expression; ``str()`` is a plain sentence, ``column`` is 1-based."""

    def __init__(self, message: str, text: str, column: int | None = None, line: int | None = None):
        self.message = message
        self.text = text
        self.column = column
        self.line = line
        super().__init__(message)


class Scope:
    """Variables visible to an expression: a dict, then the enclosing scopes, then the built-in functions."""

    __slots__ = ("variables", "parent")

    def __init__(self, variables: dict[str, Any] | None = None, parent: Scope | None = None):
        self.variables = variables if variables is not None else {}
        self.parent = parent

    def lookup(self, name: str) -> tuple[bool, Any]:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.variables:
                return True, scope.variables[name]
            scope = scope.parent
        from workflow_app.decisions.builtins import BUILTINS
        if name in BUILTINS:
            return True, BUILTINS[name]
        return False, None

    def child(self, variables: dict[str, Any]) -> Scope:
        return Scope(variables, self)


def _name(tree: Any) -> str:
    return " ".join(str(token) for token in tree.children) if hasattr(tree, "children") else str(tree)


def _unescape(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body

    def replace(match: re.Match) -> str:
        escape = match.group(0)
        simple = {"\\n": "\n", "\\t": "\t", "\\r": "\r", '\\"': '"', "\\'": "'", "\\\\": "\\"}
        if escape in simple:
            return simple[escape]
        if escape.startswith("\\u") or escape.startswith("\\U"):
            return chr(int(escape[2:], 16))
        return escape

    text = re.sub(r"\\U[0-9a-fA-F]{6}|\\u[0-9a-fA-F]{4}|\\.", replace, body)
    # join UTF-16 surrogate pairs written as two \u escapes
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


# ---------------------------------------------------------------------------------------------- arithmetic

def add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return v.num_op(lambda x, y: x + y, a, b)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, (dt.timedelta, YearsMonths)) and not isinstance(b, (dt.timedelta, YearsMonths)):
        a, b = b, a
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta):
        return a + b
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
        return YearsMonths(a.months + b.months)
    if isinstance(a, dt.date) and isinstance(b, YearsMonths):
        return v.add_months(a, b.months)
    if isinstance(a, dt.date) and isinstance(b, dt.timedelta):
        try:
            if isinstance(a, dt.datetime):
                return _shift(a, b)
            return (v.as_datetime(a) + b).date()
        except OverflowError:
            return None
    if isinstance(a, dt.time) and isinstance(b, dt.timedelta):
        moment = dt.datetime.combine(dt.date(2000, 1, 1), a.replace(tzinfo=None)) + b
        return moment.time().replace(tzinfo=a.tzinfo)
    return None


def _shift(moment: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """Add a duration as elapsed time (across a daylight-saving change in a named zone too)."""
    if moment.tzinfo is None:
        return moment + delta
    utc = moment.astimezone(dt.timezone.utc) + delta
    return utc.astimezone(moment.tzinfo)


def negate(a: Any) -> Any:
    if isinstance(a, Decimal) and not isinstance(a, bool):
        return -a
    if isinstance(a, dt.timedelta):
        return -a
    if isinstance(a, YearsMonths):
        return YearsMonths(-a.months)
    return None


def subtract(a: Any, b: Any) -> Any:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return v.num_op(lambda x, y: x - y, a, b)
    if isinstance(a, dt.date) and isinstance(b, dt.date) and not isinstance(a, dt.datetime) and not isinstance(b, dt.datetime):
        return v.as_datetime(a) - v.as_datetime(b)
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        x, y = v.as_datetime(a), v.as_datetime(b)
        if (x.tzinfo is None) != (y.tzinfo is None):
            return None
        return x - y
    if isinstance(a, dt.time) and isinstance(b, dt.time):
        x, y = v._time_key(a), v._time_key(b)
        try:
            return x - y
        except TypeError:
            return None
    if isinstance(b, (dt.timedelta, YearsMonths)):
        return add(a, negate(b)) if not isinstance(a, Decimal) else None
    return None


def multiply(a: Any, b: Any) -> Any:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return v.num_op(lambda x, y: x * y, a, b)
    if isinstance(a, Decimal):
        a, b = b, a
    if isinstance(a, dt.timedelta) and isinstance(b, Decimal):
        return _seconds_delta(_delta_seconds(a) * b)
    if isinstance(a, YearsMonths) and isinstance(b, Decimal):
        return YearsMonths(int((Decimal(a.months) * b).to_integral_value()))
    return None


def divide(a: Any, b: Any) -> Any:
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return v.num_op(lambda x, y: x / y, a, b)
    if isinstance(a, dt.timedelta) and isinstance(b, Decimal):
        return None if b == 0 else _seconds_delta(_delta_seconds(a) / b)
    if isinstance(a, YearsMonths) and isinstance(b, Decimal):
        return None if b == 0 else YearsMonths(int((Decimal(a.months) / b).to_integral_value()))
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta):
        return None if not b else v.num_op(lambda x, y: x / y, _delta_seconds(a), _delta_seconds(b))
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
        return None if not b.months else v.num_op(lambda x, y: x / y, Decimal(a.months), Decimal(b.months))
    return None


def power(a: Any, b: Any) -> Any:
    if not (isinstance(a, Decimal) and isinstance(b, Decimal)) or isinstance(a, bool) or isinstance(b, bool):
        return None
    if b == b.to_integral_value():
        return v.num_op(lambda x, y: x ** y, a, b)
    try:
        return v.number(float(a) ** float(b))
    except (OverflowError, ValueError, ZeroDivisionError):
        return None


def _delta_seconds(delta: dt.timedelta) -> Decimal:
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1000000)


def _seconds_delta(seconds: Decimal) -> dt.timedelta | None:
    try:
        return dt.timedelta(seconds=float(seconds))
    except OverflowError:
        return None


def compare_op(op: str, a: Any, b: Any) -> bool | None:
    if op == "=":
        return v.equal(a, b)
    if op == "!=":
        same = v.equal(a, b)
        return None if same is None else not same
    order = v.compare(a, b)
    if order is None:
        return None
    return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]


def truth(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def test_matches(test: Any, value: Any) -> bool | None:
    """Whether a value passes a positive unary test's value: a range, a list (membership) or equality."""
    if isinstance(test, Range):
        return test.contains(value)
    if isinstance(test, FeelFunction):
        return truth(test.call([value]))
    if isinstance(test, list) and not isinstance(value, list):
        found: bool | None = False
        for item in test:
            same = v.equal(item, value)
            if same:
                return True
            if same is None and item is not None:
                found = found
        return found
    return v.equal(test, value)


# ---------------------------------------------------------------------------------------------- types

_SIMPLE_TYPES = {"number", "string", "boolean", "date", "time", "date and time", "days and time duration",
                 "years and months duration", "list", "context", "function", "range"}


def instance_of(value: Any, type_name: str, args: str | None = None) -> bool:
    name = type_name.strip()
    if name == "Any":
        return value is not None
    if name == "Null":
        return value is None
    if name == "dayTimeDuration":
        name = "days and time duration"
    if name == "yearMonthDuration":
        name = "years and months duration"
    if name == "dateTime":
        name = "date and time"
    actual = v.kind(value)
    if actual != name:
        return False
    if args and name == "list":
        inner = args.strip()[1:-1].strip()
        return all(instance_of_text(item, inner) for item in value)
    if args and name == "context":
        for part in _split_type_args(args.strip()[1:-1]):
            key, _, inner = part.partition(":")
            if key.strip() not in value or not instance_of_text(value[key.strip()], inner.strip()):
                return False
    if args and name == "range":
        inner = args.strip()[1:-1].strip()
        return all(x is None or instance_of_text(x, inner) for x in (value.start, value.end))
    return True


def instance_of_text(value: Any, text: str) -> bool:
    match = re.match(r"^([^<]+?)\s*(<.*>)?\s*$", text.strip(), re.S)
    if not match:
        return False
    return instance_of(value, match.group(1), match.group(2))


def _split_type_args(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


# ---------------------------------------------------------------------------------------------- paths

def path(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, list):
        return [path(item, name) for item in value]
    if isinstance(value, (dt.date, dt.time)):
        return _temporal_property(value, name)
    if isinstance(value, dt.timedelta):
        seconds = value.days * 86400 + value.seconds
        sign = -1 if value < dt.timedelta(0) else 1
        whole = abs(value)
        props = {"days": whole.days, "hours": whole.seconds // 3600, "minutes": (whole.seconds // 60) % 60,
                 "seconds": whole.seconds % 60}
        return Decimal(sign * props[name]) if name in props and seconds is not None else None
    if isinstance(value, YearsMonths):
        sign = -1 if value.months < 0 else 1
        years, months = divmod(abs(value.months), 12)
        return {"years": Decimal(sign * years), "months": Decimal(sign * months)}.get(name)
    if isinstance(value, Range):
        return {"start": value.start, "end": value.end, "start included": value.start_included,
                "end included": value.end_included}.get(name)
    return None


def _temporal_property(value: Any, name: str) -> Any:
    props: dict[str, Any] = {}
    if isinstance(value, dt.date):
        props.update(year=Decimal(value.year), month=Decimal(value.month), day=Decimal(value.day),
                     weekday=Decimal(value.isoweekday()))
    if isinstance(value, (dt.datetime, dt.time)):
        props.update(hour=Decimal(value.hour), minute=Decimal(value.minute),
                     second=Decimal(value.second) + Decimal(value.microsecond) / Decimal(1000000))
        tz = value.tzinfo
        if tz is not None:
            sample = value if isinstance(value, dt.datetime) else None
            offset = tz.utcoffset(sample) if sample is not None or not hasattr(tz, "key") else None
            props["time offset"] = offset
            props["timezone"] = getattr(tz, "key", None)
        else:
            props["time offset"] = None
            props["timezone"] = None
    if name == "time offset" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return None
    return props.get(name)


# ---------------------------------------------------------------------------------------------- compiler

def _iterate(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, Range) and isinstance(value.start, Decimal) and isinstance(value.end, Decimal):
        start, end = int(value.start), int(value.end)
        step = 1 if end >= start else -1
        return [Decimal(i) for i in range(start, end + step, step)]
    if value is None:
        return None
    return [value]


@v_args(inline=True)
class _Compiler(Transformer):
    """Turns the parse tree into closures ``f(scope) -> value``."""

    def __init__(self, aliases: dict[str, str]):
        super().__init__()
        self.aliases = aliases

    # literals -------------------------------------------------------------------------------
    def number(self, token: Token) -> Node:
        value = Decimal(str(token))
        return lambda s: value

    def string(self, token: Token) -> Node:
        value = _unescape(str(token))
        return lambda s: value

    def true(self) -> Node:
        return lambda s: True

    def false(self) -> Node:
        return lambda s: False

    def null(self) -> Node:
        return lambda s: None

    def at_literal(self, token: Token) -> Node:
        text = _unescape(str(token))
        value = parse_temporal(text)
        if value is None:
            raise FeelSyntaxError(f'@"{text}" is not a date, time, date and time or duration', text,
                                  token.column)
        return lambda s: value

    def name(self, *tokens: Token) -> str:
        text = " ".join(str(t) for t in tokens)
        text = re.sub(r"\s+", " ", text) if len(tokens) == 1 and tokens[0].type == "SPECIAL_NAME" else text
        return self.aliases.get(text, text)

    def var(self, name: str) -> Node:
        def lookup(s: Scope) -> Any:
            return s.lookup(name)[1]
        return lookup

    def list(self, *items: Node | None) -> Node:
        nodes = [i for i in items if i is not None]
        return lambda s: [n(s) for n in nodes]

    def entry(self, key: Any, value: Node) -> tuple[str, Node]:
        if isinstance(key, Token):
            key = _unescape(str(key))
        return key, value

    def context(self, *entries: tuple[str, Node] | None) -> Node:
        pairs = [e for e in entries if e is not None]
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            return lambda s: None

        def build(s: Scope) -> dict:
            result: dict[str, Any] = {}
            inner = s.child(result)
            for key, node in pairs:
                result[key] = node(inner)
            return dict(result)
        return build

    # ranges ---------------------------------------------------------------------------------
    def _range(self, low: Node, high: Node, start_included: bool, end_included: bool) -> Node:
        def build(s: Scope) -> Any:
            a, b = low(s), high(s)
            if a is not None and b is not None and v.compare(a, b) is None:
                return None
            return Range(a, b, start_included, end_included)
        return build

    def range_cc(self, low: Node, high: Node) -> Node:
        return self._range(low, high, True, True)

    def range_co(self, low: Node, high: Node) -> Node:
        return self._range(low, high, True, False)

    def range_oc(self, low: Node, high: Node) -> Node:
        return self._range(low, high, False, True)

    def range_oo(self, low: Node, high: Node) -> Node:
        return self._range(low, high, False, False)

    # operators ------------------------------------------------------------------------------
    def add(self, a: Node, b: Node) -> Node:
        return lambda s: add(a(s), b(s))

    def sub(self, a: Node, b: Node) -> Node:
        return lambda s: subtract(a(s), b(s))

    def mul(self, a: Node, b: Node) -> Node:
        return lambda s: multiply(a(s), b(s))

    def div(self, a: Node, b: Node) -> Node:
        return lambda s: divide(a(s), b(s))

    def pow(self, a: Node, b: Node) -> Node:
        return lambda s: power(a(s), b(s))

    def neg(self, a: Node) -> Node:
        return lambda s: negate(a(s))

    def compare(self, a: Node, op: Token, b: Node) -> Node:
        op = str(op)
        return lambda s: compare_op(op, a(s), b(s))

    def between(self, value: Node, low: Node, high: Node) -> Node:
        def run(s: Scope) -> Any:
            x = value(s)
            return _and(compare_op(">=", x, low(s)), compare_op("<=", x, high(s)))
        return run

    def or_(self, a: Node, b: Node) -> Node:
        return lambda s: _or(truth(a(s)), lambda: truth(b(s)))

    def and_(self, a: Node, b: Node) -> Node:
        def run(s: Scope) -> Any:
            left = truth(a(s))
            if left is False:
                return False
            return _and(left, truth(b(s)))
        return run

    def in_test(self, value: Node) -> Callable[[Scope, Any], Any]:
        return lambda s, x: test_matches(value(s), x)

    def cmp_test(self, op: Token, value: Node) -> Callable[[Scope, Any], Any]:
        op = str(op)
        return lambda s, x: compare_op(op, x, value(s))

    def in_tests(self, value: Node, *tests: Callable[[Scope, Any], Any]) -> Node:
        def run(s: Scope) -> Any:
            x = value(s)
            result: bool | None = False
            for test in tests:
                outcome = test(s, x)
                if outcome is True:
                    return True
                if outcome is None:
                    result = None
            return result
        return run

    def in_cmp_paren(self, value: Node, op: Token, operand: Node) -> Node:
        return self.in_tests(value, self.cmp_test(op, operand))

    def type(self, name: str, args: Token | None = None) -> tuple[str, str | None]:
        return name, str(args) if args is not None else None

    def function_type(self, args: Token | None = None) -> tuple[str, str | None]:
        return "function", None

    def instance_of(self, value: Node, _keyword: Token, type_: tuple[str, str | None]) -> Node:
        name, args = type_
        return lambda s: instance_of(value(s), name, args)

    # control --------------------------------------------------------------------------------
    def if_expr(self, condition: Node, then: Node, otherwise: Node) -> Node:
        return lambda s: then(s) if condition(s) is True else otherwise(s)

    def iteration(self, name: str, source: Node, end: Node | None = None) -> tuple[str, Node]:
        if end is None:
            return name, lambda s: _iterate(source(s))

        def numbers(s: Scope) -> list | None:
            low, high = source(s), end(s)
            if not isinstance(low, Decimal) or not isinstance(high, Decimal):
                return None
            return _iterate(Range(low, high, True, True))
        return name, numbers

    def for_expr(self, *parts: Any) -> Node:
        iterations, body = parts[:-1], parts[-1]

        def run(s: Scope) -> Any:
            results: list[Any] = []
            state = {"partial": results}

            def loop(index: int, scope: Scope) -> bool:
                if index == len(iterations):
                    results.append(body(scope))
                    return True
                name, source = iterations[index]
                items = source(scope)
                if items is None:
                    return False
                for item in items:
                    if not loop(index + 1, scope.child({name: item, **state})):
                        return False
                return True

            return results if loop(0, s) else None
        return run

    def _quantified(self, parts: tuple, every: bool) -> Node:
        pairs = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        condition = parts[-1]

        def run(s: Scope) -> Any:
            outcomes: list[Any] = []

            def loop(index: int, scope: Scope) -> None:
                if index == len(pairs):
                    outcomes.append(condition(scope))
                    return
                name, source = pairs[index]
                items = _iterate(source(scope))
                for item in items or []:
                    loop(index + 1, scope.child({name: item}))

            loop(0, s)
            if every:
                return all(o is True for o in outcomes) if all(isinstance(o, bool) for o in outcomes) or \
                    any(o is False for o in outcomes) else None
            return True if any(o is True for o in outcomes) else (
                False if all(isinstance(o, bool) for o in outcomes) else None)
        return run

    def some_(self, *parts: Any) -> Node:
        return self._quantified(parts, False)

    def every_(self, *parts: Any) -> Node:
        return self._quantified(parts, True)

    def external(self, token: Token | None = None) -> bool:
        return token is not None

    def formal(self, name: str, type_: tuple[str, str | None] | None = None) -> tuple[str, Any]:
        return name, type_

    def function_def(self, *parts: Any) -> Node:
        body = parts[-1]
        external = parts[-2]
        formals = [p for p in parts[:-2] if p is not None]
        names = [n for n, _ in formals]
        if external:
            return lambda s: None

        def make(s: Scope) -> FeelFunction:
            def call(args: dict[str, Any]) -> Any:
                bound = {k: (None if v.missing(val) else val) for k, val in args.items() if k != "__varargs__"}
                for (pname, ptype) in formals:
                    if ptype is not None and bound.get(pname) is not None:
                        type_name, type_args = ptype
                        if not instance_of(bound[pname], type_name, type_args):
                            coerced = _coerce_singleton(bound[pname], type_name)
                            if coerced is _NO_COERCION:
                                return None
                            bound[pname] = coerced
                return body(s.child(bound))
            return FeelFunction("anonymous", names, call)
        return make

    # postfix --------------------------------------------------------------------------------
    def path(self, value: Node, name: str) -> Node:
        return lambda s: path(value(s), name)

    def filter(self, source: Node, condition: Node) -> Node:
        def run(s: Scope) -> Any:
            items = source(s)
            if items is None:
                return None
            if not isinstance(items, list):
                items = [items]
            result = []
            index_probe = condition(s.child({"item": None}))
            if isinstance(index_probe, Decimal) and not isinstance(index_probe, bool):
                return _index(items, index_probe)
            for item in items:
                names = dict(item) if isinstance(item, dict) else {}
                names["item"] = item
                outcome = condition(s.child(names))
                if isinstance(outcome, Decimal) and not isinstance(outcome, bool):
                    return _index(items, outcome)
                if outcome is True:
                    result.append(item)
            return result
        return run

    def invoke_none(self, callee: Node) -> Node:
        return lambda s: _call(callee(s), [], None)

    def invoke(self, callee: Node, *args: Node) -> Node:
        return lambda s: _call(callee(s), [a(s) for a in args], None)

    def named_arg(self, name: str, value: Node) -> tuple[str, Node]:
        return name, value

    def invoke_named(self, callee: Node, *args: tuple[str, Node]) -> Node:
        return lambda s: _call(callee(s), None, {name: node(s) for name, node in args})


_NO_COERCION = object()


def _coerce_singleton(value: Any, type_name: str) -> Any:
    if isinstance(value, list) and len(value) == 1 and type_name != "list" and instance_of(value[0], type_name):
        return value[0]
    if type_name == "list" and not isinstance(value, list):
        return [value]
    return _NO_COERCION


def _index(items: list, position: Decimal) -> Any:
    if position != position.to_integral_value():
        return None
    index = int(position)
    if index > 0 and index <= len(items):
        return items[index - 1]
    if index < 0 and -index <= len(items):
        return items[index]
    return None


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is True and b is True:
        return True
    return None


def _or(a: bool | None, b_thunk: Callable[[], bool | None]) -> bool | None:
    if a is True:
        return True
    b = b_thunk()
    if b is True:
        return True
    if a is False and b is False:
        return False
    return None


def _call(callee: Any, positional: list | None, named: dict | None) -> Any:
    if not isinstance(callee, FeelFunction):
        return None
    try:
        return callee.call(positional, named)
    except RecursionError:
        return None


def parse_temporal(text: str) -> Any:
    """The value of an ``@"..."`` literal: a date, time, date and time or duration."""
    text = text.strip()
    if text.startswith(("P", "-P")):
        return v.parse_duration(text)
    if re.match(r"^-?\d{4,}-\d\d-\d\dT", text):
        return v.parse_datetime(text)
    if re.match(r"^-?\d{4,}-", text):
        return v.parse_date(text)
    return v.parse_time(text)


# ---------------------------------------------------------------------------------------------- front end

_PARSER = Lark(FEEL_GRAMMAR, parser="lalr", start="expression", propagate_positions=False, cache=False)
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def _alias_names(text: str, names: frozenset[str]) -> tuple[str, dict[str, str]]:
    """Replace names that FEEL's tokens would split (``Date-Time``, ``a/b``, ``Applicant's age``) by aliases.

    FEEL allows ``.``, ``/``, ``-``, ``'``, ``+`` and ``*`` inside names that are in scope; the grammar cannot
    know the scope, so the caller passes the names it knows and each is matched outside string literals.
    """
    special = sorted((n for n in names if re.search(r"[^\w\s?]", n)), key=len, reverse=True)
    if not special:
        return text, {}
    aliases: dict[str, str] = {}
    pieces = _STRING_RE.split(text)
    strings = _STRING_RE.findall(text)
    for index, name in enumerate(special):
        pattern = re.compile(r"(?<![\w?])" + r"\s+".join(re.escape(part) for part in name.split()) + r"(?![\w?])")
        alias = f"name_alias_{index}_"
        if any(pattern.search(piece) for piece in pieces):
            pieces = [pattern.sub(alias, piece) for piece in pieces]
            aliases[alias] = name
    rebuilt = "".join(p + (strings[i] if i < len(strings) else "") for i, p in enumerate(pieces))
    return rebuilt, aliases


def _open_range_ends(text: str) -> str:
    """Write ``[1..10[`` as ``[1..10)``: an LALR parser cannot tell that ``[`` from a filter's."""
    if ".." not in text or "[" not in text:
        return text
    chars = list(text)
    in_string = False
    index = 0
    while index < len(chars) - 1:
        char = chars[index]
        if char == '"' and (index == 0 or chars[index - 1] != "\\"):
            in_string = not in_string
        if not in_string and char == "." and chars[index + 1] == ".":
            depth, scan = 0, index + 2
            while scan < len(chars):
                c = chars[scan]
                if c == '"':
                    end = text.find('"', scan + 1)
                    scan = end if end > 0 else len(chars)
                elif c in "({":
                    depth += 1
                elif c in ")}]":
                    if depth == 0:
                        break
                    depth -= 1
                elif c == "[":
                    if depth == 0 and not _has_closing(chars, scan):
                        chars[scan] = ")"
                        break
                    depth += 1
                scan += 1
            index += 2
            continue
        index += 1
    return "".join(chars)


def _has_closing(chars: list[str], start: int) -> bool:
    depth = 0
    for c in chars[start:]:
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return True
    return False


def _describe(exc: UnexpectedInput, text: str) -> str:
    column = getattr(exc, "column", None)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return "the expression ends too early (a bracket, quote or operand is missing)"
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        return f"unexpected character '{char}' at column {column}"
    if isinstance(exc, UnexpectedToken):
        return f"unexpected '{exc.token}' at column {column}"
    return f"cannot be read at column {column}"


@functools.lru_cache(maxsize=4096)
def _compile(text: str, names: frozenset[str]) -> Node:
    source, aliases = _alias_names(text, names)
    source = _open_range_ends(source)
    try:
        tree = _PARSER.parse(source)
    except UnexpectedInput as exc:
        raise FeelSyntaxError(f"not a valid FEEL expression: {_describe(exc, source)}", text,
                              getattr(exc, "column", None), getattr(exc, "line", None)) from None
    try:
        node = _Compiler(aliases).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, FeelSyntaxError):
            raise exc.orig_exc from None
        raise FeelSyntaxError(f"not a valid FEEL expression: {exc.orig_exc}", text) from None
    if not callable(node):  # a bare name parses to a str
        raise FeelSyntaxError("not a valid FEEL expression", text)
    return node


class Expression:
    """A compiled FEEL expression."""

    def __init__(self, text: str, names: frozenset[str] = frozenset()):
        self.text = text
        self._node = _compile(text, names)

    def evaluate(self, variables: dict[str, Any] | Scope | None = None) -> Any:
        scope = variables if isinstance(variables, Scope) else Scope(dict(variables or {}))
        try:
            return self._node(scope)
        except RecursionError:
            return None


def compile_expression(text: str, names: frozenset[str] | set[str] = frozenset()) -> Expression:
    """Parse a FEEL expression; raises :class:`FeelSyntaxError` with a plain message if it is not one."""
    return Expression(text, frozenset(names))


def evaluate(text: str, variables: dict[str, Any] | None = None) -> Any:
    """Evaluate a FEEL expression once (``variables`` may hold plain Python numbers)."""
    return compile_expression(text, frozenset(variables or {})).evaluate(v.to_feel(variables or {}))


# ---------------------------------------------------------------------------------------------- unary tests

_COMPARISON_PREFIX = re.compile(r"^\s*(<=|>=|!=|<|>|=)")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are outside strings, brackets and parentheses."""
    parts, depth, current, in_string, escape = [], 0, [], False, False
    for char in text:
        if in_string:
            current.append(char)
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth <= 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _outer_parentheses(text: str) -> bool:
    """Whether ``text`` is ``( ... )`` with the first parenthesis closed by the last character."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth, in_string = 0, False
    for index, char in enumerate(text):
        if char == '"':
            in_string = not in_string
        if in_string:
            continue
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return index == len(text) - 1
    return False


class UnaryTests:
    """A decision table input entry: ``-``, ``"A","B"``, ``>= 5``, ``[1..10]``, ``not("x")`` or an expression
    with ``?``."""

    def __init__(self, text: str, names: frozenset[str] = frozenset()):
        self.text = text
        body = text.strip()
        self.negated = False
        self.any = body in ("-", "")
        self.tests: list[tuple[str | None, Expression]] = []
        if self.any:
            return
        if body.startswith("not") and _outer_parentheses(body[3:].strip()):
            self.negated = True
            body = body[3:].strip()[1:-1]
        for part in _split_top_level(body):
            part = part.strip()
            if not part:
                raise FeelSyntaxError("an empty test between commas", text)
            match = _COMPARISON_PREFIX.match(part)
            op = match.group(1) if match else None
            rest = part[match.end():] if match else part
            self.tests.append((op, Expression(rest, names)))

    def matches(self, value: Any, variables: dict[str, Any] | Scope | None = None) -> bool:
        if self.any:
            return True
        base = variables if isinstance(variables, Scope) else Scope(dict(variables or {}))
        scope = base.child({"?": value})
        result = False
        for op, expression in self.tests:
            outcome = expression.evaluate(scope)
            if op is not None:
                passed = compare_op(op, value, outcome)
            elif isinstance(outcome, bool) and not isinstance(value, bool) and "?" in expression.text:
                passed = outcome
            elif isinstance(outcome, bool) and "?" in expression.text and v.equal(outcome, value) is not True:
                passed = outcome
            elif isinstance(outcome, list) and isinstance(value, list):
                passed = v.equal(outcome, value) or any(v.equal(item, value) for item in outcome)
            else:
                passed = test_matches(outcome, value)
            if passed is True:
                result = True
                break
        return (not result) if self.negated else result


def compile_unary_tests(text: str, names: frozenset[str] | set[str] = frozenset()) -> UnaryTests:
    return UnaryTests(text, frozenset(names))
