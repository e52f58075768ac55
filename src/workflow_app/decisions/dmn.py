"""Load DMN 1.1–1.5 models and evaluate their decisions with the FEEL interpreter.

Supported: decision tables (every hit policy), literal expressions, contexts, invocations, relations, lists,
function definitions, the DMN 1.5 boxed conditional / filter / iterators, business knowledge models,
decision services, decision requirements and item definitions (type checks, allowed values, collections).

A model or expression that declares Python as its expression language is evaluated through a hook the
caller provides (the engine passes its sandbox); without a hook such a model is refused.

Every load error is a :class:`DmnError` whose ``str()`` names the file, the line and the element id.
"""
from __future__ import annotations

import contextvars
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from lxml import etree

from workflow_app.decisions import feel
from workflow_app.decisions import values as v
from workflow_app.decisions.feel import FeelSyntaxError, Scope
from workflow_app.decisions.values import FeelFunction, YearsMonths

DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",  # 1.1
    "http://www.omg.org/spec/DMN/20180521/MODEL/",  # 1.2
    "https://www.omg.org/spec/DMN/20191111/MODEL/",  # 1.3
    "https://www.omg.org/spec/DMN/20211108/MODEL/",  # 1.4
    "https://www.omg.org/spec/DMN/20230324/MODEL/",  # 1.5
)
HIT_POLICIES = {"UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER"}
AGGREGATIONS = {"SUM", "MIN", "MAX", "COUNT"}
Node = Callable[[Scope], Any]
# (expression text, variables) -> value, for Python-language expressions; unary=True for input entries
PythonHook = Callable[[str, dict[str, Any]], Any]


_HOOK: contextvars.ContextVar[PythonHook | None] = contextvars.ContextVar("python_hook", default=None)


class DmnError(ValueError):
    """A DMN file that cannot be used; ``str()`` is a plain sentence with file, line and element."""

    def __init__(self, message: str, file: str, line: int | None = None, element_id: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.element_id = element_id
        where = file
        if line:
            where += f", line {line}"
        if element_id:
            where += f", element '{element_id}'"
        super().__init__(f"{where}: {message}")


class DecisionEvaluationError(RuntimeError):
    """A decision that could not produce a result (for instance a UNIQUE table with two matching rules)."""


def _local(element: Any) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element: Any, name: str) -> list:
    return [c for c in element if _local(c) == name]


def _child(element: Any, name: str) -> Any:
    for c in element:
        if _local(c) == name:
            return c
    return None


def _text(element: Any) -> str:
    text_el = _child(element, "text") if element is not None else None
    return (text_el.text or "") if text_el is not None else ""


def _href(element: Any) -> str:
    return (element.get("href") or "").split("#")[-1]


def _strip_prefix(type_ref: str | None) -> str | None:
    if not type_ref:
        return None
    if ":" in type_ref and not type_ref.startswith("http"):
        prefix, _, rest = type_ref.partition(":")
        if " " not in prefix:
            return rest
    return type_ref


def is_python_language(language: str | None) -> bool:
    return bool(language) and "python" in language.lower()


def _is_feel_language(language: str | None) -> bool:
    if not language:
        return True
    lowered = language.lower()
    return "feel" in lowered or lowered.startswith(("http://www.omg.org/spec/dmn", "https://www.omg.org/spec/dmn"))


# ---------------------------------------------------------------------------------------------- types

_BUILTIN_TYPES = {
    "number": "number", "string": "string", "boolean": "boolean", "date": "date", "time": "time",
    "dateTime": "date and time", "date and time": "date and time", "dayTimeDuration": "days and time duration",
    "days and time duration": "days and time duration", "yearMonthDuration": "years and months duration",
    "years and months duration": "years and months duration", "context": "context", "list": "list",
    "function": "function", "range": "range", "duration": "duration",
}


@dataclass
class ItemDefinition:
    name: str
    type_ref: str | None = None
    is_collection: bool = False
    components: dict[str, ItemDefinition] = field(default_factory=dict)
    allowed: feel.UnaryTests | None = None
    function_type: bool = False


