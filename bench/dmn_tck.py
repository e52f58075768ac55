"""Run the DMN TCK (github.com/dmn-tck/tck) through workflow_app.decisions and print pass rates.

    .venv/bin/python bench/dmn_tck.py /tmp/tck            # a checkout (or extracted tree) of the TCK
    .venv/bin/python bench/dmn_tck.py /tmp/tck -v         # also list every failing result

Counts individual test results (each ``resultNode`` of each ``testCase``), as the TCK does, per compliance
level (TestCases/compliance-level-2 and compliance-level-3): passed, failed (wrong value) and errored (the
model could not be loaded or the evaluation raised).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from workflow_app.decisions import values as v
from workflow_app.decisions.dmn import DecisionModel, DmnError
from workflow_app.decisions.feel import parse_temporal

TC = "{http://www.omg.org/spec/DMN/20160719/testcase}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
LEVELS = ("compliance-level-2", "compliance-level-3")


def read_value(node: etree._Element) -> Any:
    """The value of an inputNode / expected / component / item element."""
    value = node.find(f"{TC}value")
    if value is not None:
        return _typed(value)
    components = node.findall(f"{TC}component")
    if components:
        return {c.get("name"): read_value(c) for c in components}
    items = node.find(f"{TC}list")
    if items is not None:
        return [read_value(item) for item in items.findall(f"{TC}item")]
    if node.get(f"{XSI}nil") == "true":
        return None
    return None


def _typed(value: etree._Element) -> Any:
    if value.get(f"{XSI}nil") == "true":
        return None
    text = value.text or ""
    kind = (value.get(f"{XSI}type") or "").split(":")[-1]
    if kind in ("decimal", "double", "integer", "int", "long", "float"):
        if text.strip() in ("NaN", "INF", "-INF"):
            return None
        return Decimal(text.strip())
    if kind == "boolean":
        return text.strip() == "true"
    if kind in ("date", "dateTime", "time", "duration"):
        return parse_temporal(text.strip())
    if list(value) and value.find(f"{TC}component") is not None:
        return {c.get("name"): read_value(c) for c in value.findall(f"{TC}component")}
    return text


def same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Decimal) and isinstance(actual, Decimal) and not isinstance(actual, bool):
        if actual == expected:
            return True
        return abs(actual - expected) <= Decimal("1e-9") * max(Decimal(1), abs(expected))
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(same(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return set(expected) <= set(actual) and all(same(actual[k], expected[k]) for k in expected)
    if isinstance(expected, str) and not isinstance(actual, str) and actual is not None:
        return v.format_value(actual) == expected
    if isinstance(expected, dt.datetime) and isinstance(actual, dt.datetime):
        return v.equal(actual, expected) is True and (actual.tzinfo is None) == (expected.tzinfo is None)
    return v.equal(actual, expected) is True


def run_case(models: dict[str, DecisionModel], default_model: str, case: etree._Element) -> list[tuple[str, str, str]]:
    """[(result name, outcome, detail)] for one testCase; outcome is passed / failed / errored."""
    model_name = case.get("modelName") or default_model
    model = models.get(model_name)
    results = case.findall(f"{TC}resultNode")
    if model is None:
        return [(r.get("name"), "errored", f"model {model_name} not loaded") for r in results]
    inputs = {node.get("name"): read_value(node) for node in case.findall(f"{TC}inputNode")}
    kind = case.get("type") or "decision"
    outcomes = []
    for result in results:
        name = result.get("name")
        expected_el = result.find(f"{TC}expected")
        expected = read_value(expected_el) if expected_el is not None else None
        try:
            if kind == "bkm":
                actual = model.invoke_knowledge(case.get("invocableName") or name, inputs)
            elif kind == "decisionService":
                actual = model.invoke_service(case.get("invocableName") or name, inputs)
                service_outputs = actual if isinstance(actual, dict) else None
                if service_outputs is not None and name in service_outputs and name != case.get("invocableName"):
                    actual = service_outputs[name]
            else:
                actual = _evaluate_decision(model, name, inputs)
        except Exception:  # noqa: BLE001 - a crash is one "errored" result
            outcomes.append((name, "errored", traceback.format_exc(limit=3)))
            continue
        if same(actual, expected):
            outcomes.append((name, "passed", ""))
        else:
            outcomes.append((name, "failed", f"expected {v.format_value(expected)!s:.200} got "
                                             f"{v.format_value(actual)!s:.200}"))
    return outcomes


def _evaluate_decision(model: DecisionModel, name: str, inputs: dict[str, Any]) -> Any:
    from workflow_app.decisions.dmn import _Run
    decision = model.find(name)
    run = _Run(model, inputs)
    for other in model.decisions.values():  # a test may give the value of a required decision directly
        if other.name in inputs and other.id != decision.id:
            run.results[other.id] = inputs[other.name]
    return run.decision(decision.id)


def run_folder(folder: Path) -> list[tuple[str, str, str, str]]:
    models: dict[str, DecisionModel] = {}
    load_errors: dict[str, str] = {}
    for path in sorted(folder.glob("*.dmn")):
        try:
            models[path.name] = DecisionModel(path.read_bytes(), path.name, strict=False)
        except DmnError as exc:
            load_errors[path.name] = str(exc)
        except Exception:  # noqa: BLE001
            load_errors[path.name] = traceback.format_exc(limit=3)
    rows = []
    for test_file in sorted(folder.glob("*-test-*.xml")):
        root = etree.parse(str(test_file)).getroot()
        default_model = root.findtext(f"{TC}modelName") or ""
        for case in root.findall(f"{TC}testCase"):
            for name, outcome, detail in run_case(models, default_model, case):
                if outcome == "errored" and default_model in load_errors:
                    detail = load_errors[default_model]
                rows.append((f"{folder.name}/{case.get('id')}", name, outcome, detail))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tck", type=Path, help="path of a DMN TCK checkout")
    parser.add_argument("-v", "--verbose", action="store_true", help="list failing and erroring results")
    parser.add_argument("--only", help="run only test folders whose name contains this")
    args = parser.parse_args()
    sys.setrecursionlimit(5000)
    base = args.tck / "TestCases"
    if not base.is_dir():
        print(f"{args.tck} has no TestCases folder; pass the path of a DMN TCK checkout", file=sys.stderr)
        return 2
    for level in LEVELS:
        counts = {"passed": 0, "failed": 0, "errored": 0}
        for folder in sorted(p for p in (base / level).iterdir() if p.is_dir()):
            if args.only and args.only not in folder.name:
                continue
            for test_id, name, outcome, detail in run_folder(folder):
                counts[outcome] += 1
                if args.verbose and outcome != "passed":
                    print(f"  {outcome:7} {test_id} {name}: {detail.strip().splitlines()[-1] if detail else ''}")
        total = sum(counts.values()) or 1
        print(f"{level}: {total} results, passed {counts['passed']} ({100 * counts['passed'] / total:.1f}%), "
              f"failed {counts['failed']} ({100 * counts['failed'] / total:.1f}%), "
              f"errored {counts['errored']} ({100 * counts['errored'] / total:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
