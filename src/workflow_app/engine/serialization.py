"""Instance state in and out of JSON, with SpiffWorkflow's own serializer (Camunda task specs).

An instance's state holds only what is its own: its task tree, task and workflow data, pending events. The
process spec (the parsed diagram, ~80% of a full serialization) is the same for every instance of a
deployment, so it is not copied into each state: it comes from the deployment's parsed bundle (parsed once per
process, see services/deployments.bundle_for) when the state is loaded.

States written before that (``spec`` inside the JSON) still load with their own embedded spec;
:func:`strip_spec` turns one into the compact form (the data migration ``d15a1f0c3b77`` does so for every
stored instance).
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

# Marks a state that holds no spec; its value names the layout, should it ever change again.
STATE_FORMAT_KEY = "instance_state"
STATE_FORMAT = 1
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
        dct[STATE_FORMAT_KEY] = STATE_FORMAT
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
    _serializer.migrate(dct)
    return _serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)


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
