"""Deployments: numbered, immutable versions of a protocol's diagram and decision tables."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from threading import Lock

from flask import current_app
from sqlalchemy import func, select

from workflow_app import clock
from workflow_app.engine import (DiagramError, ProcessBundle, called_processes, check_recipients, decision_ids,
                                 is_bpmn_file, parse_bundle, process_ids, referenced_decisions)
from workflow_app.engine import EngineInstance
from workflow_app.engine import ignored_settings as engine_ignored_settings
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment, ProcessInstance
from workflow_app.services.calendar import CalendarError, calendar_for
from workflow_app.services.errors import DeploymentFailed, NotFound
from workflow_app.services.expressions import diagram_functions

log = logging.getLogger(__name__)
_bundle_cache: dict[str, ProcessBundle] = {}  # by content hash
_bundle_lock = Lock()


@dataclass
class DeployResult:
    deployment: Deployment
    created: bool  # False when identical files were already the latest version


def content_hash(bpmn_xml: str, dmn_files: dict[str, str]) -> str:
    payload = json.dumps({"bpmn": bpmn_xml, "dmn": dict(sorted(dmn_files.items()))}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_DOCTYPE = re.compile(r"<!\s*DOCTYPE|<!\s*ENTITY", re.IGNORECASE)


def validate(bpmn_filename: str, bpmn_xml: str, dmn_files: dict[str, str], *,
             create_roles: bool = False) -> ProcessBundle:
    """Everything that must hold before a diagram is deployed; raises DeploymentFailed naming file and element."""
    # No DOCTYPE, before any parser sees the text: entities (external ones read files or URLs, nested ones
    # explode in memory) have no place in BPMN or DMN.
    for name, text in ((bpmn_filename, bpmn_xml), *dmn_files.items()):
        doctype = _DOCTYPE.search(text or "")
        if doctype:
            line = text.count("\n", 0, doctype.start()) + 1
            message = (f"{name}, line {line}: XML with a DOCTYPE (entity declarations) is refused; "
                       "remove the <!DOCTYPE ...> declaration")
            raise DeploymentFailed(message, [{"file": name, "element_id": None, "line": line, "message": message}])
    try:
        dmn_files = with_deployed_decisions(bpmn_filename, bpmn_xml, dmn_files)
        tables, called = split_files(dmn_files)
        bundle = parse_bundle(bpmn_xml, bpmn_filename, tables, called_bpmn=called)
        check_recipients(bpmn_xml, bpmn_filename, bundle, tables, _known_roles())
        calendar_for(bundle.calendar, bundle.timezone, office_hours=bundle.properties.get("office_hours"))
    except DiagramError as exc:
        raise DeploymentFailed(str(exc), [exc.to_dict()]) from None
    except CalendarError as exc:
        raise DeploymentFailed(f"{bpmn_filename}: {exc}", [{"file": bpmn_filename, "message": str(exc)}]) from None
    lint_problems = bpmnlint_errors(bpmn_filename, bpmn_xml)
    if lint_problems:
        raise DeploymentFailed("; ".join(_describe(p) for p in lint_problems), lint_problems)
    if not create_roles:
        from workflow_app.services import people
        unknown = [lane for lane in bundle.lanes if people.find_role(lane) is None]
        if unknown:
            problems = [{"file": bpmn_filename, "element_id": None, "line": None,
                         "message": f"lane '{lane}' names a role nobody can hold yet: add the role first "
                                    "(Admin → Agencies and roles) or tick 'create roles named by new lanes'"}
                        for lane in unknown]
            raise DeploymentFailed("; ".join(f"{bpmn_filename}: {p['message']}" for p in problems), problems)
    return bundle


def _known_roles() -> set[str]:
    from workflow_app.persistence.models import Role
    from workflow_app.services import people
    return {*people.SYSTEM_ROLES, *db.session.scalars(select(Role.name))}


LINT_LINE = re.compile(r"^\s+(?P<element>\S+)\s+(?P<category>error|warning)\s+(?P<message>.+?)\s{2,}(?P<rule>\S+)\s*$")


IMPORT_PROBLEM = re.compile(r"^\s+error\s+(?P<message>Import warning: unresolved reference .+?)\s*$")
_lint_cache: dict[str, list[dict]] = {}


def bpmnlint_errors(bpmn_filename: str, bpmn_xml: str) -> list[dict]:
    """Errors (not warnings) from bpmnlint with the project's rule set (.bpmnlintrc), when it is installed.
    Results are cached by content: the same file is linted once per process."""
    key = hashlib.sha256(bpmn_xml.encode("utf-8")).hexdigest()
    if key not in _lint_cache:
        _lint_cache[key] = _with_lines(bpmn_xml, _run_bpmnlint(bpmn_filename, bpmn_xml))
    return [{**problem, "file": bpmn_filename} for problem in _lint_cache[key]]


_UNRESOLVED = re.compile(r"unresolved reference <(?P<ref>[^>]+)>")


def _with_lines(bpmn_xml: str, problems: list[dict]) -> list[dict]:
    """bpmnlint names elements by id only: add the line of each (and, for a reference to an id that does not
    exist, the line and element that refer to it)."""
    from lxml import etree
    if not problems:
        return problems
    try:
        root = etree.fromstring(bpmn_xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return problems
    lines = {e.get("id"): e.sourceline for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    located = []
    for problem in problems:
        problem = dict(problem)
        unresolved = _UNRESOLVED.search(problem["message"])
        if problem.get("element_id") in lines:
            problem["line"] = lines[problem["element_id"]]
        elif unresolved:
            for element in root.iter():
                if isinstance(element.tag, str) and ((element.text or "").strip() == unresolved.group("ref")
                                                     or unresolved.group("ref") in element.attrib.values()):
                    owner = element
                    while owner is not None and not owner.get("id"):
                        owner = owner.getparent()
                    problem["line"] = element.sourceline
                    problem["element_id"] = owner.get("id") if owner is not None else None
                    problem["message"] = (f"refers to '{unresolved.group('ref')}', which no element of the file "
                                          "has as its id: correct or remove the reference")
                    break
        located.append(problem)
    return located


def _run_bpmnlint(bpmn_filename: str, bpmn_xml: str) -> list[dict]:
    import subprocess
    import tempfile

    from workflow_app.config import PROJECT_ROOT
    binary = PROJECT_ROOT / "node_modules" / ".bin" / "bpmnlint"
    if not binary.exists():  # installed by scripts/bootstrap.sh (npm ci)
        log.warning("bpmnlint is not installed (npm ci); %s deployed without lint", bpmn_filename)
        return []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "diagram.bpmn"
        path.write_text(bpmn_xml, encoding="utf-8")
        result = subprocess.run([str(binary), "--config", str(PROJECT_ROOT / ".bpmnlintrc"), str(path)],
                                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    problems = []
    for line in result.stdout.splitlines():
        match = LINT_LINE.match(line)
        if match and match.group("category") == "error":
            problems.append({"file": bpmn_filename, "element_id": match.group("element"), "line": None,
                             "message": f"{match.group('message')} (bpmnlint rule {match.group('rule')})"})
        elif IMPORT_PROBLEM.match(line):  # the file refers to an id it does not define
            problems.append({"file": bpmn_filename, "element_id": None, "line": None,
                             "message": IMPORT_PROBLEM.match(line).group("message")})
    if result.returncode != 0 and not problems:
        problems.append({"file": bpmn_filename, "element_id": None, "line": None,
                         "message": f"bpmnlint could not check the diagram: {(result.stderr or result.stdout)[-300:]}"})
    return problems


def deploy(bpmn_filename: str, bpmn_xml: str, dmn_files: dict[str, str], *, actor: str,
           comment: str = "", create_roles: bool = True) -> DeployResult:
    """Validate and store a new version; identical files to the latest version are a no-op.

    ``create_roles``: lanes naming roles that do not exist yet create them (the repository's own
    diagrams at start-up); uploads refuse unknown roles unless the editor asks for them.
    The caller commits (so a deployment can join a larger transaction).
    """
    bundle = validate(bpmn_filename, bpmn_xml, dmn_files, create_roles=create_roles)
    dmn_files = with_deployed_decisions(bpmn_filename, bpmn_xml, dmn_files)

    digest = content_hash(bpmn_xml, dmn_files)
    latest = latest_deployment(bundle.process_id)
    if latest is not None and (latest.content_hash == digest or same_content(latest, bpmn_xml, dmn_files)):
        return DeployResult(latest, created=False)
    next_version = (db.session.scalar(select(func.max(Deployment.version))
                                      .where(Deployment.protocol_key == bundle.process_id)) or 0) + 1
    deployment = Deployment(
        protocol_key=bundle.process_id, name=bundle.name, version=next_version, bpmn_filename=bpmn_filename,
        bpmn_xml=bpmn_xml, dmn_files=dict(dmn_files), content_hash=digest,
        calendar=bundle.calendar or calendar_for(None, None).code,
        timezone=bundle.timezone or calendar_for(None, None).timezone,
        deployed_at=clock.now(), deployed_by=actor, comment=comment,
    )
    db.session.add(deployment)
    db.session.flush()
    from workflow_app.services import people  # roles named by the diagram's lanes exist once it is deployed
    people.ensure_roles(bundle.lanes)
    with _bundle_lock:
        _bundle_cache[deployment.content_hash] = bundle
    return DeployResult(deployment, created=True)


def split_files(files: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """A deployment's other files, (DMN decision tables, BPMN files with the processes it calls).

    Both are kept in ``Deployment.dmn_files`` (file name -> text), told apart by the file name's ending.
    """
    called = {name: text for name, text in files.items() if is_bpmn_file(name)}
    return {name: text for name, text in files.items() if name not in called}, called


def _is_table(name: str) -> bool:
    """A decision table file (not a called BPMN file, not a Camunda Form)."""
    return not is_bpmn_file(name) and not name.lower().endswith(".form")


def files_used(bpmn_filename: str, bpmn_xml: str, candidates: dict[str, str]) -> dict[str, str]:
    """Of ``candidates`` (DMN and BPMN files found beside a diagram), the ones it uses: the BPMN files
    defining the processes its call activities call (and theirs, in turn), and the DMN files defining the
    decisions any of those reference."""
    chosen: dict[str, str] = {}
    wanted = called_processes(bpmn_xml, bpmn_filename)
    decisions = set(referenced_decisions(bpmn_xml, bpmn_filename))
    seen: set[str] = set()
    provided = process_ids(bpmn_xml, bpmn_filename)
    while wanted - seen:
        seen |= wanted
        for name, text in candidates.items():
            if name in chosen or not is_bpmn_file(name):
                continue
            try:
                defines = process_ids(text, name)
                if defines & wanted and not defines & provided:  # one file per process, the first found
                    chosen[name] = text
                    provided |= defines
                    wanted |= called_processes(text, name)
                    decisions |= referenced_decisions(text, name)
            except DiagramError:
                continue  # a broken neighbour this diagram does not call
    for name, text in candidates.items():
        if _is_table(name):
            try:
                if set(decision_ids(text, name)) & decisions:
                    chosen[name] = text
            except DiagramError:
                continue
    return chosen


def with_deployed_decisions(bpmn_filename: str, bpmn_xml: str, files: dict[str, str]) -> dict[str, str]:
    """``files`` plus, for each decision the diagram (or a process it calls) references that no uploaded DMN
    file defines, the DMN file of the newest deployment that has it: a shared decision table need not be
    uploaded again with every diagram that uses it."""
    try:
        wanted = set(referenced_decisions(bpmn_xml, bpmn_filename))
        for name, text in files.items():
            if is_bpmn_file(name):
                wanted |= referenced_decisions(text, name)
        defined = {d for name, text in files.items() if _is_table(name) for d in decision_ids(text, name)}
    except DiagramError:
        return files  # parse_bundle reports the broken file with its line
    missing = wanted - defined
    if not missing:
        return files
    found = dict(files)
    for deployment in db.session.scalars(select(Deployment).order_by(Deployment.id.desc())):
        for name, text in split_files(deployment.dmn_files)[0].items():
            if not _is_table(name):
                continue
            provides = set(decision_ids(text, name)) & missing
            if provides and name not in found:
                found[name] = text
                missing -= provides
        if not missing:
            break
    return found


def deploy_upload(bpmn_filename: str, bpmn_xml: str, candidates: dict[str, str], *, actor: str, comment: str = "",
                  create_roles: bool = False) -> DeployResult:
    """Deploy a diagram with the files it uses among ``candidates`` (other files uploaded or found beside it)."""
    return deploy(bpmn_filename, bpmn_xml, files_used(bpmn_filename, bpmn_xml, candidates), actor=actor,
                  comment=comment, create_roles=create_roles)


def deploy_directories(bpmn_dir: Path, dmn_dir: Path, *, actor: str, comment: str = "") -> list[DeployResult]:
    """Deploy every ``*.bpmn`` in ``bpmn_dir`` with the DMN files (from ``dmn_dir``) it references.

    All or nothing: if any file fails, nothing is deployed and the error lists every failure.
    """
    dmn_by_decision: dict[str, tuple[str, str]] = {}
    problems: list[dict] = []
    for path in sorted(dmn_dir.glob("*.dmn")):
        text = path.read_text(encoding="utf-8")
        try:
            for decision in decision_ids(text, path.name):
                dmn_by_decision[decision] = (path.name, text)
        except DiagramError as exc:
            problems.append(exc.to_dict())
    results = []
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        text = path.read_text(encoding="utf-8")
        try:
            needed = referenced_decisions(text, path.name)
            dmn_files = dict(dmn_by_decision[d] for d in needed if d in dmn_by_decision)
            dmn_files.update(_forms_beside(path, text))
            results.append(deploy(path.name, text, dmn_files, actor=actor, comment=comment))
        except DiagramError as exc:
            problems.append(exc.to_dict())
        except DeploymentFailed as exc:
            problems.extend(exc.problems)
    if problems:
        db.session.rollback()
        summary = "; ".join(_describe(p) for p in problems)
        raise DeploymentFailed(f"Nothing was deployed. {summary}", problems)
    return results


def _forms_beside(bpmn_path: Path, bpmn_xml: str) -> dict[str, str]:
    """The Camunda Forms (``*.form`` in the diagram's folder) that the diagram's tasks and start event link to."""
    from lxml import etree

    from workflow_app.engine.forms import forms_used
    candidates = {p.name: p.read_text(encoding="utf-8") for p in sorted(bpmn_path.parent.glob("*.form"))}
    if not candidates:
        return {}
    root = etree.fromstring(bpmn_xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    return forms_used(root, candidates)


def _describe(problem: dict) -> str:
    where = problem.get("file", "?")
    if problem.get("line"):
        where += f", line {problem['line']}"
    if problem.get("element_id"):
        where += f", element '{problem['element_id']}'"
    return f"{where}: {problem.get('message')}"


def ignored_settings(bpmn_filename: str, bpmn_xml: str) -> list[str]:
    """Plain sentences for each Camunda setting in the diagram the engine will not act on (shown on review)."""
    return [setting.describe() for setting in engine_ignored_settings(bpmn_xml, bpmn_filename)]


def latest_deployment(protocol_key: str) -> Deployment | None:
    return db.session.scalar(select(Deployment).where(Deployment.protocol_key == protocol_key)
                             .order_by(Deployment.version.desc()).limit(1))


def require_latest(protocol_key: str) -> Deployment:
    deployment = latest_deployment(protocol_key)
    if deployment is None:
        raise NotFound(f"No protocol '{protocol_key}' is deployed")
    return deployment


def latest_deployments() -> list[Deployment]:
    newest = (select(Deployment.protocol_key, func.max(Deployment.version).label("version"))
              .group_by(Deployment.protocol_key).subquery())
    return list(db.session.scalars(
        select(Deployment).join(newest, (Deployment.protocol_key == newest.c.protocol_key)
                                & (Deployment.version == newest.c.version)).order_by(Deployment.name)))


def bundle_for(deployment: Deployment) -> ProcessBundle:
    """The parsed diagram of a deployment, parsed once per process and cached by content hash."""
    with _bundle_lock:
        cached = _bundle_cache.get(deployment.content_hash)
    if cached is not None:
        return cached
    tables, called = split_files(deployment.dmn_files)
    bundle = parse_bundle(deployment.bpmn_xml, deployment.bpmn_filename, tables, check_code=False, called_bpmn=called)
    with _bundle_lock:
        _bundle_cache[deployment.content_hash] = bundle
    return bundle


def clear_bundle_cache() -> None:
    with _bundle_lock:
        _bundle_cache.clear()


# -- what changes between two versions -----------------------------------------------------------------

DIAGRAM_NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}


def _elements(bpmn_xml: str) -> dict[str, tuple[str, str, bytes]]:
    """id -> (kind, name, canonical XML without incoming/outgoing references) for flow elements."""
    from lxml import etree
    root = etree.fromstring(bpmn_xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    result = {}
    for process in root.iter("{%s}process" % DIAGRAM_NS["bpmn"]):
        for element in process.iter():
            if not isinstance(element.tag, str) or not element.get("id") or element is process:
                continue
            kind = etree.QName(element).localname
            if kind in {"incoming", "outgoing", "flowNodeRef", "documentation", "laneSet"}:
                continue
            copy = etree.fromstring(etree.tostring(element))
            for ref in copy.findall("bpmn:incoming", DIAGRAM_NS) + copy.findall("bpmn:outgoing", DIAGRAM_NS):
                copy.remove(ref)
            _normalise(copy)
            result[element.get("id")] = (kind, element.get("name") or "", etree.tostring(copy, method="c14n"))
    return result


# Attributes at their BPMN/DMN default value: modellers differ in writing them out. bpmn-js (moddle-xml) never writes
# an attribute equal to its schema default, so a file from Camunda Modeler with cancelActivity="true" comes back
# from the in-browser modeller without it; the meaning is the same, so comparisons drop them.
DEFAULT_ATTRIBUTES = {"cancelActivity": "true", "isInterrupting": "true", "parallelMultiple": "false",
                      "isForCompensation": "false", "startQuantity": "1", "completionQuantity": "1",
                      "isExecutable": "true", "isHorizontal": "true", "isImmediate": "true", "triggeredByEvent": "false",
                      "isClosed": "false", "associationDirection": "None",
                      # DMN (dmn-js drops these the same way)
                      "hitPolicy": "UNIQUE", "preferredOrientation": "Rule-as-Row", "isCollection": "false"}
# Attributes that say which tool saved the file, not what the diagram means; bpmn-js also adds
# isMarkerVisible="true" to every exclusive gateway's shape (it draws the marker either way).
TOOL_ATTRIBUTES = {"exporter", "exporterVersion", "isMarkerVisible"}


def _normalise(element) -> None:
    """Make two serialisations of the same element compare equal: no indentation-only text, no default-valued
    attributes (a file saved by the modeller then shows only what really changed)."""
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
        for name, default in DEFAULT_ATTRIBUTES.items():
            if node.get(name) == default:
                del node.attrib[name]
        for name in TOOL_ATTRIBUTES & set(node.attrib):
            del node.attrib[name]


def _canonical(name: str, text: str) -> bytes:
    """A file's content with formatting, tool stamps and default-valued attributes set aside."""
    if name.lower().endswith(".form"):
        try:
            schema = json.loads(text)
        except ValueError:
            return text.encode("utf-8")
        if isinstance(schema, dict):
            schema.pop("exporter", None)
        return json.dumps(schema, sort_keys=True).encode("utf-8")
    from lxml import etree
    try:
        root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return text.encode("utf-8")
    _normalise(root)
    # The order of shapes in a diagram's layout means nothing, and bpmn-js writes lanes' shapes in its own order.
    for plane in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNPlane"):
        plane[:] = sorted(plane, key=lambda shape: shape.get("id") or "")
    return etree.tostring(root, method="c14n")


def same_content(deployment: Deployment, bpmn_xml: str, files: dict[str, str]) -> bool:
    """True when the files say exactly what the deployment's files say (layout included), however formatted:
    a diagram opened in the modeller and saved without edits is not a new version."""
    if set(files) != set(deployment.dmn_files or {}):
        return False
    if _canonical(deployment.bpmn_filename, deployment.bpmn_xml) != _canonical(deployment.bpmn_filename, bpmn_xml):
        return False
    return all(_canonical(name, deployment.dmn_files[name]) == _canonical(name, text) for name, text in files.items())


@dataclass
class DiagramDiff:
    added: list[tuple[str, str, str]]
    removed: list[tuple[str, str, str]]
    changed: list[tuple[str, str, str]]
    # per changed element id: (what, before, after), e.g. ("timeDuration", "working_days(2)", "working_days(3)")
    details: dict[str, list[tuple[str, str | None, str | None]]] = field(default_factory=dict)
    # other files of the deployment (decision tables, forms): names added, removed, changed
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.files_added or self.files_removed
                    or self.files_changed)


