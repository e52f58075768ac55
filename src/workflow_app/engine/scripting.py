"""The script environment diagrams run in: expressions, gateway conditions, scripts, timer expressions.

Diagrams are edited by policy teams and may be uploaded, so their Python runs in a sandbox:
RestrictedPython compiles it (no names or attributes starting with an underscore, so no walks to
``object.__subclasses__``), only an allow-list of builtins exists (no ``open``, ``__import__``,
``getattr``, ``eval``), ``**`` is refused and ``*`` and ``range`` are size-capped so one expression
cannot eat the machine, and every evaluation has a time limit.

The time limit is checked between Python lines, so a single C-level call could still build a huge
object inside one line (``''.ljust(10**9)``, ``1 << 10**10``). Every operation that can build an
object much larger than its inputs therefore goes through a size check *before* it runs: ``+``, ``*``,
``%`` and ``<<`` (and their augmented forms) are compiled into guarded helper calls, the padding,
replacing and joining methods of strings and lists are wrapped by ``_getattr_``, ``str()``, ``sum()``,
f-strings and slice assignment are checked, and format widths are capped. Whatever a script or an
expression leaves behind is refused when it would serialize to more than ``MAX_DATA_BYTES``.

Functions offered to diagrams (e.g. ``working_days(2)``) are passed in by the services layer, so the
engine adapter stays free of domain knowledge. SpiffWorkflow does not serialize the script engine:
it is attached again after every load (see :mod:`workflow_app.engine.runtime`).
"""
from __future__ import annotations

import ast
import builtins
import copy
import functools
import operator
import re
import resource
import sys
import time
from typing import Any, Callable

from RestrictedPython import compile_restricted
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr
from RestrictedPython.transformer import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

TIME_LIMIT_SECONDS = 2.0
MAX_SEQUENCE = 100_000  # items of a list/tuple built by an expression; also repetition with *
MAX_TEXT = 1_000_000  # characters (or bytes) of a string built by an expression
MAX_INT_BITS = 16_384  # bits of an integer built by * or << (about 4,900 decimal digits)
MAX_WIDTH = 10_000  # width or precision in a format specification
MAX_DATA_BYTES = 1_000_000  # serialized size of the data a script or expression leaves behind
MAX_DEPTH = 64  # nesting of lists and dicts in diagram data
MAX_MEMORY_GROWTH = 256 * 1024 * 1024  # bytes the process may grow by while one expression or script runs
MEMORY_CHECK_EVERY = 64  # line events between two looks at the process's memory

ALLOWED_BUILTINS = ("abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list", "max", "min",
                    "round", "set", "sorted", "str", "sum", "tuple", "zip", "isinstance", "True", "False", "None")


class SandboxViolation(Exception):
    """The diagram's Python tried something the sandbox does not allow."""


def _range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE:
        raise SandboxViolation(f"range() is limited to {MAX_SEQUENCE} items in diagram expressions")
    return result


_TEXT_TYPES = (str, bytes, bytearray)
_SEQUENCE_TYPES = (list, tuple)


def _too_big(what: str, limit: int, unit: str) -> SandboxViolation:
    return SandboxViolation(f"{what} is limited to {limit} {unit} in diagram expressions")


def _check_length(value: Any, length: int, what: str) -> None:
    """Refuse building a string longer than MAX_TEXT or a list/tuple longer than MAX_SEQUENCE."""
    if isinstance(value, _TEXT_TYPES) and length > MAX_TEXT:
        raise _too_big(what, MAX_TEXT, "characters")
    if isinstance(value, _SEQUENCE_TYPES) and length > MAX_SEQUENCE:
        raise _too_big(what, MAX_SEQUENCE, "items")


