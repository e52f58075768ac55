"""The script environment diagrams run in: expressions, gateway conditions, scripts, timer expressions.

Functions offered to diagrams (e.g. ``working_days(2)``) are passed in by the services layer, so the
engine adapter stays free of domain knowledge. SpiffWorkflow does not serialize the script engine:
it must be attached again after every load, which :mod:`workflow_app.engine.runtime` does.
"""
from __future__ import annotations

from typing import Callable

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

# Builtins a diagram expression may use. Everything else (open, __import__, eval, getattr ...) is absent.
SAFE_BUILTINS = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in ("abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list", "max", "min",
                 "range", "round", "set", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None")
}


def make_script_engine(functions: dict[str, Callable]) -> PythonScriptEngine:
    environment_globals = {"__builtins__": dict(SAFE_BUILTINS), **functions}
    return PythonScriptEngine(environment=TaskDataEnvironment(environment_globals))
