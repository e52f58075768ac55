"""Server-side validation of submitted form data against a diagram's form definition.

Used for both HTML forms and the JSON API, so a rule holds wherever data comes from. Unknown fields
are rejected: a form must not be able to overwrite process variables it does not declare.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

from workflow_app.engine import FieldSpec, FormSpec
from workflow_app.engine.forms import evaluate_condition
from workflow_app.services.errors import InvalidInput

TRUE_WORDS = {"true", "on", "yes", "y", "1"}
FALSE_WORDS = {"false", "off", "no", "n", "0", ""}


def validate_submission(form: FormSpec | None, submitted: dict[str, Any], *, from_html: bool = False,
                        dynamic_choices: dict[str, list | Mapping[str, str]] | None = None) -> dict[str, Any]:
    """Return clean values for every field of ``form``, or raise :class:`InvalidInput`.

    ``dynamic_choices`` supplies the allowed values of fields whose choices come from the installation
    (``choices_from``), e.g. ``{"agencies": [...]}``, or a mapping from a casefolded value to the allowed value
    (which can look one value up instead of listing them all). Fields a hide condition hides (given the other
    answers) are neither required nor stored, whatever was sent for them.
    """
    fields = [f for f in (form.fields if form else ()) if f.is_input]
    errors: dict[str, str] = {}
    known = {f.name for f in fields}
    for name in submitted:
        if name not in known and not from_html:
            errors[name] = "This form has no such field"
    clean: dict[str, Any] = {}
    for spec in fields:
        try:
            value = _clean(spec, _raw(spec, submitted, from_html), from_html)
            if spec.choices_from and value is not None:
                value = _dynamic_choice(value, spec, (dynamic_choices or {}).get(spec.choices_from, []))
        except ValueError as exc:
            errors[spec.name] = str(exc)
            continue
        if value is not None:
            clean[spec.name] = value
    for name in hidden_fields(form, clean):
        clean.pop(name, None)
        errors.pop(name, None)
        known.discard(name)
    for spec in fields:
        if spec.name in errors or spec.name in clean or spec.name not in known:
            continue
        if spec.required:
            errors[spec.name] = "This field is required"
        elif spec.required_when and clean.get(spec.required_when[0]) in spec.required_when[1]:
            other = form.field_named(spec.required_when[0])
            chosen = dict(other.choices).get(clean[spec.required_when[0]], clean[spec.required_when[0]]) if other else ""
            errors[spec.name] = f"Required when {other.label if other else spec.required_when[0]} is '{chosen}'"
    if errors:
        raise InvalidInput(errors)
    return clean


def hidden_fields(form: FormSpec | None, values: dict[str, Any]) -> set[str]:
    """Names of the fields whose hide condition holds for ``values``.

    A hidden field's own value does not count in the conditions of others (form-js drops hidden values too),
    so this is repeated until nothing more is hidden.
    """
    conditional = [f for f in (form.fields if form else ()) if f.hide_when]
    hidden: set[str] = set()
    while True:
        visible = {k: v for k, v in values.items() if k not in hidden}
        now = {f.name for f in conditional if evaluate_condition(f.hide_rule, visible) is True}
        if now == hidden:
            return hidden
        hidden = now


def _raw(spec: FieldSpec, submitted: dict[str, Any], from_html: bool) -> Any:
    """A checklist sent by an HTML form arrives as one checkbox per option, named ``<field>--<option>``."""
    if spec.type == "checklist" and from_html and spec.name not in submitted:
        ticked = [value for value, _ in spec.choices if submitted.get(f"{spec.name}--{value}")]
        return ticked or None
    return submitted.get(spec.name)


def _clean(spec: FieldSpec, raw: Any, from_html: bool) -> Any:
    if spec.type == "boolean":
        return _boolean(raw, spec)
    if spec.type == "table":
        return _table(raw, spec)
    if raw is None or (isinstance(raw, str) and raw.strip() == "") or raw == []:
        if spec.default not in (None, "") and not from_html:
            raw = spec.default
        else:
            return None
    cleaner = _CLEANERS.get(spec.type, _text)
    return cleaner(raw, spec)


def _boolean(raw: Any, spec: FieldSpec) -> bool:
    if raw is None:
        return (spec.default or "").lower() == "true"
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return raw.strip().lower() in TRUE_WORDS
    raise ValueError("Choose yes or no")


def _number(raw: Any, spec: FieldSpec) -> int:
    if isinstance(raw, bool):
        raise ValueError("Enter a whole number")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ValueError("Enter a whole number") from None
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"Must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"Must be at most {spec.maximum:g}")
    return value


def _decimal(raw: Any, spec: FieldSpec) -> int | float:
    """A form-js number: whole or decimal (kept whole when it is)."""
    if isinstance(raw, bool):
        raise ValueError("Enter a number")
    try:
        value = float(str(raw).strip().replace(",", "."))
    except ValueError:
        raise ValueError("Enter a number") from None
    if not math.isfinite(value):
        raise ValueError("Enter a number")
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(f"Must be at least {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"Must be at most {spec.maximum:g}")
    return int(value) if value.is_integer() else value


def _date(raw: Any, spec: FieldSpec | None = None) -> str:
    try:
        return date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise ValueError("Enter a date as YYYY-MM-DD") from None


def _time(raw: Any, spec: FieldSpec) -> str:
    try:
        return time.fromisoformat(str(raw).strip()).isoformat(timespec="minutes")
    except ValueError:
        raise ValueError("Enter a time as HH:MM") from None


def _datetime(raw: Any, spec: FieldSpec) -> str:
    try:
        return datetime.fromisoformat(str(raw).strip()).isoformat(timespec="minutes")
    except ValueError:
        raise ValueError("Enter a date and time as YYYY-MM-DD HH:MM") from None


def _checklist(raw: Any, spec: FieldSpec) -> list[str]:
    values = raw if isinstance(raw, list) else [raw]
    allowed = [v for v, _ in spec.choices]
    chosen = [str(v).strip() for v in values if not isinstance(v, (dict, list))]
    wrong = [v for v in chosen if v not in allowed] if not spec.choices_from else []
    if wrong or len(chosen) != len(values):
        raise ValueError(f"Choose from: {', '.join(allowed)}")
    return [v for v in allowed if v in chosen] if allowed else chosen


def _choice(raw: Any, spec: FieldSpec) -> str:
    value = str(raw).strip()
    allowed = [v for v, _ in spec.choices]
    if value not in allowed:
        raise ValueError(f"Choose one of: {', '.join(allowed)}")
    return value


# A text field without a maxlength in the diagram gets one of these (the page counts down to it).
DEFAULT_MAX_LENGTH, DEFAULT_MAX_LENGTH_MULTILINE = 300, 10_000


def max_length_of(spec: FieldSpec) -> int:
    """The most characters a text field takes: the diagram's maxlength, else the default for its kind."""
    if spec.max_length is not None:
        return spec.max_length
    return DEFAULT_MAX_LENGTH_MULTILINE if spec.multiline else DEFAULT_MAX_LENGTH


