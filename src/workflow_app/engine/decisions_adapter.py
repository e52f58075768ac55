"""Business rule tasks evaluated by workflow_app.decisions (FEEL) instead of SpiffWorkflow's Python DMN engine.

:class:`FeelCamundaParser` is SpiffWorkflow's Camunda parser whose ``get_engine`` (called for every business
rule task while a process is parsed) returns a :class:`FeelDecisionEngine` for the decision the task names.
The engine's ``result(task)`` is what SpiffWorkflow's ``BusinessRuleTask`` merges into the task data, so the
outputs land in task data as before: ``{output name: value}`` for a single-hit table, ``{output name: [values]}``
for COLLECT / RULE ORDER / OUTPUT ORDER, ``{output name: aggregate}`` for COLLECT with SUM / MIN / MAX / COUNT,
and ``{decision variable: value}`` for a decision that is not a table. No matching rule sets nothing.

A DMN file that declares Python as its expression language (``expressionLanguage="python"``) is evaluated
cell by cell through the instance's sandboxed script engine.

Instance states hold no process spec (see serialization.py), so nothing of this module is stored with an
instance. For a spec serialized in full (``embed_spec``), ``decision_table`` holds an empty SpiffWorkflow table
with the decision's id, name and hit policy.
"""
from __future__ import annotations

import re
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.dmn.specs.model import DecisionTable, Input, Output

from workflow_app.decisions.dmn import DecisionModel, DmnError, plain_value
from workflow_app.decisions.values import to_feel

MULTI_HIT = {"COLLECT", "RULE ORDER", "OUTPUT ORDER"}


_PYTHON_CELL = re.compile(r"^(True|False|None)$|\?\s+(not\s+)?in\s*\(|\bif\b.*\belse\b|==|\band\b.*\bnot\b")


def load_decision_models(dmn_files: dict[str, str], legacy: bool = False) -> dict[str, DecisionModel]:
    """Every decision id across the DMN files -> its parsed model; raises DmnError (file, line, element).

    ``legacy``: the files of a version deployed before decision tables were FEEL (loaded for its running
    escalations) — a file that declares no language and is written in Python keeps Python semantics."""
    by_decision: dict[str, DecisionModel] = {}
    for filename, text in dmn_files.items():
        language = "python" if legacy and _written_in_python(text) else None
        model = DecisionModel(text, filename, python_hook=_refuse_python_at_deploy, default_language=language)
        for decision_id in model.decisions:
            by_decision[decision_id] = model
    return by_decision


def _written_in_python(text: str) -> bool:
    root = etree.fromstring(text.encode("utf-8") if isinstance(text, str) else text,
                            etree.XMLParser(resolve_entities=False, no_network=True))
    if root.get("expressionLanguage"):
        return False
    cells = [(t.text or "").strip() for t in root.iter() if isinstance(t.tag, str) and etree.QName(t).localname == "text"]
    return any(_PYTHON_CELL.search(cell) for cell in cells)


def _refuse_python_at_deploy(text: str, variables: dict[str, Any]) -> Any:  # replaced per task at run time
    raise RuntimeError("Python expressions are evaluated only inside a running instance")


class FeelDecisionEngine:
    """What SpiffWorkflow's BusinessRuleTask calls: ``result(task) -> dict`` merged into the task data."""

    def __init__(self, model: DecisionModel, decision_id: str):
        self.model = model
        self.decision_id = decision_id
        self.decision_table = _spiff_table(model.decisions[decision_id])

    def decide(self, task: Any) -> list[dict[str, Any]]:
        """What the runtime asks before the task runs: an empty list when no rule matches (a routing error)."""
        outcome = self.result(task)
        return [outcome] if outcome else []

    def result(self, task: Any) -> dict[str, Any]:
        decision = self.model.decisions[self.decision_id]
        script_engine = getattr(task.workflow, "script_engine", None)
        hook = None
        if script_engine is not None:
            def hook(text: str, variables: dict[str, Any]) -> Any:
                return script_engine.environment.evaluate(text, variables)
        try:
            value = self.model.evaluate(self.decision_id, _task_inputs(task), python_hook=hook)
        except DmnError as exc:
            raise WorkflowTaskException(exc.message, task=task) from None
        return _as_task_data(decision, value)


def _spiff_table(decision: Any) -> DecisionTable:
    """The decision's inputs and outputs in SpiffWorkflow's classes (the runtime names them in a routing error;
    SpiffWorkflow's serializer writes them); the rules stay with workflow_app.decisions."""
    table = DecisionTable(decision.id, decision.name, (decision.hit_policy or "UNIQUE").upper())
    element = next((c for c in decision.element if isinstance(c.tag, str)
                    and etree.QName(c).localname == "decisionTable"), None)
    if element is None:
        return table
    for child in element:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local == "input":
            expression = next((t.text or "" for t in child.iter() if isinstance(t.tag, str)
                               and etree.QName(t).localname == "text"), "")
            table.inputs.append(Input(child.get("id"), child.get("label"), child.get("name") or child.get("label"),
                                      expression.strip(), None))
        elif local == "output":
            table.outputs.append(Output(child.get("id"), child.get("label"), child.get("name"), child.get("typeRef")))
    return table


def _task_inputs(task: Any) -> dict[str, Any]:
    """Task data as the decision's input data: every variable under its own name (numbers as FEEL numbers)."""
    return {str(k): to_feel(v) for k, v in dict(task.data).items()}


def _as_task_data(decision: Any, value: Any) -> dict[str, Any]:
    outputs = decision.table_outputs
    if not outputs:  # a literal expression, context, invocation...
        return {} if value is None else {decision.name: plain_value(value)}
    policy = (decision.hit_policy or "UNIQUE").upper()
    aggregated = policy == "COLLECT" and _aggregation(decision)
    if value is None:
        return {}
    if policy in MULTI_HIT and not aggregated:
        rows = value if isinstance(value, list) else [value]
        if len(outputs) == 1:
            return {outputs[0]: [plain_value(row) for row in rows]}
        return {name: [plain_value(row.get(name)) if isinstance(row, dict) else None for row in rows]
                for name in outputs}
    if len(outputs) == 1:
        return {outputs[0]: plain_value(value)}
    return {name: plain_value(value.get(name)) for name in outputs} if isinstance(value, dict) else {}


def _aggregation(decision: Any) -> bool:
    element = decision.element
    table = next((c for c in element if isinstance(c.tag, str) and etree.QName(c).localname == "decisionTable"),
                 None)
    return bool(table is not None and table.get("aggregation"))


class FeelCamundaParser(CamundaParser):
    """CamundaParser whose business rule tasks evaluate decisions with the FEEL evaluator."""

    def __init__(self, models: dict[str, DecisionModel], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.decision_models = models

    def get_engine(self, decision_ref: str, node: Any) -> FeelDecisionEngine:
        model = self.decision_models.get(decision_ref)
        if model is None:
            available = ", ".join(sorted(self.decision_models)) or "none"
            raise ValidationException(f"no DMN file defines the decision '{decision_ref}' (available: {available})",
                                      node=node, file_name="")
        return FeelDecisionEngine(model, decision_ref)
