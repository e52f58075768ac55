"""Engine adapter: the only package that imports SpiffWorkflow.

Public surface: :func:`parse_bundle` (diagram files -> :class:`ProcessBundle`), :class:`EngineInstance`
(start/load/complete/fire timers/dump) and the error types the services translate for users.
"""
from workflow_app.engine import spiff_fixes  # noqa: F401  (corrections to the pinned SpiffWorkflow, see module)
from workflow_app.engine.forms import FieldSpec, FormSpec
from workflow_app.engine.parsing import (DiagramError, DmnOutput, ProcessBundle, called_processes, check_recipients,
                                         decision_ids, dmn_literal_outputs, ignored_settings, is_bpmn_file, parse_bundle,
                                         process_ids,
                                         referenced_decisions)
from workflow_app.engine.runtime import EngineError, EngineEvent, EngineInstance, ReadyTask, RoutingError, TaskNotReady

__all__ = [
    "DiagramError", "DmnOutput", "EngineError", "EngineEvent", "EngineInstance", "FieldSpec", "FormSpec",
    "ProcessBundle", "ReadyTask", "RoutingError", "TaskNotReady", "called_processes", "check_recipients",
    "decision_ids", "dmn_literal_outputs", "ignored_settings", "is_bpmn_file", "parse_bundle", "process_ids", "referenced_decisions",
]