class Types:
    """Type checks for decision results, input data and parameters (``typeRef`` / ``itemDefinition``)."""

    def __init__(self, definitions: dict[str, ItemDefinition]):
        self.definitions = definitions

    def conform(self, value: Any, type_ref: str | None) -> tuple[bool, Any]:
        """(conforms, value after singleton-list coercion)."""
        type_ref = _strip_prefix(type_ref)
        if value is None or not type_ref or type_ref == "Any":
            return True, value
        definition = self.definitions.get(type_ref)
        if definition is None:
            return self._builtin(value, type_ref)
        return self._item(value, definition)

    def _builtin(self, value: Any, type_ref: str) -> tuple[bool, Any]:
        name = _BUILTIN_TYPES.get(type_ref)
        if name is None:
            if "<" in type_ref:
                return feel.instance_of_text(value, type_ref), value
            return True, value  # an unknown type is not checked
        if name == "duration":
            return isinstance(value, (dt.timedelta, YearsMonths)), value
        if v.kind(value) == name:
            return True, value
        if isinstance(value, list) and len(value) == 1 and v.kind(value[0]) == name:
            return True, value[0]
        if name == "list":
            return True, [value]
        return False, value

    def _item(self, value: Any, item: ItemDefinition) -> tuple[bool, Any]:
        if item.is_collection:
            if not isinstance(value, list):
                value = [value]
            single = ItemDefinition(item.name, item.type_ref, False, item.components, item.allowed,
                                    item.function_type)
            result = []
            for element in value:
                ok, coerced = self._item(element, single)
                if not ok:
                    return False, value
                result.append(coerced)
            return True, result
        if item.function_type:
            return isinstance(value, FeelFunction), value
        if item.components:
            if not isinstance(value, dict):
                return False, value
            coerced_context = dict(value)
            for key, component in item.components.items():
                if key in value:
                    ok, coerced = self._item(value[key], component) if value[key] is not None else (True, None)
                    if not ok:
                        return False, value
                    coerced_context[key] = coerced
            return True, coerced_context
        if item.type_ref:
            ok, value = self.conform(value, item.type_ref)
            if not ok:
                return False, value
        if item.allowed is not None and value is not None and not item.allowed.matches(value):
            return False, value
        return True, value

    def check(self, value: Any, type_ref: str | None) -> Any:
        """The value if it conforms to the type (after coercion), else null."""
        ok, coerced = self.conform(value, type_ref)
        return coerced if ok else None


# ---------------------------------------------------------------------------------------------- model

@dataclass
class Decision:
    id: str
    name: str
    type_ref: str | None
    logic: Node | None
    required_decisions: list[str]
    required_inputs: list[str]
    required_knowledge: list[str]
    element: Any = None
    table_outputs: list[str] = field(default_factory=list)
    hit_policy: str | None = None


@dataclass
class Knowledge:
    id: str
    name: str
    params: list[tuple[str, str | None]]
    body: Node | None
    required_knowledge: list[str]
    required_decisions: list[str] = field(default_factory=list)
    required_inputs: list[str] = field(default_factory=list)


@dataclass
class Service:
    id: str
    name: str
    outputs: list[str]
    input_decisions: list[str]
    input_data: list[str]


