"""Deployments: numbered, immutable versions of a protocol's diagram and decision tables."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from sqlalchemy import func, select

from workflow_app import clock
from workflow_app.engine import (DiagramError, ProcessBundle, check_recipients, decision_ids, parse_bundle,
                                 referenced_decisions)
from workflow_app.extensions import db
from workflow_app.persistence.models import Deployment
from workflow_app.services.calendar import CalendarError, calendar_for
from workflow_app.services.errors import DeploymentFailed, NotFound

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
        bundle = parse_bundle(bpmn_xml, bpmn_filename, dmn_files)
        check_recipients(bpmn_xml, bpmn_filename, bundle, dmn_files, _known_roles())
        calendar_for(bundle.calendar, bundle.timezone, office_hours=bundle.properties.get("office_hours"))
    except DiagramError as exc:
        raise DeploymentFailed(str(exc), [exc.to_dict()]) from None
    except CalendarError as exc:
        raise DeploymentFailed(f"{bpmn_filename}: {exc}", [{"file": bpmn_filename, "message": str(exc)}]) from None
    lint_problems = bpmnlint_errors(bpmn_filename, bpmn_xml)
    if lint_problems:
        raise DeploymentFailed("; ".join(f"{bpmn_filename}, element '{p['element_id']}': {p['message']}"
                                         for p in lint_problems), lint_problems)
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


_lint_cache: dict[str, list[dict]] = {}


def bpmnlint_errors(bpmn_filename: str, bpmn_xml: str) -> list[dict]:
    """Errors (not warnings) from bpmnlint with the project's rule set (.bpmnlintrc), when it is installed.
    Results are cached by content: the same file is linted once per process."""
    key = hashlib.sha256(bpmn_xml.encode("utf-8")).hexdigest()
    if key not in _lint_cache:
        _lint_cache[key] = _run_bpmnlint(bpmn_filename, bpmn_xml)
    return [{**problem, "file": bpmn_filename} for problem in _lint_cache[key]]


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

    digest = content_hash(bpmn_xml, dmn_files)
    latest = latest_deployment(bundle.process_id)
    if latest is not None and latest.content_hash == digest:
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


def _describe(problem: dict) -> str:
    where = problem.get("file", "?")
    if problem.get("line"):
        where += f", line {problem['line']}"
    if problem.get("element_id"):
        where += f", element '{problem['element_id']}'"
    return f"{where}: {problem.get('message')}"


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
    bundle = parse_bundle(deployment.bpmn_xml, deployment.bpmn_filename, deployment.dmn_files, check_code=False)
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


# Attributes at their BPMN default value: modellers differ in writing them out (bpmn-js omits them).
DEFAULT_ATTRIBUTES = {"cancelActivity": "true", "isInterrupting": "true", "parallelMultiple": "false",
                      "isForCompensation": "false", "startQuantity": "1", "completionQuantity": "1"}


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


@dataclass
class DiagramDiff:
    added: list[tuple[str, str, str]]
    removed: list[tuple[str, str, str]]
    changed: list[tuple[str, str, str]]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(old_xml: str | None, new_xml: str) -> DiagramDiff:
    old = _elements(old_xml) if old_xml else {}
    new = _elements(new_xml)
    describe = lambda items, ids: [(i, items[i][0], items[i][1]) for i in sorted(ids)]  # noqa: E731
    changed = [i for i in old.keys() & new.keys() if old[i][2] != new[i][2]]
    return DiagramDiff(added=describe(new, new.keys() - old.keys()), removed=describe(old, old.keys() - new.keys()),
                       changed=describe(new, changed))


def versions(protocol_key: str | None = None) -> list[Deployment]:
    query = select(Deployment).order_by(Deployment.protocol_key, Deployment.version.desc())
    if protocol_key:
        query = query.where(Deployment.protocol_key == protocol_key)
    return list(db.session.scalars(query))