def diff(old_xml: str | None, new_xml: str, old_files: dict[str, str] | None = None,
         new_files: dict[str, str] | None = None) -> DiagramDiff:
    old = _elements(old_xml) if old_xml else {}
    new = _elements(new_xml)
    describe = lambda items, ids: [(i, items[i][0], items[i][1]) for i in sorted(ids)]  # noqa: E731
    changed = [i for i in old.keys() & new.keys() if old[i][2] != new[i][2]]
    result = DiagramDiff(added=describe(new, new.keys() - old.keys()), removed=describe(old, old.keys() - new.keys()),
                         changed=describe(new, changed),
                         details={i: _element_changes(old[i][2], new[i][2]) for i in changed})
    if old_xml is not None and new_files is not None:
        old_files = old_files or {}
        result.files_added = sorted(new_files.keys() - old_files.keys())
        result.files_removed = sorted(old_files.keys() - new_files.keys())
        result.files_changed = sorted(n for n in old_files.keys() & new_files.keys()
                                      if _canonical(n, old_files[n]) != _canonical(n, new_files[n]))
    return result


def _element_changes(old_c14n: bytes, new_c14n: bytes) -> list[tuple[str, str | None, str | None]]:
    """What differs inside one element, as (where, before, after): its attributes, and the attributes and text of
    what it contains (timer expressions, conditions, form fields ...)."""
    old, new = _flatten(old_c14n), _flatten(new_c14n)
    return [(where, old.get(where), new.get(where)) for where in sorted(old.keys() | new.keys())
            if old.get(where) != new.get(where)]


