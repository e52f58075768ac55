"""Instance state in and out of JSON, with SpiffWorkflow's own serializer (Camunda task specs).

An instance's state holds only what is its own: its task tree, task and workflow data, pending events. The
process spec (the parsed diagram, ~80% of a full serialization) is the same for every instance of a
deployment, so it is not copied into each state: it comes from the deployment's parsed bundle (parsed once per
process, see services/deployments.bundle_for) when the state is loaded.

States written before that (``spec`` inside the JSON) still load with their own embedded spec;
:func:`strip_spec` turns one into the compact form (the data migration ``d15a1f0c3b77`` does so for every
stored instance).

Task ids (``STATE_FORMAT`` 2). An instance's tasks take their ids from a per-instance source (see task_ids.py): the
k-th id is derived from a random seed and k. The state stores the source (``task_ids``: seed and count) and, in
the fields that name tasks (each task's ``id``, ``parent`` and ``children``; each workflow's ``root`` and
``last_task``; a subprocess's ``parent_task_id``), the integer k instead of the id; an id the source did not make
(a task of a state written before) stays a UUID string there. ``tasks`` and ``subprocesses`` are lists (their
keys were the tasks' ``id`` and ``parent_task_id``). Nothing else is rewritten: an id inside task data stays the
string it is. A format-1 state (no ``task_ids``) loads as it did and gets a fresh source, so the tasks it creates
from then on are stored compactly.
"""
from __future__ import annotations

import base64
import json
import zlib
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG

from workflow_app.engine.task_ids import TaskIds

# Marks a state that holds no spec; its value names the layout, should it ever change again.
STATE_FORMAT_KEY = "instance_state"
STATE_FORMAT = 2  # 1: tasks and subprocesses keyed by id, every id a UUID string; 2: see "Task ids" above
TASK_IDS_KEY = "task_ids"
# A stored state is this prefix and the base64 of the zlib-compressed JSON: a task tree is mostly repeated keys
# and ids, and compresses about 6:1 (a two-party instance at Stage 1: 15 KB of JSON, under 3 KB stored) on
# every database alike. A state without the prefix is plain JSON (written before compression).
COMPRESSED_PREFIX = "z1:"


class _InstanceOnlyConverter(BpmnWorkflowConverter):
    """Writes a workflow without its spec and subprocess specs; reads either layout (the spec comes from
    ``spec=`` and ``subprocess_specs=`` unless the state carries its own)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        _number_task_ids(dct, workflow)
        return dct

    def from_dict(self, dct: dict[str, Any], spec=None, subprocess_specs=None) -> BpmnWorkflow:
        if "spec" in dct:  # a state written with its own copy of the spec
            return super().from_dict(dct)
        if spec is None:
            raise ValueError("This instance state holds no process spec; load it with its deployment's spec")
        dct.pop(STATE_FORMAT_KEY, None)
        workflow = self.target_class(spec, dict(subprocess_specs or {}), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _compact_serializer() -> BpmnWorkflowSerializer:
    registry = BpmnWorkflowSerializer.configure(DEFAULT_CONFIG)
    _InstanceOnlyConverter(BpmnWorkflow, registry)  # replaces the default converter of BpmnWorkflow
    return BpmnWorkflowSerializer(registry)


_serializer = _compact_serializer()
_full_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))


def dumps_workflow(workflow: BpmnWorkflow) -> str:
    """The instance's own state (no spec): compact JSON, compressed (see ``COMPRESSED_PREFIX``)."""
    return COMPRESSED_PREFIX + base64.b64encode(zlib.compress(_workflow_json(workflow).encode("utf-8"))).decode("ascii")


