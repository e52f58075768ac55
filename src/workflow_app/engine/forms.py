"""Form definitions of start events and user tasks: ``camunda:formData`` in the diagram, or a Camunda Form
(form-js JSON, a ``.form`` file) linked with ``camunda:formRef``, ``camunda:formKey="camunda-forms:..."`` or
Zeebe's ``zeebe:formDefinition``.

We read the XML ourselves instead of relying on SpiffWorkflow's Camunda form model because the
library ignores start-event forms, drops every field when ``camunda:formKey`` is absent (Camunda
Modeler does not require it), ignores Camunda Forms and does not keep the properties we use
(``multiline``, ``required_when``). Both kinds of form become the same plain, engine-independent
description the web layer renders and the services validate.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
FORM_SUFFIX = ".form"
# "static" is text shown between fields (a form-js text component): nothing is entered or stored.
FIELD_TYPES = {"string", "long", "number", "boolean", "date", "time", "datetime", "enum", "checklist", "table",
               "static"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str = "string"
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    multiline: bool = False
    # ("outcome", ("unresolved", "refer_higher")): required when that field has one of those values
    required_when: tuple[str, tuple[str, ...]] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    readonly: bool = False
    # type "table": a repeating section, one row per item; (column name, column label)
    columns: tuple[tuple[str, str], ...] = ()
    # choices supplied by the installation rather than the diagram, e.g. "agencies"
    choices_from: str | None = None
    # what the field says about a party of the dispute: ("agency" | "person" | "contact_name" | "contact_email",
    # "raising" | "counterpart"), from the field properties party_agency, party_person, party_contact_*
    party_field: tuple[str, str] | None = None
    pattern: str | None = None  # a regular expression the whole text must match
    pattern_message: str | None = None  # what to tell the person when it does not
    # hide the field while this condition (a FEEL expression, see hide_rule) holds; hidden fields are not required
    # and their values are not stored
    hide_when: str | None = None
    appearance: str | None = None  # "radio": a choice drawn as radio buttons instead of a list

    @property
    def hide_rule(self) -> list | None:
        """``hide_when`` as a small tree the server and the browser evaluate alike (see :func:`parse_condition`)."""
        return parse_condition(self.hide_when) if self.hide_when else None

    @property
    def hide_rule_json(self) -> str:
        return json.dumps(self.hide_rule) if self.hide_when else ""

    @property
    def is_input(self) -> bool:
        return self.type != "static"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "required_when": ({"field": self.required_when[0], "values": list(self.required_when[1])}
                              if self.required_when else None),
            "choices": [{"value": v, "label": lab} for v, lab in self.choices],
            "default": self.default,
            "multiline": self.multiline,
            "columns": [{"name": n, "label": lab} for n, lab in self.columns],
            "choices_from": self.choices_from,
            "party_field": list(self.party_field) if self.party_field else None,
            "pattern": self.pattern,
            "hide_when": self.hide_when,
        }


@dataclass(frozen=True)
class FormSpec:
    key: str | None
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"key": self.key, "fields": [f.to_dict() for f in self.fields]}

    def field_named(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


class FormDefinitionError(ValueError):
    """A form in the diagram that cannot be used (unknown type, enum without choices ...)."""

    def __init__(self, message: str, element_id: str | None, line: int | None, file: str | None = None):
        super().__init__(message)
        self.element_id = element_id
        self.line = line
        self.file = file  # the .form file, when the problem is in a Camunda Form rather than in the diagram


def _c(tag: str) -> str:
    return f"{{{CAMUNDA_NS}}}{tag}"


def _int(value: str | None, what: str, element_id: str, line: int | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise FormDefinitionError(f"{what} must be a whole number, not '{value}'", element_id, line) from None


def _parse_required_when(spec: str, element_id: str, line: int | None) -> tuple[str, tuple[str, ...]]:
    other, sep, values = spec.partition("=")
    if not sep or not other.strip() or not values.strip():
        raise FormDefinitionError(
            f"required_when must look like 'field=value1|value2', not '{spec}'", element_id, line)
    return other.strip(), tuple(v.strip() for v in values.split("|") if v.strip())


def read_form(element: etree._Element, form_files: dict[str, str] | None = None) -> FormSpec | None:
    """The form of a start event or user task element, or None when it has none.

    ``form_files`` are the ``.form`` files uploaded with the diagram (file name -> form-js JSON).
    """
    element_id = element.get("id", "")
    form_data = element.find(f".//{_c('formData')}")
    linked = linked_form(element, form_files or {})
    if linked is not None:
        if form_data is not None:
            raise FormDefinitionError("the element has both camunda:formData fields and a Camunda Form; keep one",
                                      element_id, element.sourceline)
        return linked
    if form_data is None:
        return None
    fields = []
    for xml_field in form_data.findall(_c("formField")):
        fields.append(_read_field(xml_field, element_id))
    names = [f.name for f in fields]
    for f in fields:
        if f.required_when and f.required_when[0] not in names:
            raise FormDefinitionError(
                f"Field '{f.name}' is required when '{f.required_when[0]}' has a value, but the form has no such field",
                element_id, form_data.sourceline)
    return FormSpec(key=element.get(_c("formKey")), fields=tuple(fields))


def _read_field(xml_field: etree._Element, element_id: str) -> FieldSpec:
    line = xml_field.sourceline
    name = xml_field.get("id") or ""
    if not name.isidentifier():
        raise FormDefinitionError(f"Form field id '{name}' must be a plain identifier (letters, digits, _)",
                                  element_id, line)
    ftype = xml_field.get("type") or "string"
    if ftype not in FIELD_TYPES:
        raise FormDefinitionError(f"Form field '{name}' has type '{ftype}'; use one of {sorted(FIELD_TYPES)}",
                                  element_id, line)
    props = {p.get("id") or p.get("name"): p.get("value")
             for p in xml_field.findall(f"{_c('properties')}/{_c('property')}")}
    constraints = {c.get("name"): c.get("config")
                   for c in xml_field.findall(f"{_c('validation')}/{_c('constraint')}")}
    choices = tuple((v.get("id"), v.get("name") or v.get("id")) for v in xml_field.findall(_c("value")))
    if ftype == "enum" and not choices:
        raise FormDefinitionError(f"Choice field '{name}' has no choices", element_id, line)
    columns: tuple[tuple[str, str], ...] = ()
    if ftype == "table":
        columns = _parse_columns(props.get("columns") or "", name, element_id, line)
    required_when = None
    if props.get("required_when"):
        required_when = _parse_required_when(props["required_when"], element_id, line)
    minimum = constraints.get("min")
    maximum = constraints.get("max")
    return FieldSpec(
        name=name,
        label=xml_field.get("label") or name,
        type=ftype,
        required="required" in constraints,
        choices=choices,
        default=xml_field.get("defaultValue"),
        multiline=(props.get("multiline") or "").lower() == "true",
        required_when=required_when,
        min_length=_int(constraints.get("minlength"), f"minlength of '{name}'", element_id, line),
        max_length=_int(constraints.get("maxlength"), f"maxlength of '{name}'", element_id, line),
        minimum=float(minimum) if minimum not in (None, "") else None,
        maximum=float(maximum) if maximum not in (None, "") else None,
        readonly="readonly" in constraints,
        columns=columns,
        choices_from=props.get("choices_from") or None,
        party_field=_party_field(props, name, element_id, line),
        pattern=_checked_pattern(constraints.get("pattern"), name, element_id, line),
    )


PARTIES = ("raising", "counterpart")
PARTY_FIELD_KINDS = {"party_agency": "agency", "party_person": "person", "party_contact_name": "contact_name",
                     "party_contact_email": "contact_email"}


def _party_field(props: dict, name: str, element_id: str, line: int | None) -> tuple[str, str] | None:
    found = [(kind, (props.get(prop) or "").strip()) for prop, kind in PARTY_FIELD_KINDS.items() if props.get(prop)]
    if not found:
        return None
    if len(found) > 1:
        raise FormDefinitionError(f"Form field '{name}' names more than one party property; keep one", element_id, line)
    kind, party = found[0]
    if party not in PARTIES:
        raise FormDefinitionError(f"Form field '{name}': the party must be 'raising' or 'counterpart', not '{party}'",
                                  element_id, line)
    return kind, party


def _parse_columns(spec: str, name: str, element_id: str, line: int | None) -> tuple[tuple[str, str], ...]:
    """``issue=Issue;solution=Solution`` -> (("issue", "Issue"), ("solution", "Solution"))."""
    columns = []
    for part in spec.split(";"):
        column, _, label = part.partition("=")
        column = column.strip()
        if not column:
            continue
        if not column.isidentifier():
            raise FormDefinitionError(f"Table field '{name}' has a column named '{column}'; use letters, digits, _",
                                      element_id, line)
        columns.append((column, label.strip() or column))
    if not columns:
        raise FormDefinitionError(f"Table field '{name}' needs a 'columns' property, e.g. issue=Issue;solution=Solution",
                                  element_id, line)
    return tuple(columns)


def _checked_pattern(pattern: str | None, name: str, element_id: str | None, line: int | None,
                     file: str | None = None) -> str | None:
    if not pattern:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        raise FormDefinitionError(f"the pattern of field '{name}' is not a regular expression this engine can use "
                                  f"({exc.msg}): '{pattern}'", element_id, line, file) from None
    return pattern


# -- Camunda Forms (form-js JSON) ---------------------------------------------------------------------------

FORM_KEY_PREFIX = "camunda-forms:"
# form-js components that hold a value, and the FieldSpec type each becomes
FORM_JS_TYPES = {"textfield": "string", "textarea": "string", "number": "number", "checkbox": "boolean",
                 "checklist": "checklist", "taglist": "checklist", "radio": "enum", "select": "enum",
                 "datetime": "date", "text": "static"}
# components that only arrange or decorate the form: nothing to fill in, nothing to check
FORM_JS_LAYOUT = {"group", "spacer", "separator", "button", "default"}
DATETIME_SUBTYPES = {"date": "date", "time": "time", "datetime": "datetime"}
# choices the installation supplies (services/instances.py CHOICE_SOURCES), usable as a form-js valuesKey
INSTALLATION_CHOICES = {"agencies", "people"}
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
PHONE_PATTERN = r"\+?[0-9][0-9 \(\)\-]{4,}"


def is_form_file(name: str) -> bool:
    return name.lower().endswith(FORM_SUFFIX)


def split_form_files(files: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the other files, the ``.form`` files) of a deployment's files."""
    forms = {name: text for name, text in files.items() if is_form_file(name)}
    return {name: text for name, text in files.items() if name not in forms}, forms