def _text(raw: Any, spec: FieldSpec) -> str:
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise ValueError("Enter text")
    value = str(raw).strip()
    if spec.min_length is not None and len(value) < spec.min_length:
        raise ValueError(f"Must be at least {spec.min_length} characters")
    limit = max_length_of(spec)
    if len(value) > limit:
        raise ValueError(f"Must be at most {limit:,} characters (this has {len(value):,})")
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        raise ValueError(spec.pattern_message or "This is not in the expected format")
    return value


def _table(raw: Any, spec: FieldSpec) -> list[dict[str, str]] | None:
    """A list of rows (dicts keyed by column); blank rows are dropped, half-filled rows are errors."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(row, dict) for row in raw):
        raise ValueError("Send a list of rows, each an object with " + ", ".join(c for c, _ in spec.columns))
    rows = []
    for number, row in enumerate(raw, start=1):
        unknown = set(row) - {c for c, _ in spec.columns}
        if unknown:
            raise ValueError(f"Row {number} has unknown column(s): {', '.join(sorted(unknown))}")
        cells = {c: str(row.get(c) or "").strip() for c, _ in spec.columns}
        if not any(cells.values()):
            continue
        missing = [label for c, label in spec.columns if not cells[c]]
        if missing:
            raise ValueError(f"Row {number}: fill in {' and '.join(missing)}")
        rows.append(cells)
    return rows or None


def _dynamic_choice(value: Any, spec: FieldSpec, allowed: list | Mapping[str, str]) -> str:
    """``allowed`` holds values, or (value, label) pairs (e.g. people: username, "Name (Agency)"), or maps a
    casefolded value to the allowed value."""
    if isinstance(allowed, Mapping):
        by_key = allowed
    else:
        by_key = {(a if isinstance(a, str) else a[0]).casefold(): (a if isinstance(a, str) else a[0])
                  for a in allowed}
    chosen = by_key.get(str(value).strip().casefold())
    if chosen is None:
        raise ValueError(f"Choose one of the {spec.choices_from} listed")
    return chosen


_CLEANERS = {"long": _number, "number": _decimal, "date": _date, "time": _time, "datetime": _datetime,
             "enum": _choice, "checklist": _checklist}
