"""Business rule tasks evaluate FEEL decision tables (every hit policy), a table declaring Python keeps Python,
and a FEEL syntax error is refused at deploy with file, line and element."""
from pathlib import Path

import pytest

from workflow_app.engine import DiagramError, EngineInstance, parse_bundle

DIAGRAMS = Path(__file__).parent / "diagrams" / "feel"
FEEL_CELLS = {"__SMALL__": "< 100", "__KINDS__": '"a","b"', "__LARGE__": ">= 1000", "__LANGUAGE__": ""}
PYTHON_CELLS = {"__SMALL__": "< 100", "__KINDS__": '? in ("a", "b")', "__LARGE__": ">= 1000",
                "__LANGUAGE__": ' expressionLanguage="python"'}


def table(policy: str, aggregation: str = "", cells: dict[str, str] = FEEL_CELLS) -> str:
    text = (DIAGRAMS / "routing_template.dmn").read_text()
    text = text.replace("__POLICY__", policy)
    text = text.replace("__AGGREGATION__", f' aggregation="{aggregation}"' if aggregation else "")
    for marker, value in cells.items():
        text = text.replace(marker, value.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
                            if marker != "__LANGUAGE__" else value)
    return text


def run(dmn_text: str, data: dict) -> dict:
    bundle = parse_bundle((DIAGRAMS / "rule.bpmn").read_text(), "rule.bpmn", {"routing.dmn": dmn_text})
    instance = EngineInstance.new(bundle, {})
    instance.begin(data)
    assert instance.is_completed
    return instance.data


@pytest.mark.parametrize("policy, aggregation, data, expected", [
    ("FIRST", "", {"amount": 50, "kind": "a"}, 1),
    ("FIRST", "", {"amount": 500, "kind": "z"}, 2),
    ("PRIORITY", "", {"amount": 5000, "kind": "a"}, 3),  # outputValues 3,2,1: 3 comes first
    ("PRIORITY", "", {"amount": 50, "kind": "a"}, 2),
    ("ANY", "", {"amount": 500, "kind": "z"}, 2),
    ("UNIQUE", "", {"amount": 500, "kind": "z"}, 2),
    ("RULE ORDER", "", {"amount": 50, "kind": "b"}, [1, 2]),
    ("OUTPUT ORDER", "", {"amount": 50, "kind": "b"}, [2, 1]),
    ("COLLECT", "", {"amount": 5000, "kind": "a"}, [2, 3]),
    ("COLLECT", "SUM", {"amount": 50, "kind": "a"}, 3),
    ("COLLECT", "MIN", {"amount": 5000, "kind": "a"}, 2),
    ("COLLECT", "MAX", {"amount": 5000, "kind": "a"}, 3),
    ("COLLECT", "COUNT", {"amount": 50, "kind": "a"}, 2),
])
def test_hit_policies_through_a_business_rule_task(policy, aggregation, data, expected):
    assert run(table(policy, aggregation), data)["level"] == expected


def test_unique_with_two_matching_rules_is_a_routing_error_not_a_silent_first_match():
    from workflow_app.engine import EngineError
    with pytest.raises(EngineError):
        run(table("UNIQUE"), {"amount": 50, "kind": "a"})


def test_a_table_declaring_python_keeps_python_semantics():
    dmn = table("FIRST", cells=PYTHON_CELLS)
    assert run(dmn, {"amount": 50, "kind": "b"})["level"] == 1
    assert run(dmn, {"amount": 50, "kind": "c"})["level"] == 2


def test_a_feel_syntax_error_is_refused_at_deploy_with_file_line_and_element():
    dmn = table("FIRST", cells={**FEEL_CELLS, "__LARGE__": ">= (1000"})
    with pytest.raises(DiagramError) as caught:
        parse_bundle((DIAGRAMS / "rule.bpmn").read_text(), "rule.bpmn", {"routing.dmn": dmn})
    error = caught.value
    assert error.file == "routing.dmn"
    assert error.element_id == "rule_large_in0"
    assert error.line == dmn.splitlines().index(next(line for line in dmn.splitlines() if "rule_large_in0" in line)) + 1
    assert "not a valid FEEL expression" in error.message
    assert "Token" not in str(error) and "Error" not in str(error)