def form_reference(element: etree._Element) -> tuple[str, str] | None:
    """How a start event or user task names its Camunda Form: ("id", form id), ("file", file name) or
    ("embedded", id of a zeebe:userTaskForm in the same file); None when it names none."""
    form_ref = element.get(_c("formRef"))
    if form_ref:
        return "id", form_ref.strip()
    form_key = (element.get(_c("formKey")) or "").strip()
    if form_key.startswith(FORM_KEY_PREFIX):  # camunda-forms:deployment:forms/review.form, camunda-forms:app:...
        return "file", form_key.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    definition = element.find(f"{{*}}extensionElements/{{{ZEEBE_NS}}}formDefinition")
    if definition is not None:
        if definition.get("formId"):
            return "id", definition.get("formId").strip()
        key = (definition.get("formKey") or "").strip()
        if key.startswith("camunda-forms:bpmn:"):
            return "embedded", key.rsplit(":", 1)[-1]
    return None


def form_file_for(reference: tuple[str, str], form_files: dict[str, str]) -> str | None:
    """The name of the uploaded .form file a reference (from :func:`form_reference`) means, if any."""
    how, wanted = reference
    for name, text in form_files.items():
        if how == "file" and name.rsplit("/", 1)[-1] == wanted:
            return name
        if how == "id":
            try:
                schema = json.loads(text)
            except ValueError:
                continue
            if isinstance(schema, dict) and schema.get("id") == wanted:
                return name
    return None


