"""The script environment diagrams run in: expressions, gateway conditions, scripts, timer expressions.

Diagrams are edited by policy teams and may be uploaded, so their Python runs in a sandbox:
RestrictedPython compiles it (no names or attributes starting with an underscore, so no walks to
``object.__subclasses__``), only an allow-list of builtins exists (no ``open``, ``__import__``,
``getattr``, ``eval``), ``**`` is refused and ``*`` and ``range`` are size-capped so one expression
cannot eat the machine, and every evaluation has a time limit.

Functions offered to diagrams (e.g. ``working_days(2)``) are passed in by the services layer, so the
engine adapter stays free of domain knowledge. SpiffWorkflow does not serialize the script engine:
it is attached again after every load (see :mod:`workflow_app.engine.runtime`).
"""
from __future__ import annotations

import ast
import builtins
import functools
import operator
import sys
import time
from typing import Any, Callable

from RestrictedPython import compile_restricted
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr
from RestrictedPython.transformer import RestrictingNodeTransformer
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

TIME_LIMIT_SECONDS = 2.0
MAX_SEQUENCE = 100_000

ALLOWED_BUILTINS = ("abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list", "max", "min",
                    "round", "set", "sorted", "str", "sum", "tuple", "zip", "isinstance", "True", "False", "None")


class SandboxViolation(Exception):
    """The diagram's Python tried something the sandbox does not allow."""


def _range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_SEQUENCE:
        raise SandboxViolation(f"range() is limited to {MAX_SEQUENCE} items in diagram expressions")
    return result


def _mul(left: Any, right: Any) -> Any:
    for value, count in ((left, right), (right, left)):
        if isinstance(value, (str, list, tuple, bytes)) and isinstance(count, int) and len(value) * count > MAX_SEQUENCE:
            raise SandboxViolation(f"Repeating a sequence is limited to {MAX_SEQUENCE} items in diagram expressions")
    return left * right


_INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": _mul, "/=": operator.itruediv, "//=": operator.ifloordiv,
            "%=": operator.imod, "|=": operator.ior, "&=": operator.iand}


def _inplacevar(op: str, left: Any, right: Any) -> Any:
    if op not in _INPLACE:
        raise SandboxViolation(f"The operator {op} is not allowed in diagram expressions")
    return _INPLACE[op](left, right)


class DiagramPolicy(RestrictingNodeTransformer):
    """RestrictedPython's rules, plus: no ``**``, and ``*`` goes through a size check."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, ast.Pow):
            self.error(node, "The ** operator is not allowed in diagram expressions.")
        node = self.node_contents_visit(node)
        if isinstance(node.op, ast.Mult):
            call = ast.Call(func=ast.copy_location(ast.Name("_mul_", ast.Load()), node),
                            args=[node.left, node.right], keywords=[])
            return ast.fix_missing_locations(ast.copy_location(call, node))
        return node


def _sandbox_globals(functions: dict[str, Callable]) -> dict[str, Any]:
    allowed = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS}
    allowed["range"] = _range
    return {
        "__builtins__": allowed,
        "_getattr_": safer_getattr,
        "_getitem_": operator.getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_mul_": _mul,
        **functions,
    }


class _Deadline:
    """A trace function that stops Python code running longer than the time limit."""

    def __init__(self, seconds: float):
        self.until = time.monotonic() + seconds

    def __call__(self, frame, event, arg):
        if time.monotonic() > self.until:
            raise SandboxViolation(f"The expression ran longer than {TIME_LIMIT_SECONDS:g} seconds and was stopped")
        return self


def _run_limited(run: Callable[[], Any]) -> Any:
    previous = sys.gettrace()
    sys.settrace(_Deadline(TIME_LIMIT_SECONDS))
    try:
        return run()
    finally:
        sys.settrace(previous)


@functools.lru_cache(maxsize=4096)
def _compile_restricted(source: str, mode: str):
    """Compiled once per distinct expression (diagrams reuse the same few); bounded so uploads cannot grow it."""
    try:
        return compile_restricted(source, filename="<diagram>", mode=mode, policy=DiagramPolicy)
    except SyntaxError as exc:
        problems = exc.args[0] if exc.args and isinstance(exc.args[0], (tuple, list)) else (str(exc),)
        raise SandboxViolation("Not allowed in a diagram expression: " + " ".join(problems)) from None


class SandboxedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment with restricted compilation and a time limit."""

    def _compile(self, source: str, mode: str):
        return _compile_restricted(source, mode)

    def evaluate(self, expression, context, external_context=None):
        code = self._compile(expression.strip(), "eval")
        scope = {**self.globals, **(external_context or {}), **context}
        return _run_limited(lambda: eval(code, scope))

    def execute(self, script, context, external_context=None):
        code = self._compile(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        context.update({**self.globals, **(external_context or {})})
        try:
            _run_limited(lambda: exec(code, context))
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
            for name in [k for k in context if k.startswith("_")]:
                context.pop(name)
        return True


def check_expression(source: str) -> set[str]:
    """Compile an expression as the sandbox would (raising SandboxViolation); return the functions it calls."""
    if not source:
        raise SandboxViolation("the expression is empty")
    SandboxedEnvironment()._compile(source, "eval")
    return {node.func.id for node in ast.walk(ast.parse(source, mode="eval"))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def make_script_engine(functions: dict[str, Callable]) -> PythonScriptEngine:
    return PythonScriptEngine(environment=SandboxedEnvironment(_sandbox_globals(functions)))