def _flatten(c14n: bytes) -> dict[str, str]:
    from lxml import etree
    root = etree.fromstring(c14n)
    flat: dict[str, str] = {}

    def walk(node, path: str) -> None:
        for name, value in node.attrib.items():
            flat[f"{path}@{etree.QName(name).localname}" if path else etree.QName(name).localname] = value
        if node.text and node.text.strip() and path:
            flat[path] = node.text.strip()
        seen: dict[str, int] = {}
        for child in node:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            label = child.get("id") or child.get("name")
            if label is None:
                seen[local] = seen.get(local, 0) + 1
                label = str(seen[local]) if seen[local] > 1 else ""
            step = f"{local}[{label}]" if label else local
            walk(child, f"{path}/{step}" if path else step)

    walk(root, "")
    return flat


def versions(protocol_key: str | None = None) -> list[Deployment]:
    query = select(Deployment).order_by(Deployment.protocol_key, Deployment.version.desc())
    if protocol_key:
        query = query.where(Deployment.protocol_key == protocol_key)
    return list(db.session.scalars(query))


# -- running a deployment ----------------------------------------------------------------------------

def calendar_of(deployment: Deployment):
    """The deployment's calendar: the diagram's choice, unless this installation's config overrides it."""
    config = current_app.config
    closures = frozenset(date.fromisoformat(d) for d in config.get("CALENDAR_CLOSURES", ()))
    code = config.get("CALENDAR_OVERRIDES", {}).get(deployment.protocol_key, deployment.calendar)
    office_hours = config.get("OFFICE_HOURS") or bundle_for(deployment).properties.get("office_hours")
    return calendar_for(code, deployment.timezone, closures, office_hours)


def diagram_functions_of(deployment: Deployment) -> dict:
    """The functions diagram expressions may call, on the deployment's calendar."""
    return diagram_functions(calendar_of(deployment))


def load_engine(instance: ProcessInstance) -> EngineInstance:
    """An instance's engine state, loaded with its deployment's parsed diagram and functions."""
    deployment = instance.deployment
    return EngineInstance.load(bundle_for(deployment), instance.state, diagram_functions_of(deployment))