def forms_used(bpmn_root: etree._Element, form_files: dict[str, str]) -> dict[str, str]:
    """The uploaded .form files that a diagram's start events and user tasks link to."""
    used = {}
    for element in bpmn_root.iter():
        reference = form_reference(element) if isinstance(element.tag, str) else None
        name = form_file_for(reference, form_files) if reference and reference[0] != "embedded" else None
        if name:
            used[name] = form_files[name]
    return used


def linked_form(element: etree._Element, form_files: dict[str, str]) -> FormSpec | None:
    """The Camunda Form a start event or user task links to, read into a FormSpec; None when it links none."""
    reference = form_reference(element)
    if reference is None:
        return None
    element_id = element.get("id", "")
    how, wanted = reference
    if how == "embedded":
        embedded = next((f for f in element.getroottree().iter(f"{{{ZEEBE_NS}}}userTaskForm")
                         if f.get("id") == wanted), None)
        if embedded is None:
            raise FormDefinitionError(f"the form key names the embedded form '{wanted}', but the file has no "
                                      "zeebe:userTaskForm with that id", element_id, element.sourceline)
        return read_form_js(embedded.text or "", f"zeebe:userTaskForm {wanted}", embedded.sourceline)
    name = form_file_for(reference, form_files)
    if name is None:
        what = f"form '{wanted}'" if how == "id" else f"form file '{wanted}'"
        uploaded = ", ".join(sorted(form_files)) or "none"
        raise FormDefinitionError(
            f"the element uses the Camunda {what}, but no .form file uploaded with the diagram "
            f"{'has that id' if how == 'id' else 'has that name'} (uploaded forms: {uploaded}); "
            "upload the .form file together with the diagram", element_id, element.sourceline)
    return read_form_js(form_files[name], name)


