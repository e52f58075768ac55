"""Instance state in and out of JSON, with SpiffWorkflow's own serializer (Camunda task specs)."""
from __future__ import annotations

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG

_serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))


def dumps_workflow(workflow: BpmnWorkflow) -> str:
    return _serializer.serialize_json(workflow)


def loads_workflow(state: str) -> BpmnWorkflow:
    return _serializer.deserialize_json(state)