def _check_int_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise _too_big(what, MAX_INT_BITS, "bits")


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _mul(left: Any, right: Any) -> Any:
    for value, count in ((left, right), (right, left)):
        if isinstance(value, (str, list, tuple, bytes, bytearray)) and isinstance(count, int) and len(value) * count > MAX_SEQUENCE:
            raise SandboxViolation(f"Repeating a sequence is limited to {MAX_SEQUENCE} items in diagram expressions")
    if _is_int(left) and _is_int(right):
        _check_int_bits(left.bit_length() + right.bit_length(), "An integer product")
    return left * right


def _check_add(left: Any, right: Any) -> None:
    if isinstance(left, (*_TEXT_TYPES, *_SEQUENCE_TYPES)) and isinstance(right, (*_TEXT_TYPES, *_SEQUENCE_TYPES)):
        _check_length(left, len(left) + len(right), "Joining strings or lists")


def _add(left: Any, right: Any) -> Any:
    _check_add(left, right)
    return left + right


def _iadd(left: Any, right: Any) -> Any:
    _check_add(left, right)
    return operator.iadd(left, right)


def _lshift(left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right) and right > 0 and left:
        _check_int_bits(left.bit_length() + right, "An integer shifted with <<")
    return left << right


# %-formatting: a conversion with its flags, width and precision (``%-08.3f``, ``%(name)s``, ``%*d``).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.S)
# A width or precision in a format specification (``{:>1500000000}``, ``{:.2000000f}``), in str.format and f-strings.
_SPEC_NUMBER = re.compile(r"\d+")


def _check_widths(numbers, what: str) -> None:
    for number in numbers:
        if number == "*":
            raise SandboxViolation(f"{what}: widths given as * are not allowed in diagram expressions")
        if number and int(number) > MAX_WIDTH:
            raise _too_big(f"{what}: a width or precision", MAX_WIDTH, "characters")


def _mod(left: Any, right: Any) -> Any:
    if isinstance(left, _TEXT_TYPES):
        text = left.decode("latin-1") if isinstance(left, (bytes, bytearray)) else left
        for match in _PERCENT_SPEC.finditer(text):
            _check_widths(match.groups()[:2], "%-formatting")
        _check_text_size(right, "A value formatted with %")
        length = len(left) + sum(int(n) for m in _PERCENT_SPEC.finditer(text) for n in m.groups()[:2] if n)
        _check_length(left, length, "%-formatting")
    return left % right


def _fvalue(value: Any) -> Any:
    """An f-string's value: refused if writing it out would be larger than the limit."""
    _check_text_size(value, "A value in an f-string")
    return value


def _text_size(value: Any, budget: int, depth: int = 0) -> int:
    """About how many characters ``value`` takes written out (str() or JSON); stops counting past ``budget``.

    Shared references make a small object look huge when written out (a list of 100,000 references to one
    long string), so this walks the object and gives up as soon as the budget is spent.
    """
    if depth > MAX_DEPTH:
        raise SandboxViolation(f"Data nested more than {MAX_DEPTH} levels deep is not allowed in diagram expressions")
    if value is None or isinstance(value, (bool, float)):
        return 8
    if isinstance(value, int):
        bits = value.bit_length()
        if bits > MAX_INT_BITS * 4:
            return budget + 1
        return bits // 3 + 2
    if isinstance(value, _TEXT_TYPES):
        return len(value) + 2
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = ((item, None) for item in value)
    else:
        return 64  # dates and the like: small when written out
    total = 2
    for key, item in items:
        total += 2 + _text_size(key, budget - total, depth + 1)
        if total <= budget:
            total += _text_size(item, budget - total, depth + 1) if item is not None else 0
        if total > budget:
            return total
    return total


def _check_text_size(value: Any, what: str) -> None:
    if _text_size(value, MAX_TEXT) > MAX_TEXT:
        raise _too_big(what, MAX_TEXT, "characters when written out")