def read_form_js(text: str, filename: str, line_offset: int | None = None) -> FormSpec:
    """A form-js schema (what Camunda Modeler and the form-js editor save) as a FormSpec."""
    try:
        schema = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise FormDefinitionError(f"the form is not valid JSON ({getattr(exc, 'msg', 'unreadable')})", None,
                                  _line(line, line_offset), filename) from None
    if not isinstance(schema, dict) or not isinstance(schema.get("components"), list):
        raise FormDefinitionError("this is not a Camunda Form: it has no list of components", None,
                                  _line(1, line_offset), filename)
    reader = _FormJsReader(text, filename, line_offset)
    fields = tuple(reader.fields(schema["components"], hidden_by=None))
    names = [f.name for f in fields if f.is_input]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FormDefinitionError(f"the form has more than one field with the key '{duplicates[0]}'; keys must "
                                  "differ", None, reader.line_of(duplicates[0]), filename)
    for f in fields:
        for name in condition_names(f.hide_rule) if f.hide_when else ():
            if name not in names:
                raise FormDefinitionError(
                    f"the condition of '{f.name}' ({f.hide_when}) refers to '{name}', which is not a field of this "
                    "form; conditions may only use the form's own fields", f.name, reader.line_of(f.name), filename)
    return FormSpec(key=schema.get("id"), fields=fields)


def _line(line: int | None, offset: int | None) -> int | None:
    if line is None:
        return offset
    return line + (offset - 1 if offset else 0)