def _workflow_json(workflow: BpmnWorkflow) -> str:
    """What ``BpmnWorkflowSerializer.serialize_json`` writes, without the blanks between items."""
    registry = _serializer.registry
    registry._encoder_mode = True  # as serialize_json does: data values are converted by the JSON encoder
    try:
        dct = _serializer.to_dict(workflow)
        dct[_serializer.VERSION_KEY] = _serializer.VERSION
        return json.dumps(dct, cls=_serializer._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def state_json(state: str) -> str:
    """The JSON text of a stored state, compressed or not."""
    if state.startswith(COMPRESSED_PREFIX):
        return zlib.decompress(base64.b64decode(state[len(COMPRESSED_PREFIX):])).decode("utf-8")
    return state


def loads_workflow(state: str, spec=None, subprocess_specs=None) -> BpmnWorkflow:
    """A workflow from its stored state; ``spec`` and ``subprocess_specs`` (the deployment's parsed diagram)
    are required for a state without an embedded spec and ignored for one with it."""
    dct = json.loads(state_json(state))
    source = _expand_task_ids(dct)
    _serializer.migrate(dct)
    workflow = _serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
    workflow._task_ids = source
    return workflow


def _number_task_ids(dct: dict[str, Any], workflow: BpmnWorkflow) -> None:
    """Format 2 (see "Task ids" above), in place: the ids the workflow's source made become their numbers."""
    source = getattr(workflow, "_task_ids", None)
    numbers: dict[str, int] = {}
    if source is not None:
        issued = source.numbers
        for wf in (workflow, *workflow.subprocesses.values()):
            for task_id in wf.tasks:
                k = issued.get(task_id.int)
                if k is not None:
                    numbers[str(task_id)] = k
        dct[TASK_IDS_KEY] = source.as_dict()
    _number_workflow(dct, numbers)
    subprocesses = []
    for key, sub in dct["subprocesses"].items():
        if key != sub["parent_task_id"]:
            raise ValueError(f"Subprocess {key} names another parent task ({sub['parent_task_id']})")
        _number_workflow(sub, numbers)
        sub["parent_task_id"] = numbers.get(key, key)
        subprocesses.append(sub)
    dct["subprocesses"] = subprocesses
    dct[STATE_FORMAT_KEY] = STATE_FORMAT


def _number_workflow(dct: dict[str, Any], numbers: dict[str, int]) -> None:
    tasks = list(dct["tasks"].values())
    _rename_task_refs(dct, tasks, numbers.get)
    dct["tasks"] = tasks


def _rename_task_refs(wf: dict[str, Any], tasks: list[dict[str, Any]], get) -> None:
    """In place: every field that names a task (each task's id, parent and children; the workflow's root and last
    task) through ``get(value, default)``, which leaves a value it does not know as it is."""
    for task in tasks:
        task["id"] = get(task["id"], task["id"])
        if task["parent"] is not None:
            task["parent"] = get(task["parent"], task["parent"])
        task["children"] = [get(child, child) for child in task["children"]]
    wf["root"] = get(wf["root"], wf["root"])
    if wf["last_task"] is not None:
        wf["last_task"] = get(wf["last_task"], wf["last_task"])


def _expand_task_ids(dct: dict[str, Any]) -> TaskIds:
    """The reverse of :func:`_number_task_ids`, in place, on a stored state of any format; returns its task id
    source (a fresh one for a state written without)."""
    if dct.pop(STATE_FORMAT_KEY, None) != 2:
        return TaskIds()  # format 1 (or an embedded spec): ids are UUID strings, tasks keyed by id
    stored = dct.pop(TASK_IDS_KEY, None)
    source = TaskIds.from_dict(stored) if stored is not None else TaskIds()
    # Every task a state names is one of its tasks: their numbers are all among the tasks' own ids.
    texts: dict[int, str] = {}
    if stored is not None:
        text_for = source.text_for
        for wf in (dct, *dct["subprocesses"]):
            for task in wf["tasks"]:
                if task["id"].__class__ is int:
                    texts[task["id"]] = text_for(task["id"])
    elif any(task["id"].__class__ is int for wf in (dct, *dct["subprocesses"]) for task in wf["tasks"]):
        raise ValueError("This state numbers its tasks but holds no task id source")
    get = texts.get  # ints become their ids' text; a UUID string is no key, so it stays as it is
    for wf in (dct, *dct["subprocesses"]):
        _rename_task_refs(wf, wf["tasks"], get)
        wf["tasks"] = {task["id"]: task for task in wf["tasks"]}
    subprocesses = {}
    for sub in dct["subprocesses"]:
        key = sub["parent_task_id"] = get(sub["parent_task_id"], sub["parent_task_id"])
        subprocesses[key] = sub
    dct["subprocesses"] = subprocesses
    return source


def has_embedded_spec(state: str) -> bool:
    return not state.startswith(COMPRESSED_PREFIX) and "spec" in json.loads(state)


def spec_task_names(spec, subprocess_specs) -> set[str]:
    """Every task spec name of a process and its subprocesses: what a stored state refers to."""
    return {name for process in (spec, *dict(subprocess_specs or {}).values()) for name in process.task_specs}


def strip_spec(state: str, spec_task_names: set[str] | None = None) -> str | None:
    """A state with its embedded spec, rewritten without it; None when it already has none, or when
    ``spec_task_names`` (the task spec names of the deployment's diagram) lacks a name the state uses, so
    the deployment's spec could not stand in for the embedded one."""
    if not has_embedded_spec(state):
        return None
    workflow = _full_serializer.deserialize_json(state)
    if spec_task_names is not None:
        used = {t.task_spec.name for t in workflow.get_tasks()}
        if not used <= spec_task_names:
            return None
    return dumps_workflow(workflow)


def embed_spec(state: str, spec, subprocess_specs) -> str:
    """The reverse of :func:`strip_spec` (for a schema downgrade): a self-contained state."""
    if has_embedded_spec(state):
        return state
    return _full_serializer.serialize_json(loads_workflow(state, spec, subprocess_specs))