class DecisionModel:
    """One DMN file, parsed and compiled; :meth:`evaluate` runs a decision and what it requires."""

    def __init__(self, text: str | bytes, filename: str = "model.dmn", python_hook: PythonHook | None = None,
                 imports: dict[str, DecisionModel] | None = None, strict: bool = True,
                 default_language: str | None = None):
        self.filename = filename
        self.default_language = default_language  # for expressions whose file declares no language
        self.strict = strict  # False: an expression that does not parse evaluates to null (as the TCK expects)
        self.python_hook = python_hook
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            data = text.encode("utf-8") if isinstance(text, str) else text
            self.root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            raise DmnError(f"not well-formed XML: {exc.msg}", filename, exc.lineno) from None
        if _local(self.root) != "definitions":
            raise DmnError("not a DMN file (the root element is not 'definitions')", filename,
                           self.root.sourceline)
        self.namespace = self.root.get("namespace")
        self.language = self.root.get("expressionLanguage")
        self.by_id: dict[str, Any] = {}
        self.decisions: dict[str, Decision] = {}
        self.knowledge: dict[str, Knowledge] = {}
        self.services: dict[str, Service] = {}
        self.inputs: dict[str, tuple[str, str | None]] = {}  # id -> (name, typeRef)
        self.imports = imports or {}
        self._read_names()
        self.types = Types(self._item_definitions())
        self._read_drg()

    # loading ------------------------------------------------------------------------------
    def _read_names(self) -> None:
        names: set[str] = set()
        for element in self.root.iter():
            if not isinstance(element.tag, str):
                continue
            if element.get("id"):
                self.by_id[element.get("id")] = element
            local = _local(element)
            if local in ("decision", "inputData", "businessKnowledgeModel", "decisionService", "itemComponent",
                         "itemDefinition") and element.get("name"):
                names.add(element.get("name"))
            if local in ("variable", "formalParameter", "parameter", "column", "contextEntry") and element.get("name"):
                names.add(element.get("name"))
            if local in ("for", "some", "every") and element.get("iteratorVariable"):
                names.add(element.get("iteratorVariable"))
        self.names = frozenset(names)

    def _item_definitions(self) -> dict[str, ItemDefinition]:
        definitions: dict[str, ItemDefinition] = {}
        for element in _children(self.root, "itemDefinition"):
            item = self._item(element)
            definitions[item.name] = item
        return definitions

    def _item(self, element: Any) -> ItemDefinition:
        type_ref_el = _child(element, "typeRef")
        type_ref = (type_ref_el.text or "").strip() if type_ref_el is not None else element.get("typeRef")
        item = ItemDefinition(element.get("name") or "", _strip_prefix(type_ref),
                              element.get("isCollection") == "true")
        item.function_type = _child(element, "functionItem") is not None
        for component in _children(element, "itemComponent"):
            item.components[component.get("name")] = self._item(component)
        allowed = _child(element, "allowedValues")
        if allowed is not None and _text(allowed).strip():
            item.allowed = self._unary(_text(allowed), _child(allowed, "text"), element)
        return item

    def _where(self, element: Any) -> tuple[int | None, str | None]:
        owner = element
        while owner is not None and not owner.get("id"):
            owner = owner.getparent()
        return element.sourceline, owner.get("id") if owner is not None else None

    def _error(self, message: str, element: Any) -> DmnError:
        line, element_id = self._where(element)
        return DmnError(message, self.filename, line, element_id)

    def _language(self, element: Any) -> str | None:
        owner = element
        while owner is not None:
            if owner.get("expressionLanguage"):
                return owner.get("expressionLanguage")
            owner = owner.getparent()
        return self.default_language

    def _expression(self, text: str, text_el: Any, owner: Any) -> Node:
        """Compile a FEEL (or Python) expression; a syntax error names the file, line and element."""
        language = self._language(text_el if text_el is not None else owner)
        if is_python_language(language):
            return self._python_expression(text, text_el if text_el is not None else owner)
        if not _is_feel_language(language):
            raise self._error(f"the expression language '{language}' is not supported; use FEEL (or Python)",
                              text_el if text_el is not None else owner)
        if not text.strip():
            return lambda s: None
        try:
            expression = feel.compile_expression(text, self.names)
        except FeelSyntaxError as exc:
            if not self.strict:
                return lambda s: None
            raise self._error(f"{_shown(text)}: {exc.message}", text_el if text_el is not None else owner) from None
        return expression.evaluate

    def _python_expression(self, text: str, element: Any) -> Node:
        if self.python_hook is None:
            raise self._error("this expression is declared as Python, which this evaluator cannot run on its own",
                              element)

        def run(s: Scope) -> Any:
            return v.to_feel(self.current_hook()(text, _flatten_scope(s)))
        return run

    def current_hook(self) -> PythonHook:
        """The Python evaluator of the running evaluation (``evaluate(python_hook=...)``) or the model's."""
        return _HOOK.get() or self.python_hook

    def _unary(self, text: str, text_el: Any, owner: Any) -> feel.UnaryTests:
        try:
            return feel.compile_unary_tests(text, self.names)
        except FeelSyntaxError as exc:
            if not self.strict:
                return feel.compile_unary_tests("null")
            raise self._error(f"{_shown(text)}: {exc.message}", text_el if text_el is not None else owner) from None

    def _read_drg(self) -> None:
        for element in self.root:
            local = _local(element)
            if local == "inputData":
                variable = _child(element, "variable")
                type_ref = variable.get("typeRef") if variable is not None else None
                self.inputs[element.get("id")] = (element.get("name"), type_ref)
        for element in self.root:
            local = _local(element)
            if local == "decision":
                decision = self._decision(element)
                self.decisions[decision.id] = decision
            elif local == "businessKnowledgeModel":
                self.knowledge[element.get("id")] = self._bkm(element)
            elif local == "decisionService":
                self.services[element.get("id")] = Service(
                    element.get("id"), element.get("name"),
                    [_href(e) for e in _children(element, "outputDecision")],
                    [_href(e) for e in _children(element, "inputDecision")],
                    [_href(e) for e in _children(element, "inputData")])

    def _requirements(self, element: Any) -> tuple[list[str], list[str], list[str]]:
        decisions, inputs, knowledge = [], [], []
        for requirement in _children(element, "informationRequirement"):
            for kind, target in (("requiredDecision", decisions), ("requiredInput", inputs)):
                ref = _child(requirement, kind)
                if ref is not None:
                    target.append(_href(ref))
        for requirement in _children(element, "knowledgeRequirement"):
            ref = _child(requirement, "requiredKnowledge")
            if ref is not None:
                knowledge.append(_href(ref))
        return decisions, inputs, knowledge

    def _decision(self, element: Any) -> Decision:
        decisions, inputs, knowledge = self._requirements(element)
        variable = _child(element, "variable")
        type_ref = variable.get("typeRef") if variable is not None else None
        logic_el = self._logic_element(element)
        logic = self._boxed(logic_el) if logic_el is not None else None
        decision = Decision(element.get("id"), element.get("name"), type_ref, logic, decisions, inputs, knowledge,
                            element)
        if logic_el is not None and _local(logic_el) == "decisionTable":
            decision.table_outputs = [o.get("name") or "" for o in _children(logic_el, "output")]
            decision.hit_policy = logic_el.get("hitPolicy") or "UNIQUE"
        return decision

    def _bkm(self, element: Any) -> Knowledge:
        decisions, inputs, knowledge = self._requirements(element)
        logic = _child(element, "encapsulatedLogic")
        params: list[tuple[str, str | None]] = []
        body = None
        if logic is not None:
            params = [(p.get("name"), p.get("typeRef")) for p in _children(logic, "formalParameter")]
            body_el = self._logic_element(logic)
            body = self._boxed(body_el) if body_el is not None else None
        return Knowledge(element.get("id"), element.get("name"), params, body, knowledge, decisions, inputs)

    _LOGIC = {"literalExpression", "decisionTable", "context", "invocation", "relation", "list",
              "functionDefinition", "conditional", "filter", "for", "some", "every"}

    def _logic_element(self, element: Any) -> Any:
        for child in element:
            if _local(child) in self._LOGIC:
                return child
        return None

    # boxed expressions --------------------------------------------------------------------
    def _boxed(self, element: Any) -> Node:
        local = _local(element)
        method = getattr(self, f"_boxed_{local}", None)
        if method is None:
            raise self._error(f"'{local}' expressions are not supported", element)
        node = method(element)
        type_ref = element.get("typeRef")
        if type_ref and local not in ("decisionTable",):
            types = self.types
            return lambda s: types.check(node(s), type_ref)
        return node

    def _boxed_literalExpression(self, element: Any) -> Node:
        text_el = _child(element, "text")
        return self._expression(_text(element), text_el, element)

    def _boxed_context(self, element: Any) -> Node:
        entries: list[tuple[str | None, str | None, Node]] = []
        for entry in _children(element, "contextEntry"):
            variable = _child(entry, "variable")
            name = variable.get("name") if variable is not None else None
            type_ref = variable.get("typeRef") if variable is not None else None
            logic = self._logic_element(entry)
            node = self._boxed(logic) if logic is not None else (lambda s: None)
            entries.append((name, type_ref, node))
        types = self.types

        def run(s: Scope) -> Any:
            result: dict[str, Any] = {}
            inner = s.child(result)
            for name, type_ref, node in entries:
                value = node(inner)
                if name is None:
                    return value
                result[name] = types.check(value, type_ref) if type_ref else value
            return dict(result)
        return run

    def _boxed_list(self, element: Any) -> Node:
        items = [self._boxed(child) for child in element if _local(child) in self._LOGIC]
        return lambda s: [item(s) for item in items]

    def _boxed_relation(self, element: Any) -> Node:
        columns = [c.get("name") for c in _children(element, "column")]
        rows = []
        for row in _children(element, "row"):
            cells = [self._boxed(child) for child in row if _local(child) in self._LOGIC]
            if len(cells) != len(columns):
                raise self._error("a relation row has a different number of cells than the relation has columns",
                                  row)
            rows.append(cells)
        return lambda s: [{name: cell(s) for name, cell in zip(columns, cells)} for cells in rows]

    def _boxed_functionDefinition(self, element: Any) -> Node:
        kind = element.get("kind") or "FEEL"
        params = [(p.get("name"), p.get("typeRef")) for p in _children(element, "formalParameter")]
        body_el = self._logic_element(element)
        if kind != "FEEL":
            return lambda s: None
        body = self._boxed(body_el) if body_el is not None else (lambda s: None)
        return lambda s: self._function("anonymous", params, body, s)

    def _function(self, name: str, params: list[tuple[str, str | None]], body: Node, scope: Scope) -> FeelFunction:
        types = self.types

        def call(args: dict[str, Any]) -> Any:
            bound = {}
            for pname, ptype in params:
                value = args.get(pname)
                value = None if v.missing(value) else value
                if ptype and value is not None:
                    ok, value = types.conform(value, ptype)
                    if not ok:
                        return None
                bound[pname] = value
            return body(scope.child(bound))
        return FeelFunction(name, [p for p, _ in params], call)

    def _boxed_invocation(self, element: Any) -> Node:
        callee_el = self._logic_element(element)
        callee = self._boxed(callee_el) if callee_el is not None else (lambda s: None)
        bindings = []
        for binding in _children(element, "binding"):
            parameter = _child(binding, "parameter")
            logic = self._logic_element(binding)
            node = self._boxed(logic) if logic is not None else (lambda s: None)
            bindings.append((parameter.get("name") if parameter is not None else None, node))

        def run(s: Scope) -> Any:
            function = callee(s)
            if not isinstance(function, FeelFunction):
                return None
            return function.call(None, {name: node(s) for name, node in bindings if name})
        return run

    def _boxed_conditional(self, element: Any) -> Node:
        parts = {}
        for key in ("if", "then", "else"):
            part = _child(element, key)
            logic = self._logic_element(part) if part is not None else None
            parts[key] = self._boxed(logic) if logic is not None else (lambda s: None)
        return lambda s: parts["then"](s) if parts["if"](s) is True else parts["else"](s)

    def _boxed_filter(self, element: Any) -> Node:
        source = self._boxed(self._logic_element(_child(element, "in")))
        match = self._boxed(self._logic_element(_child(element, "match")))

        def run(s: Scope) -> Any:
            items = source(s)
            if not isinstance(items, list):
                return None
            result = []
            for item in items:
                names = dict(item) if isinstance(item, dict) else {}
                names["item"] = item
                if match(s.child(names)) is True:
                    result.append(item)
            return result
        return run

    def _boxed_iterator(self, element: Any, kind: str) -> Node:
        variable = element.get("iteratorVariable")
        source = self._boxed(self._logic_element(_child(element, "in")))
        body_name = {"for": "return", "some": "satisfies", "every": "satisfies"}[kind]
        body = self._boxed(self._logic_element(_child(element, body_name)))

        def run(s: Scope) -> Any:
            items = feel._iterate(source(s))
            if items is None:
                return None
            if kind == "for":
                results: list = []
                for item in items:
                    results.append(body(s.child({variable: item, "partial": results})))
                return results
            outcomes = [body(s.child({variable: item})) for item in items]
            if kind == "some":
                return any(o is True for o in outcomes)
            return all(o is True for o in outcomes)
        return run

    def _boxed_for(self, element: Any) -> Node:
        return self._boxed_iterator(element, "for")

    def _boxed_some(self, element: Any) -> Node:
        return self._boxed_iterator(element, "some")

    def _boxed_every(self, element: Any) -> Node:
        return self._boxed_iterator(element, "every")

    def _boxed_decisionTable(self, element: Any) -> Node:
        return _DecisionTable(self, element).evaluate

    # evaluation ---------------------------------------------------------------------------
    def find(self, name_or_id: str) -> Decision:
        if name_or_id in self.decisions:
            return self.decisions[name_or_id]
        for decision in self.decisions.values():
            if decision.name == name_or_id:
                return decision
        raise KeyError(name_or_id)

    def decision_names(self) -> list[str]:
        return [d.name for d in self.decisions.values()]

    def evaluate(self, decision: str, inputs: dict[str, Any], python_hook: PythonHook | None = None) -> Any:
        """The value of one decision (by id or name) given the input data values (by name).

        ``python_hook`` evaluates the Python-language expressions of this evaluation (the engine passes the
        running instance's sandbox)."""
        token = _HOOK.set(python_hook) if python_hook is not None else None
        try:
            run = _Run(self, v.to_feel(inputs), open_inputs=True)
            return run.decision(self.find(decision).id)
        finally:
            if token is not None:
                _HOOK.reset(token)

    def evaluate_all(self, inputs: dict[str, Any]) -> dict[str, Any]:
        run = _Run(self, v.to_feel(inputs))
        return {d.name: run.decision(d.id) for d in self.decisions.values()}

    def invoke_service(self, name: str, inputs: dict[str, Any]) -> Any:
        service = next((s for s in self.services.values() if s.name == name or s.id == name), None)
        if service is None:
            raise KeyError(name)
        run = _Run(self, {})
        function = run.service_function(service)
        return function.call(None, {k: val for k, val in v.to_feel(inputs).items() if k in function.params})

    def invoke_knowledge(self, name: str, inputs: dict[str, Any]) -> Any:
        bkm = next((b for b in self.knowledge.values() if b.name == name or b.id == name), None)
        if bkm is None:
            raise KeyError(name)
        run = _Run(self, v.to_feel(inputs))
        return run.knowledge_function(bkm.id).call(None, v.to_feel(inputs))