def check_data_size(data: Any, what: str = "The data left by this expression") -> None:
    """Refuse data that would serialize to more than MAX_DATA_BYTES (or nest too deeply)."""
    if _text_size(data, MAX_DATA_BYTES) > MAX_DATA_BYTES:
        raise SandboxViolation(f"{what} is larger than {MAX_DATA_BYTES:,} bytes, the limit for a process's data")


class _StrType(type):
    """The sandbox's ``str``: ``isinstance(x, str)`` works as usual, ``str(x)`` is size-checked first."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, str)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, str)

    def __call__(cls, *args: Any, **kwargs: Any) -> str:
        if args:
            _check_text_size(args[0], "str()")
        return str(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(str, name)  # str.upper(x) as before; _getattr guards the size-checked ones


class SandboxStr(metaclass=_StrType):
    pass


def _sum(iterable: Any, start: Any = 0) -> Any:
    if isinstance(start, (int, float)):
        total = start
        for item in iterable:
            total = _add(total, item) if not isinstance(item, (int, float)) else total + item
            if _is_int(total):
                _check_int_bits(total.bit_length(), "sum()")
        return total
    for item in iterable:
        start = _add(start, item)
    return start


def _padding(method: Callable, value: Any, name: str) -> Callable:
    @functools.wraps(method)
    def padded(width: Any, *args: Any) -> Any:
        if isinstance(width, int):
            _check_length(value, width, f"{name}()")
        return method(width, *args)
    return padded


def _expandtabs(method: Callable, value: Any) -> Callable:
    @functools.wraps(method)
    def expandtabs(tabsize: int = 8) -> Any:
        tab = "\t" if isinstance(value, str) else b"\t"
        if isinstance(tabsize, int):
            _check_length(value, len(value) + value.count(tab) * max(tabsize, 0), "expandtabs()")
        return method(tabsize)
    return expandtabs


def _replace(method: Callable, value: Any) -> Callable:
    @functools.wraps(method)
    def replace(old: Any, new: Any, count: int = -1) -> Any:
        if isinstance(old, type(value)) and isinstance(new, type(value)) and isinstance(count, int):
            found = value.count(old) if old else len(value) + 1
            if count >= 0:
                found = min(found, count)
            _check_length(value, len(value) + found * max(len(new) - len(old), 0), "replace()")
        return method(old, new, count)
    return replace


def _join(method: Callable, value: Any) -> Callable:
    @functools.wraps(method)
    def join(iterable: Any) -> Any:
        items = []
        length = 0
        for item in iterable:
            items.append(item)
            length += len(value) + (len(item) if isinstance(item, _TEXT_TYPES) else 0)
            _check_length(value, length, "join()")
        return method(items)
    return join


def _extend(method: Callable, value: list) -> Callable:
    @functools.wraps(method)
    def extend(iterable: Any) -> None:
        items = list(iterable) if not isinstance(iterable, (list, tuple)) or iterable is value else iterable
        _check_length(value, len(value) + len(items), "extend()")
        return method(items)
    return extend


def _index(method: Callable) -> Callable:
    @functools.wraps(method)
    def index(item: Any, *args: Any) -> Any:
        _check_text_size(item, "index()")  # its error message would write the item out
        return method(item, *args)
    return index


_PADDING = {"ljust", "rjust", "center", "zfill"}
# Methods that build a result much larger than their inputs with no way to check the size first.
_REFUSED_METHODS = {"translate", "maketrans", "format", "format_map"}
SIZE_CHECKED_METHODS = _PADDING | {"expandtabs", "replace", "join", "extend", "index"}


def _getattr(obj: Any, name: str, default: Any = None) -> Any:
    """RestrictedPython's ``safer_getattr``, plus size checks on the methods that build large values."""
    if name in _REFUSED_METHODS and (isinstance(obj, _TEXT_TYPES) or obj in _TEXT_TYPES or obj is SandboxStr):
        raise SandboxViolation(f"The {name}() method of strings is not allowed in diagram expressions")
    value = safer_getattr(obj, name, default)
    if name not in SIZE_CHECKED_METHODS:
        return value
    if isinstance(obj, type):
        raise SandboxViolation(f"Call {name}() on a value, not on a type, in diagram expressions")
    if isinstance(obj, _TEXT_TYPES):
        if name in _PADDING:
            return _padding(value, obj, name)
        if name == "expandtabs":
            return _expandtabs(value, obj)
        if name == "replace":
            return _replace(value, obj)
        if name == "join":
            return _join(value, obj)
    if isinstance(obj, list) and name == "extend":
        return _extend(value, obj)
    if isinstance(obj, (list, tuple)) and name == "index":
        return _index(value)
    return value