class _FormJsReader:
    def __init__(self, text: str, filename: str, line_offset: int | None):
        self.text = text
        self.filename = filename
        self.line_offset = line_offset
        self.static_count = 0

    def line_of(self, key: str | None) -> int | None:
        """The line of the component with this key or id in the JSON text (for messages)."""
        if not key:
            return None
        match = re.search(r'"(?:key|id)"\s*:\s*"' + re.escape(key) + '"', self.text)
        return _line(self.text.count("\n", 0, match.start()) + 1 if match else None, self.line_offset)

    def fail(self, message: str, component: dict) -> FormDefinitionError:
        key = component.get("key") or component.get("id")
        return FormDefinitionError(message, key, self.line_of(key), self.filename)

    def fields(self, components: list, hidden_by: str | None):
        for component in components:
            if not isinstance(component, dict):
                continue
            kind = component.get("type")
            hide = _combine_hide(hidden_by, ((component.get("conditional") or {}).get("hide")))
            if hide:
                self.check_condition(hide, component)
            if kind == "group":
                yield from self.fields(component.get("components") or [], hide)
            elif kind in FORM_JS_LAYOUT:
                continue
            elif kind in FORM_JS_TYPES:
                yield self.field(component, kind, hide)
            else:
                raise self.fail(f"form component type '{kind}' is not supported by this engine; use text fields, "
                                f"text areas, numbers, checkboxes, checklists, radio buttons, selects, tag lists, "
                                f"dates, text and groups", component)

    def check_condition(self, hide: str, component: dict) -> None:
        try:
            parse_condition(hide)
        except ConditionError as exc:
            raise self.fail(f"the hide condition '{hide}' cannot be used: {exc}", component) from None

    def field(self, component: dict, kind: str, hide: str | None) -> FieldSpec:
        ftype = FORM_JS_TYPES[kind]
        if ftype == "static":
            self.static_count += 1
            return FieldSpec(name=f"_text_{self.static_count}", label=str(component.get("text") or ""),
                             type="static", hide_when=hide)
        key = component.get("key")
        if not isinstance(key, str) or not key.isidentifier():
            raise self.fail(f"the {kind} field's key '{key}' must be a plain name (letters, digits, _) so it can "
                            "be a process variable", component)
        validate = component.get("validate") or {}
        if kind == "datetime":
            ftype = DATETIME_SUBTYPES.get(component.get("subtype") or "date", "date")
        choices, choices_from = self.choices(component, kind)
        if choices_from:
            ftype = "string"  # checked against the installation's list (services/form_validation.py)
        pattern, pattern_message = self.pattern(component, validate)
        return FieldSpec(
            name=key,
            label=str(component.get("label") or component.get("dateLabel") or key),
            type=ftype,
            required=bool(validate.get("required")),
            choices=choices,
            choices_from=choices_from,
            default=_default_text(component.get("defaultValue")),
            multiline=kind == "textarea",
            min_length=self.whole(validate.get("minLength"), "minimum length", component),
            max_length=self.whole(validate.get("maxLength"), "maximum length", component),
            minimum=self.number(validate.get("min"), "minimum", component),
            maximum=self.number(validate.get("max"), "maximum", component),
            readonly=component.get("readonly") is True or component.get("disabled") is True,
            pattern=pattern,
            pattern_message=pattern_message,
            hide_when=hide,
            appearance="radio" if kind == "radio" else None,
        )

    def choices(self, component: dict, kind: str) -> tuple[tuple[tuple[str, str], ...], str | None]:
        if kind not in {"radio", "select", "checklist", "taglist"}:
            return (), None
        if component.get("valuesKey"):
            if kind in {"checklist", "taglist"}:
                raise self.fail(f"the options of '{component.get('key')}' come from '{component['valuesKey']}' "
                                "(valuesKey); this engine supplies options only to selects and radio buttons: "
                                "list the options in the form (static options)", component)
            if component["valuesKey"] not in INSTALLATION_CHOICES:
                raise self.fail(f"the options of '{component.get('key')}' come from '{component['valuesKey']}' "
                                "(valuesKey), which this engine cannot supply; list the options in the form "
                                f"(static options) or use one of: {', '.join(sorted(INSTALLATION_CHOICES))}",
                                component)
            return (), component["valuesKey"]
        if component.get("valuesExpression"):
            raise self.fail(f"the options of '{component.get('key')}' come from an expression, which this engine "
                            "does not evaluate; list the options in the form (static options)", component)
        values = component.get("values") or []
        choices = tuple((str(v.get("value")), str(v.get("label") or v.get("value")))
                        for v in values if isinstance(v, dict) and v.get("value") not in (None, ""))
        if not choices:
            raise self.fail(f"the choice field '{component.get('key')}' has no options", component)
        return choices, None

    def pattern(self, component: dict, validate: dict) -> tuple[str | None, str | None]:
        kind = validate.get("validationType")
        if kind == "email":
            return EMAIL_PATTERN, "Enter an e-mail address"
        if kind == "phone":
            return PHONE_PATTERN, "Enter a telephone number"
        pattern = _checked_pattern(validate.get("pattern"), component.get("key") or "?", component.get("key"),
                                   self.line_of(component.get("key")), self.filename)
        return pattern, validate.get("patternErrorMessage") or None

    def whole(self, value: Any, what: str, component: dict) -> int | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or not str(value).strip().isdigit():
            raise self.fail(f"the {what} of '{component.get('key')}' must be a whole number, not '{value}'", component)
        return int(str(value).strip())

    def number(self, value: Any, what: str, component: dict) -> float | None:
        if value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise self.fail(f"the {what} of '{component.get('key')}' must be a number, not '{value}'",
                            component) from None


def _default_text(value: Any) -> str | None:
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _combine_hide(outer: str | None, inner: Any) -> str | None:
    """A field inside a hidden group is hidden too: the group's condition or the field's own."""
    inner = inner.strip() if isinstance(inner, str) and inner.strip() else None
    if outer and inner:
        return f"=({_strip_equals(outer)}) or ({_strip_equals(inner)})"
    return outer or inner


def _strip_equals(expression: str) -> str:
    expression = expression.strip()
    return expression[1:] if expression.startswith("=") else expression


# -- hide conditions: the FEEL a form-js condition is written in, in the simple shapes forms use ----------
# ``=outcome = "refer"``, ``=amount >= 10``, ``=not(agreed)``, ``=agreed``, combined with and / or and brackets.
# A tree of lists, evaluated here (server) and by static/app.js (browser):
#   ["or", a, b, ...] ["and", a, b, ...] ["not", a] ["cmp", op, a, b] ["var", name] ["lit", value]
# When the decisions package's FEEL interpreter is available, parse_condition/evaluate_condition could
# delegate to it; the tree stays what the browser evaluates.

class ConditionError(ValueError):
    """A hide condition this engine cannot evaluate (said in plain words)."""


