"""Form definitions read from a diagram's ``camunda:formData`` (start events and user tasks).

We read the XML ourselves instead of relying on SpiffWorkflow's Camunda form model because the
library ignores start-event forms, drops every field when ``camunda:formKey`` is absent (Camunda
Modeler does not require it) and does not keep the properties we use (``multiline``,
``required_when``). The result is a plain, engine-independent description the web layer renders
and the services validate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
FIELD_TYPES = {"string", "long", "boolean", "date", "enum", "table"}


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

    def __init__(self, message: str, element_id: str, line: int | None):
        super().__init__(message)
        self.element_id = element_id
        self.line = line


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


def read_form(element: etree._Element) -> FormSpec | None:
    """The form of a start event or user task element, or None when it has no camunda:formData."""
    element_id = element.get("id", "")
    form_data = element.find(f".//{_c('formData')}")
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