class _ListWriter:
    """What ``_write_`` gives for a list: slice assignment is size-checked (``l[len(l):] = l`` doubles it)."""

    __slots__ = ("_list",)

    def __init__(self, target: list):
        object.__setattr__(self, "_list", target)

    def __setitem__(self, key: Any, value: Any) -> None:
        target = object.__getattribute__(self, "_list")
        if isinstance(key, slice):
            value = list(value)
            removed = len(range(*key.indices(len(target))))
            _check_length(target, len(target) - removed + len(value), "Assigning to a slice of a list")
        target[key] = value

    def __delitem__(self, key: Any) -> None:
        del object.__getattribute__(self, "_list")[key]


def _write(obj: Any) -> Any:
    if type(obj) is list:
        return _ListWriter(obj)
    return full_write_guard(obj)


_INPLACE = {"+=": _iadd, "-=": operator.isub, "*=": _mul, "/=": operator.itruediv, "//=": operator.ifloordiv,
            "%=": _mod, "|=": operator.ior, "&=": operator.iand, "<<=": _lshift}


def _inplacevar(op: str, left: Any, right: Any) -> Any:
    if op not in _INPLACE:
        raise SandboxViolation(f"The operator {op} is not allowed in diagram expressions")
    return _INPLACE[op](left, right)


_GUARDED_OPERATORS = {ast.Mult: "_mul_", ast.Add: "_add_", ast.Mod: "_mod_", ast.LShift: "_lshift_"}


class DiagramPolicy(RestrictingNodeTransformer):
    """RestrictedPython's rules, plus: no ``**`` and no imports; ``*``, ``+``, ``%`` and ``<<`` go through
    size checks; f-string values are size-checked and their format specs must be constant and narrow."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.Pow):
            self.error(node, "The ** operator is not allowed in diagram expressions.")
        node = self.node_contents_visit(node)
        helper = _GUARDED_OPERATORS.get(type(node.op))
        if helper:
            call = ast.Call(func=ast.copy_location(ast.Name(helper, ast.Load()), node),
                            args=[node.left, node.right], keywords=[])
            return ast.fix_missing_locations(ast.copy_location(call, node))
        return node

    def visit_Import(self, node: ast.AST) -> ast.AST:
        self.error(node, "Imports are not allowed in diagram expressions.")
        return node

    visit_ImportFrom = visit_Import

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = self.node_contents_visit(node)
        spec = node.format_spec
        if spec is not None:
            if any(isinstance(part, ast.FormattedValue) for part in ast.walk(spec)):
                self.error(node, "A format specification in an f-string must be written out, not computed.")
            else:
                text = "".join(str(part.value) for part in ast.walk(spec) if isinstance(part, ast.Constant))
                numbers = _SPEC_NUMBER.findall(text)
                if any(int(number) > MAX_WIDTH for number in numbers):
                    self.error(node, f"A width or precision in an f-string is limited to {MAX_WIDTH}.")
        call = ast.Call(func=ast.copy_location(ast.Name("_fvalue_", ast.Load()), node), args=[node.value], keywords=[])
        node.value = ast.fix_missing_locations(ast.copy_location(call, node))
        return node


def _sandbox_globals(functions: dict[str, Callable]) -> dict[str, Any]:
    allowed = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS}
    allowed["range"] = _range
    allowed["str"] = SandboxStr
    allowed["sum"] = _sum
    return {
        "__builtins__": allowed,
        "_getattr_": _getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": _write,
        "_inplacevar_": _inplacevar,
        "_mul_": _mul,
        "_add_": _add,
        "_mod_": _mod,
        "_lshift_": _lshift,
        "_fvalue_": _fvalue,
        **functions,
    }


def resident_bytes() -> int:
    """The process's resident memory now (Linux: /proc/self/statm; elsewhere its peak so far)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_PAGE_SIZE = resource.getpagesize()