def _flatten_scope(scope: Scope) -> dict[str, Any]:
    chain = []
    current: Scope | None = scope
    while current is not None:
        chain.append(current.variables)
        current = current.parent
    result: dict[str, Any] = {}
    for variables in reversed(chain):
        result.update(variables)
    return {k: v.to_python(val) for k, val in result.items()}


def _shown(text: str) -> str:
    shown = " ".join(text.split())
    return f"'{shown}'" if len(shown) <= 80 else f"'{shown[:77]}...'"


class _Run:
    """One evaluation: decision results are computed once and shared by the decisions requiring them."""

    def __init__(self, model: DecisionModel, inputs: dict[str, Any], open_inputs: bool = False):
        self.model = model
        self.inputs = inputs
        # open_inputs: every input is visible to every decision, declared as input data or not (the engine's
        # task data); otherwise a decision sees only what it requires, as the DMN standard scopes it
        self.base = Scope(dict(inputs)) if open_inputs else None
        self.results: dict[str, Any] = {}
        self.active: set[str] = set()

    def input_value(self, input_id: str) -> tuple[str, Any]:
        name, type_ref = self.model.inputs.get(input_id, (input_id, None))
        value = self.inputs.get(name)
        return name, self.model.types.check(value, type_ref)

    def scope_for(self, decisions: list[str], inputs: list[str], knowledge: list[str]) -> Scope:
        variables: dict[str, Any] = {}
        for input_id in inputs:
            name, value = self.input_value(input_id)
            variables[name] = value
        for decision_id in decisions:
            decision = self.model.decisions.get(decision_id)
            if decision is not None:
                variables[decision.name] = self.decision(decision_id)
        for knowledge_id in knowledge:
            if knowledge_id in self.model.knowledge:
                variables[self.model.knowledge[knowledge_id].name] = self.knowledge_function(knowledge_id)
            elif knowledge_id in self.model.services:
                service = self.model.services[knowledge_id]
                variables[service.name] = self.service_function(service)
        return Scope(variables, self.base)

    def decision(self, decision_id: str) -> Any:
        if decision_id in self.results:
            return self.results[decision_id]
        if decision_id in self.active:
            return None
        decision = self.model.decisions[decision_id]
        self.active.add(decision_id)
        try:
            scope = self.scope_for(decision.required_decisions, decision.required_inputs,
                                   decision.required_knowledge)
            value = decision.logic(scope) if decision.logic is not None else None
            value = self.model.types.check(value, decision.type_ref)
        finally:
            self.active.discard(decision_id)
        self.results[decision_id] = value
        return value

    def knowledge_function(self, knowledge_id: str) -> FeelFunction:
        bkm = self.model.knowledge[knowledge_id]
        body = bkm.body

        def body_node(s: Scope) -> Any:
            if body is None:
                return None
            value = body(s)
            if isinstance(value, FeelFunction) and not bkm.params:
                return value
            return value

        def call(args: dict[str, Any]) -> Any:
            scope = self.scope_for(bkm.required_decisions, bkm.required_inputs, bkm.required_knowledge)
            function = self.model._function(bkm.name, bkm.params, body_node, scope)
            return function.body(args)
        return FeelFunction(bkm.name, [p for p, _ in bkm.params], call)

    def service_function(self, service: Service) -> FeelFunction:
        params = [self.model.decisions[d].name for d in service.input_decisions if d in self.model.decisions]
        params += [self.model.inputs[i][0] for i in service.input_data if i in self.model.inputs]

        def call(args: dict[str, Any]) -> Any:
            inner = _Run(self.model, {})
            for decision_id in service.input_decisions:
                decision = self.model.decisions.get(decision_id)
                if decision is not None:
                    value = args.get(decision.name)
                    inner.results[decision_id] = None if v.missing(value) else value
            for input_id in service.input_data:
                name = self.model.inputs.get(input_id, (input_id, None))[0]
                value = args.get(name)
                inner.inputs[name] = None if v.missing(value) else value
            outputs = {self.model.decisions[d].name: inner.decision(d) for d in service.outputs
                       if d in self.model.decisions}
            if len(outputs) == 1:
                return next(iter(outputs.values()))
            return outputs
        return FeelFunction(service.name, params, call)