_TOKEN = re.compile(r"""\s*(?:(?P<number>-?\d+(?:\.\d+)?)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>|\(|\))
                     |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))""", re.VERBOSE)
_COMPARISONS = {"=", "!=", "<", "<=", ">", ">="}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ConditionError(f"'{text[position:].strip()[:20]}' is not understood; write comparisons such as "
                                 "field = \"value\", field != 3, not(field), joined with and / or")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


@lru_cache(maxsize=512)
def _parse_cached(expression: str) -> str:
    text = _strip_equals(expression)
    if not text:
        raise ConditionError("the condition is empty")
    parser = _ConditionParser(_tokens(text))
    tree = parser.disjunction()
    if parser.position != len(parser.tokens):
        raise ConditionError(f"'{parser.tokens[parser.position][1]}' is not expected there")
    return json.dumps(tree)


def parse_condition(expression: str) -> list:
    """The tree of a hide condition, or :class:`ConditionError` in plain words."""
    return json.loads(_parse_cached(expression))


class _ConditionParser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConditionError("the condition ends too early")
        self.position += 1
        return token

    def word(self, word: str) -> bool:
        token = self.peek()
        if token == ("name", word):
            self.position += 1
            return True
        return False

    def disjunction(self) -> list:
        parts = [self.conjunction()]
        while self.word("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else ["or", *parts]

    def conjunction(self) -> list:
        parts = [self.comparison()]
        while self.word("and"):
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else ["and", *parts]

    def comparison(self) -> list:
        left = self.operand()
        token = self.peek()
        if token and token[0] == "op" and token[1] in _COMPARISONS:
            self.position += 1
            return ["cmp", token[1], left, self.operand()]
        return left

    def operand(self) -> list:
        kind, value = self.take()
        if kind == "number":
            number = float(value)
            return ["lit", int(number) if number.is_integer() and "." not in value else number]
        if kind == "string":
            return ["lit", json.loads(value)]
        if (kind, value) == ("op", "("):
            inner = self.disjunction()
            self.expect(")")
            return inner
        if kind == "name":
            if value in {"true", "false"}:
                return ["lit", value == "true"]
            if value == "null":
                return ["lit", None]
            if value == "not" and self.peek() == ("op", "("):
                self.position += 1
                inner = self.disjunction()
                self.expect(")")
                return ["not", inner]
            if self.peek() == ("op", "("):
                raise ConditionError(f"'{value}(...)' calls a function; of functions only not(...) is understood here")
            if value in {"and", "or", "not"}:
                raise ConditionError(f"'{value}' is not expected there")
            return ["var", value]
        raise ConditionError(f"'{value}' is not expected there")

    def expect(self, symbol: str) -> None:
        if self.take() != ("op", symbol):
            raise ConditionError(f"a '{symbol}' is missing")


def condition_names(tree: list) -> set[str]:
    """The field names a condition tree reads (the first part of a dotted name)."""
    if tree[0] == "var":
        return {tree[1].split(".", 1)[0]}
    if tree[0] == "lit":
        return set()
    return set().union(*(condition_names(part) for part in tree[1:] if isinstance(part, list)))


def evaluate_condition(tree: list, data: dict[str, Any]) -> Any:
    """FEEL's meaning for these shapes: comparing different kinds of value, or a missing value with anything
    but null, gives null; ``and``/``or``/``not`` are three-valued. A field is hidden only when this is true."""
    head = tree[0]
    if head == "lit":
        return tree[1]
    if head == "var":
        value: Any = data
        for part in tree[1].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value
    if head == "not":
        inner = evaluate_condition(tree[1], data)
        return (not inner) if isinstance(inner, bool) else None
    if head in {"and", "or"}:
        values = [evaluate_condition(part, data) for part in tree[1:]]
        decisive = head == "or"  # true decides an "or", false decides an "and"
        if any(v is decisive for v in values):
            return decisive
        return (not decisive) if all(isinstance(v, bool) for v in values) else None
    _, op, left, right = tree
    return _compare(op, evaluate_condition(left, data), evaluate_condition(right, data))


def _compare(op: str, left: Any, right: Any) -> bool | None:
    if op in {"=", "!="}:
        if left is None or right is None:
            same = left is None and right is None
        elif _kind(left) != _kind(right):
            return None
        else:
            same = left == right
        return same if op == "=" else not same
    if left is None or right is None or _kind(left) != _kind(right) or _kind(left) not in {"number", "string"}:
        return None
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
