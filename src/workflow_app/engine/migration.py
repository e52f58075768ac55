"""Changes to a running instance that its diagram does not make: move it to another deployed version, move its
waiting timers, carry on after an error.

Moving to a version. A stored state is a task tree whose tasks name their task specs (an element id, or an id
with a suffix SpiffWorkflow adds, e.g. ``review.BoundaryEventSplit``); the spec itself comes from the deployment
when the state is loaded (see serialization.py). A migration plan maps old element ids to new ones: identity
unless the plan renames an element. Migrating a state points every task that has happened or is open at its
new spec and predicts again what follows each open task, from the new diagram.

SpiffWorkflow 3.2 has ``SpiffWorkflow.bpmn.util.diff.migrate_workflow``, but it resets every ready and waiting
task: a waiting deadline is evaluated again from now (its due date moves) and open tasks lose their data. Here
the open tasks and their timers are kept as they are (same task ids, same due dates); only the predicted
future below them is rebuilt.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from workflow_app.clock import as_utc
from workflow_app.engine.parsing import ProcessBundle
from workflow_app.engine.runtime import EngineInstance
from workflow_app.engine.serialization import dumps_workflow, loads_workflow

OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED
NOT_STARTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


@dataclass
class MigrationCheck:
    """What a plan does to one state: ``moves`` old element id -> new one (for elements the instance has been
    at, or is at); ``unmapped`` element ids with no counterpart in the new version (the plan cannot run);
    ``open_elements`` the elements the instance is at now (after the move)."""

    moves: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    open_elements: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unmapped


def new_name(name: str, mapping: dict[str, str]) -> str:
    """A task spec's name under ``mapping``: renamed if the plan names it; a name SpiffWorkflow derived from
    an element id (``review.BoundaryEventSplit``) follows its element; anything else keeps its name."""
    if name in mapping:
        return mapping[name]
    if "." in name:
        element, suffix = name.rsplit(".", 1)
        if element in mapping:
            return f"{mapping[element]}.{suffix}"
    return name


def _workflows(workflow):
    """The workflow and its subprocess workflows, with the process spec name each belongs to."""
    yield workflow, None
    for sub in workflow.subprocesses.values():
        yield sub, sub.spec.name


def _spec_for(bundle: ProcessBundle, process_name: str | None):
    return bundle.spec if process_name is None else dict(bundle.subprocess_specs or {}).get(process_name)


def check(state: str, old: ProcessBundle, new: ProcessBundle, mapping: dict[str, str]) -> MigrationCheck:
    """What ``mapping`` would do to ``state`` (written by ``old``) under ``new``, without changing it."""
    workflow = loads_workflow(state, old.spec, old.subprocess_specs)
    result = MigrationCheck()
    for wf, process_name in _workflows(workflow):
        target = _spec_for(new, process_name)
        for task in wf.get_tasks(skip_subprocesses=True):
            if task.has_state(NOT_STARTED):
                continue  # the predicted future is rebuilt from the new diagram
            name = task.task_spec.name
            mapped = new_name(name, mapping)
            # A spec SpiffWorkflow derived from an element (``review.BoundaryEventSplit``) follows that element.
            element = task.task_spec.bpmn_id or (name.rsplit(".", 1)[0] if "." in name else None)
            if target is None or mapped not in target.task_specs:
                if element and element not in result.unmapped:
                    result.unmapped.append(element)
                elif not element and name not in result.unmapped:
                    result.unmapped.append(name)
                continue
            if element:
                result.moves[element] = new_name(element, mapping)
                if task.has_state(OPEN):
                    opened = new_name(element, mapping)
                    if opened not in result.open_elements:
                        result.open_elements.append(opened)
    return result


def element_ids(bundle: ProcessBundle) -> list[str]:
    """The ids of the elements a plan can map to: the flow elements of the process and its subprocesses."""
    specs = [bundle.spec, *dict(bundle.subprocess_specs or {}).values()]
    return sorted({spec.bpmn_id for process in specs for spec in process.task_specs.values() if spec.bpmn_id})


def migrate(state: str, old: ProcessBundle, new: ProcessBundle, mapping: dict[str, str]) -> str:
    """``state`` rewritten for ``new`` (call :func:`check` first: an unmapped element raises ``KeyError``)."""
    workflow = loads_workflow(state, old.spec, old.subprocess_specs)
    for wf, process_name in _workflows(workflow):
        target = _spec_for(new, process_name)
        if target is None:
            raise KeyError(process_name)
        wf.spec = target
        for task in list(wf.tasks.values()):
            if task.id not in wf.tasks:
                continue
            if task.has_state(NOT_STARTED) and not _is_prediction_root(task):
                continue
            task.task_spec = target.task_specs[new_name(task.task_spec.name, mapping)]
        _predict_again(wf)
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = None
    workflow.subprocess_specs = dict(new.subprocess_specs or {})
    return dumps_workflow(workflow)


def _is_prediction_root(task) -> bool:
    """A not-yet-started task right under a finished one: the branch is predicted from it."""
    return task.has_state(TaskState.FUTURE) and task.parent is not None and task.parent.has_state(
        TaskState.FINISHED_MASK)


def _predict_again(workflow) -> None:
    """Drop what was predicted below each open task (from the old diagram) and predict it from the new one."""
    roots = [t for t in workflow.get_tasks(skip_subprocesses=True)
             if t.has_state(OPEN) or (t.has_state(NOT_STARTED) and _is_prediction_root(t))]
    for task in roots:
        if task.id not in workflow.tasks:
            continue
        for child in list(task.children):
            if child.has_state(NOT_STARTED):
                workflow._remove_task(child.id)
        task.task_spec._predict(task, mask=NOT_STARTED | OPEN)


def carry_on(engine: EngineInstance) -> None:
    """Run an instance stopped by an error again from where it stopped (e.g. after it was moved to a fixed
    version): a task the error left in the engine's ERROR state is made ready first. Raises EngineError as
    running any step does."""
    for task in engine._wf.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    engine._run_engine()


def reschedule_timers(engine: EngineInstance, new_due: Callable[[datetime], datetime | None]) -> list[tuple[str, datetime, datetime]]:
    """Give each waiting timer the due time ``new_due(due)`` returns (None: leave it). Returns
    (element id, old due, new due) of each one moved."""
    moved = []
    for task in engine._waiting_timers():
        value = task.internal_data.get("event_value")
        is_cycle = isinstance(task.task_spec.event_definition, CycleTimerEventDefinition)
        text = value.get("next") if is_cycle and isinstance(value, dict) else value
        if not isinstance(text, str):
            continue
        try:
            due = as_utc(datetime.fromisoformat(text))
        except ValueError:
            continue
        later = new_due(due)
        if later is None or later == due:
            continue
        if is_cycle:
            value["next"] = later.isoformat()
        else:
            task.internal_data["event_value"] = later.isoformat()
        moved.append((task.task_spec.bpmn_id, due, later))
    return moved