class _Deadline:
    """A trace function that stops Python code running longer than the time limit or growing the process by
    more than MAX_MEMORY_GROWTH. Each line can build at most one capped object (see the module docstring), so
    checking the memory every MEMORY_CHECK_EVERY lines also stops growth one item at a time
    (``while True: items.append('x' * 900000)``) long before the machine runs short."""

    def __init__(self, seconds: float):
        self.until = time.monotonic() + seconds
        self.memory_limit = resident_bytes() + MAX_MEMORY_GROWTH
        self.events = 0

    def __call__(self, frame, event, arg):
        if time.monotonic() > self.until:
            raise SandboxViolation(f"The expression ran longer than {TIME_LIMIT_SECONDS:g} seconds and was stopped")
        self.events += 1
        if self.events % MEMORY_CHECK_EVERY == 0 and resident_bytes() > self.memory_limit:
            raise _memory_refusal()
        return self


def _memory_refusal() -> SandboxViolation:
    return SandboxViolation(f"The expression used more than {MAX_MEMORY_GROWTH // (1024 * 1024)} MB of memory "
                            "and was stopped")


def _run_limited(run: Callable[[], Any]) -> Any:
    previous = sys.gettrace()
    sys.settrace(_Deadline(TIME_LIMIT_SECONDS))
    try:
        return run()
    except SandboxViolation:
        raise
    except MemoryError:  # the operating system's limit (WORKFLOW_MEMORY_LIMIT_MB) refused an allocation
        raise _memory_refusal() from None
    except Exception as exc:
        # A KeyError (and the like) keeps the offending value and writes it out when shown: keep that short.
        exc.args = tuple(arg if _text_size(arg, 1000) <= 1000 else "<a value too large to show>" for arg in exc.args)
        raise
    finally:
        sys.settrace(previous)


@functools.lru_cache(maxsize=4096)
def _compile_restricted(source: str, mode: str):
    """Compiled once per distinct expression (diagrams reuse the same few); bounded so uploads cannot grow it."""
    try:
        return compile_restricted(source, filename="<diagram>", mode=mode, policy=DiagramPolicy)
    except SyntaxError as exc:
        problems = exc.args[0] if exc.args and isinstance(exc.args[0], (tuple, list)) else (str(exc),)
        syntax = [_SYNTAX_PROBLEM.match(p) for p in problems]
        if all(syntax):  # Python cannot read it: say where and what, without Python's own labels
            raise SandboxViolation("Python cannot read the expression: " + "; ".join(
                f"{_plain_syntax(m['what'], m['near'])} (line {m['line']})" for m in syntax)) from None
        raise SandboxViolation("Not allowed in a diagram expression: " + " ".join(
            re.sub(r"^Line (\d+): (.*?)\.?$", r"\2 (line \1).", p, flags=re.S) for p in problems)) from None


# RestrictedPython's report of a syntax error: "Line 1: SyntaxError: '(' was never closed at statement: '...'"
_SYNTAX_PROBLEM = re.compile(r"Line (?P<line>\d+): SyntaxError: (?P<what>.*?)(?: at statement: (?P<near>.*))?$", re.S)


def _plain_syntax(what: str, near: str | None) -> str:
    if what.startswith("invalid syntax"):
        what = "check brackets, quotes and operators"
    return f"{what}, near {near.strip()[:60]}" if near and near.strip() else what


class SandboxedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment with restricted compilation and a time limit."""

    def _compile(self, source: str, mode: str):
        return _compile_restricted(source, mode)

    def evaluate(self, expression, context, external_context=None):
        code = self._compile(expression.strip(), "eval")
        scope = {**self.globals, **(external_context or {}), **context}
        result = _run_limited(lambda: eval(code, scope))
        check_data_size(result, "The value of this expression")
        return result

    def execute(self, script, context, external_context=None):
        code = self._compile(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        before = copy.deepcopy(context)
        context.update({**self.globals, **(external_context or {})})
        try:
            try:
                _run_limited(lambda: exec(code, context))
            finally:
                self._remove_globals_and_functions_from_context(context, external_context)
                for name in [k for k in context if k.startswith("_")]:
                    context.pop(name)
            check_data_size(context, "The data left by this script")
        except SandboxViolation:
            context.clear()
            context.update(before)  # a refused script leaves the process's data as it was, nothing oversized
            raise
        return True


def check_expression(source: str) -> set[str]:
    """Compile an expression as the sandbox would (raising SandboxViolation); return the functions it calls."""
    if not source:
        raise SandboxViolation("the expression is empty")
    SandboxedEnvironment()._compile(source, "eval")
    return {node.func.id for node in ast.walk(ast.parse(source, mode="eval"))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


# Builtins a diagram could name without calling them (``f = open``); refused at deploy unless the code binds them.
# (Names a form field might plausibly have, such as ``type`` or ``format``, are left out: they may be data.)
_UNOFFERED_BUILTINS = {"open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals", "locals", "vars",
                       "breakpoint", "memoryview", "bytearray", "bytes", "super", "pow", "print", "exit", "quit"}


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the code itself defines: assignment targets, loop and comprehension variables, functions, arguments."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def check_code(source: str, mode: str, offered: set[str]) -> None:
    """Check diagram Python before it is deployed, as strictly as the sandbox will run it.

    ``mode`` is ``"eval"`` (conditions, DMN cells, timer expressions) or ``"exec"`` (scripts). Raises
    SandboxViolation with a ``line`` attribute (1-based, within ``source``) for code the sandbox would
    refuse, for calls of functions neither offered by the engine (``offered``) nor defined by the code,
    for refused methods (``format``) and for builtins the sandbox does not offer.
    """
    def refuse(message: str, line: int | None) -> None:
        problem = SandboxViolation(message)
        problem.line = line
        raise problem

    text = source.strip() if mode == "eval" else source
    if not text or not text.strip():
        refuse("the expression is empty" if mode == "eval" else "the script is empty", None)
    try:
        tree = ast.parse(text, mode=mode)
    except SyntaxError as exc:
        refuse(f"Python cannot read it: {_plain_syntax(exc.msg, None)}", exc.lineno)
        raise  # not reached: refuse() raises
    try:
        _compile_restricted(text, mode)
    except SandboxViolation as exc:
        found = re.search(r"\(line (\d+)\)", str(exc))
        refuse(str(exc), int(found.group(1)) if found else None)
    bound = _bound_names(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id not in offered and node.func.id not in bound:
                refuse(f"calls {node.func.id}, which the engine does not offer to diagrams", line)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in _UNOFFERED_BUILTINS and node.id not in offered and node.id not in bound:
                refuse(f"uses {node.id}, which the engine does not offer to diagrams", line)
        elif isinstance(node, ast.Attribute) and node.attr in _REFUSED_METHODS:
            refuse(f"uses .{node.attr}, which is not allowed in diagram expressions", line)


OFFERED_BUILTINS = frozenset(ALLOWED_BUILTINS) | {"range"}


def make_script_engine(functions: dict[str, Callable]) -> PythonScriptEngine:
    return PythonScriptEngine(environment=SandboxedEnvironment(_sandbox_globals(functions)))