# ---------------------------------------------------------------------------------------------- tables

class _DecisionTable:
    def __init__(self, model: DecisionModel, element: Any):
        self.model = model
        self.element = element
        self.hit_policy = (element.get("hitPolicy") or "UNIQUE").upper()
        if self.hit_policy not in HIT_POLICIES:
            raise model._error(f"unknown hit policy '{self.hit_policy}'; use one of {', '.join(sorted(HIT_POLICIES))}",
                               element)
        self.aggregation = (element.get("aggregation") or "").upper() or None
        if self.aggregation and self.aggregation not in AGGREGATIONS:
            raise model._error(f"unknown aggregation '{self.aggregation}'; use SUM, MIN, MAX or COUNT", element)
        self.inputs = []
        for input_el in _children(element, "input"):
            expression_el = _child(input_el, "inputExpression")
            text_el = _child(expression_el, "text") if expression_el is not None else None
            node = model._expression(_text(expression_el), text_el, expression_el if expression_el is not None
                                     else input_el)
            values_el = _child(input_el, "inputValues")
            allowed = model._unary(_text(values_el), _child(values_el, "text"), values_el) \
                if values_el is not None and _text(values_el).strip() else None
            self.inputs.append((node, allowed, self._python(text_el if text_el is not None else input_el)))
        self.outputs = []
        for output_el in _children(element, "output"):
            values_el = _child(output_el, "outputValues")
            order = None
            if values_el is not None and _text(values_el).strip():
                order = [self._literal(part, values_el) for part in feel._split_top_level(_text(values_el))]
            default_el = _child(output_el, "defaultOutputEntry")
            default = model._expression(_text(default_el), _child(default_el, "text"), default_el) \
                if default_el is not None else None
            self.outputs.append((output_el.get("name") or "", output_el.get("typeRef"), order, default))
        self.rules = []
        for rule in _children(element, "rule"):
            entries = _children(rule, "inputEntry")
            outputs = _children(rule, "outputEntry")
            if len(entries) != len(self.inputs) or len(outputs) != len(self.outputs):
                raise model._error(f"rule has {len(entries)} input and {len(outputs)} output cells, but the table "
                                   f"has {len(self.inputs)} inputs and {len(self.outputs)} outputs", rule)
            tests = [self._test(entry) for entry in entries]
            results = [model._expression(_text(o), _child(o, "text"), o) for o in outputs]
            self.rules.append((rule.get("id"), tests, results))

    def _literal(self, text: str, element: Any) -> Any:
        """An output value of ``outputValues`` (the priority order): a literal, read as FEEL in every language."""
        try:
            return feel.compile_expression(text, self.model.names).evaluate({})
        except FeelSyntaxError as exc:
            raise self.model._error(f"{_shown(text)}: {exc.message}", element) from None

    def _python(self, element: Any) -> bool:
        return is_python_language(self.model._language(element))

    def _test(self, entry: Any) -> Callable[[Any, Scope], bool]:
        text = _text(entry)
        text_el = _child(entry, "text")
        if self._python(text_el if text_el is not None else entry):
            return self._python_test(text, text_el if text_el is not None else entry)
        tests = self.model._unary(text, text_el, entry)
        return lambda value, scope: tests.matches(value, scope)

    def _python_test(self, text: str, element: Any) -> Callable[[Any, Scope], bool]:
        """A Python input entry as SpiffWorkflow reads it: ``-``, ``> 3``, ``"a"``, ``? in ("a", "b")``."""
        body = text.strip()
        if body in ("", "-"):
            return lambda value, scope: True
        if self.model.python_hook is None:
            raise self.model._error("this input entry is declared as Python, which this evaluator cannot run on "
                                    "its own", element)
        marker = "dmn_input_value"
        source = re.sub(r'\?(?=(?:[^"\']|"[^"]*"|\'[^\']*\')*$)', marker, body)
        if marker not in source and re.match(r"^\s*(<=|>=|<|>|==|!=|not\s+in\b|in\b)", source):
            source = f"{marker} {source}"

        def run(value: Any, scope: Scope) -> bool:
            variables = _flatten_scope(scope)
            variables[marker] = v.to_python(value)
            result = self.model.current_hook()(source, variables)
            if marker in source:
                return result is True
            return v.equal(v.to_feel(result), value) is True
        return run

    def evaluate(self, scope: Scope) -> Any:
        values = []
        for node, allowed, _python in self.inputs:
            value = node(scope)
            if allowed is not None and value is not None and not allowed.matches(value, scope):
                return None
            values.append(value)
        matched = []
        for rule_id, tests, results in self.rules:
            if all(test(value, scope) for test, value in zip(tests, values)):
                matched.append((rule_id, [self._output(i, result(scope)) for i, result in enumerate(results)]))
        return self._hit(matched, scope)

    def _output(self, index: int, value: Any) -> Any:
        _name, type_ref, order, _default = self.outputs[index]
        if type_ref:
            value = self.model.types.check(value, type_ref)
        return value

    def _shape(self, row: list[Any]) -> Any:
        if len(self.outputs) == 1:
            return row[0]
        return {name: value for (name, *_rest), value in zip(self.outputs, row)}

    def _default(self, scope: Scope) -> Any:
        if not any(default is not None for *_rest, default in self.outputs):
            return None
        row = [default(scope) if default is not None else None for *_rest, default in self.outputs]
        return self._shape(row)

    def _priority(self, row: list[Any]) -> tuple:
        key = []
        for (_name, _type, order, _default), value in zip(self.outputs, row):
            if not order:
                key.append(0)
                continue
            position = next((i for i, allowed in enumerate(order) if v.equal(allowed, value) is True), len(order))
            key.append(position)
        return tuple(key)

    def _hit(self, matched: list[tuple[str, list[Any]]], scope: Scope) -> Any:
        policy = self.hit_policy
        rows = [row for _rule, row in matched]
        if policy in ("UNIQUE", "FIRST", "ANY", "PRIORITY"):
            if not rows:
                return self._default(scope)
            if policy == "UNIQUE" and len(rows) > 1:
                return None
            if policy == "ANY" and any(not v.equal(self._shape(r), self._shape(rows[0])) for r in rows[1:]):
                return None
            if policy == "PRIORITY":
                rows = sorted(rows, key=self._priority)
            return self._shape(rows[0])
        if policy == "OUTPUT ORDER":
            rows = sorted(rows, key=self._priority)
        if policy == "COLLECT" and self.aggregation:
            return self._aggregate([self._shape(r) for r in rows], scope)
        if not rows:
            default = self._default(scope)
            return default if default is None else [default] if not isinstance(default, list) else default
        return [self._shape(r) for r in rows]

    def _aggregate(self, values: list[Any], scope: Scope) -> Any:
        if self.aggregation == "COUNT":
            return Decimal(len(values))
        values = [x for x in values if x is not None]
        if not values:
            return self._default(scope)
        from workflow_app.decisions.builtins import BUILTINS
        name = {"SUM": "sum", "MIN": "min", "MAX": "max"}[self.aggregation]
        return BUILTINS[name].call([values])


def literal_string(text: str) -> str | None:
    """The string a FEEL output cell always produces (``"Client"`` → ``Client``), or None if it computes one."""
    body = text.strip()
    if re.fullmatch(r'"(?:[^"\\]|\\.)*"', body, re.S):
        try:
            value = feel.compile_expression(body).evaluate({})
        except FeelSyntaxError:
            return None
        return value if isinstance(value, str) else None
    return None


def plain_value(value: Any) -> Any:
    """A decision's result as plain Python for task data (numbers as int/float, dates as they are)."""
    return v.to_python(value)


def _unused() -> tuple:
    return (Decimal, dt)
