"""A running process instance, as the rest of the application sees it.

Wraps a SpiffWorkflow ``BpmnWorkflow``: start it with start-form data, list its ready user tasks,
complete one, fire due timers, and report what happened (``EngineEvent``) so the services layer can
write history. Nothing outside ``workflow_app.engine`` touches SpiffWorkflow objects.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.dmn.specs import BusinessRuleTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from workflow_app.clock import as_utc
from workflow_app.engine.forms import FormSpec
from workflow_app.engine.parsing import ProcessBundle
from workflow_app.engine.scripting import make_script_engine
from workflow_app.engine.serialization import dumps_workflow, loads_workflow
from workflow_app.engine.task_ids import new_workflow

# A loop of automatic steps (e.g. a timer cycle that is always due) must not hang a request.
MAX_ENGINE_ROUNDS = 200


class EngineError(Exception):
    """The diagram could not go on: a failed expression, a gateway with no matching path, no DMN rule."""

    def __init__(self, message: str, element_id: str | None = None):
        super().__init__(message)
        self.element_id = element_id


class TaskNotReady(Exception):
    """The task is not (or no longer) waiting for a person."""


class RoutingError(EngineError):
    """A decision table had no rule for the inputs it was given."""


@dataclass
class ReadyTask:
    id: str
    element_id: str
    title: str
    lane: str | None
    form: FormSpec | None
    data: dict[str, Any]
    due_at: datetime | None
    properties: dict[str, str]
    documentation: str
    party: str | None = None  # raising / counterpart: the side of the dispute whose task this is


@dataclass
class EngineEvent:
    """Something the engine did by itself that belongs in history."""

    kind: str  # timer_fired, deadline_breached, routed, or a diagram-defined kind (escalated ...)
    element_id: str
    title: str
    data: dict[str, Any] = field(default_factory=dict)


class EngineInstance:
    def __init__(self, bundle: ProcessBundle, workflow: BpmnWorkflow, functions: dict[str, Callable]):
        self.bundle = bundle
        self._wf = workflow
        self._wf.script_engine = make_script_engine({"protocol_setting": self._protocol_setting, **functions})
        self.events: list[EngineEvent] = []

    def _protocol_setting(self, name: str, default: Any = None) -> Any:
        """A process-level camunda:property, so a policy team can tune e.g. a reminder interval in the modeller."""
        return self.bundle.properties.get(name, default)

    # -- life cycle -------------------------------------------------------------------------
    @classmethod
    def new(cls, bundle: ProcessBundle, functions: dict[str, Callable]) -> "EngineInstance":
        """A fresh instance; call :meth:`begin` with the start-form data to run it up to its first wait."""
        return cls(bundle, new_workflow(bundle.spec, bundle.subprocess_specs), functions)

    def begin(self, data: dict[str, Any]) -> None:
        for task in self._wf.get_tasks(state=TaskState.READY):
            task.set_data(**copy.deepcopy(data))
        self._run_engine()

    @classmethod
    def load(cls, bundle: ProcessBundle, state: str, functions: dict[str, Callable]) -> "EngineInstance":
        return cls(bundle, loads_workflow(state, bundle.spec, bundle.subprocess_specs), functions)

    def dumps(self) -> str:
        return dumps_workflow(self._wf)

    # -- queries ----------------------------------------------------------------------------
    @property
    def data(self) -> dict[str, Any]:
        """What the process knows now: the workflow's data once it has ended, else the data of the
        tasks that are waiting (ready user tasks, pending events), later tasks overriding earlier."""
        if self._wf.is_completed():
            return _public_data(self._wf.data)
        merged: dict[str, Any] = {}
        for task in self._wf.get_tasks(state=TaskState.READY | TaskState.WAITING):
            if task.task_spec.bpmn_id:
                merged.update(task.data)
        return _public_data(merged)

    @property
    def is_completed(self) -> bool:
        return self._wf.is_completed()

    def end_status(self) -> tuple[str, str]:
        """(status, reason) of a completed process, from the end event it reached."""
        reached = [t for t in self._wf.get_tasks(state=TaskState.COMPLETED)
                   if t.task_spec.bpmn_id in self.bundle.end_statuses]
        if not reached:
            return "closed", "The process ended without reaching an end event that states an outcome"
        element_id = reached[-1].task_spec.bpmn_id
        return self.bundle.end_statuses[element_id], self.bundle.element_names.get(element_id, element_id)

    def ready_user_tasks(self) -> list[ReadyTask]:
        return [self._describe(t) for t in self._wf.get_tasks(state=TaskState.READY, manual=True)]

    def element_states(self) -> dict[str, set[str]]:
        """Diagram element ids the instance has passed (``completed``) and is at (``active``)."""
        states: dict[str, set[str]] = {"completed": set(), "active": set()}
        for task in self._wf.get_tasks():
            element_id = task.task_spec.bpmn_id
            if not element_id:
                continue
            if task.state == TaskState.COMPLETED:
                states["completed"].add(element_id)
            elif task.state in (TaskState.READY, TaskState.STARTED) or (
                    task.state == TaskState.WAITING and not isinstance(task.task_spec, BoundaryEvent)):
                states["active"].add(element_id)
        return states

    def next_timer_due(self) -> datetime | None:
        """Earliest due time among waiting timers: what the due-timer index stores."""
        due_times = [d for d in (self._timer_due(t) for t in self._waiting_timers()) if d is not None]
        return min(due_times) if due_times else None

    # -- changes ----------------------------------------------------------------------------
    def complete_task(self, task_id: str, data: dict[str, Any]) -> None:
        task = self._ready_task(task_id)
        task.set_data(**copy.deepcopy(data))
        self._share_with_parallel_branches(task, data)
        try:
            task.run()
        except SpiffWorkflowException as exc:
            raise EngineError(_message(exc), task.task_spec.bpmn_id) from None
        self._after_step(task)  # e.g. a user task that also sends a notification (property `history`)
        self._run_engine()

    def _share_with_parallel_branches(self, task, data: dict[str, Any]) -> None:
        """Give what a person just submitted to every other waiting branch of the same process.

        SpiffWorkflow copies data into each branch at a parallel fork and, at the join, lets the branch that
        arrives last overwrite the others, stale copies included: the other side's older ``outcome`` would
        silently replace the one just recorded. Process data is one record of the dispute, so a submission
        reaches the branches still open.
        """
        for other in self._wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            if other is not task and other.workflow is task.workflow:
                other.data.update(copy.deepcopy(data))

    def cancel(self) -> None:
        """Stop the process: every open task and waiting timer is cancelled."""
        self._wf.cancel()

    def correct_data(self, name: str, old: Any, new: Any) -> None:
        """Rectification: wherever the process holds ``old`` as ``name`` (any task's data, the workflow's),
        it now holds ``new``; a later, different value of the same field is left alone."""
        for data in [t.data for t in self._wf.get_tasks()] + [self._wf.data]:
            if name in data and data[name] == old:
                data[name] = copy.deepcopy(new)

    def fire_due_timers(self) -> None:
        cycles = self._cycle_snapshot()
        try:
            self._wf.refresh_timers()
        except SpiffWorkflowException as exc:
            raise EngineError(_message(exc)) from None
        self._note_cycle_fires(cycles)
        self._run_engine()

    # -- internals --------------------------------------------------------------------------
    def _ready_task(self, task_id: str):
        try:
            task = self._wf.get_task_from_id(UUID(task_id))
        except (ValueError, TaskNotFoundException):
            raise TaskNotReady("This task does not belong to this process instance") from None
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady("This task is no longer waiting to be completed")
        return task

    def _run_engine(self) -> None:
        try:
            for _ in range(MAX_ENGINE_ROUNDS):
                cycles = self._cycle_snapshot()
                self._wf.do_engine_steps(will_complete_task=self._before_step, did_complete_task=self._after_step)
                self._note_cycle_fires(cycles)
                if not self._wf.get_tasks(state=TaskState.READY, manual=False):
                    return
            raise EngineError("The process kept running automatic steps without stopping; check loops and timers")
        except EngineError:
            raise
        except SpiffWorkflowException as exc:
            element_id = getattr(getattr(getattr(exc, "task", None), "task_spec", None), "bpmn_id", None)
            raise EngineError(_message(exc), element_id) from None
        except Exception as exc:  # noqa: BLE001 - a library fault on an odd diagram stops the instance, not the app
            running = self._wf.get_tasks(state=TaskState.READY | TaskState.STARTED)
            element_id = next((t.task_spec.bpmn_id for t in running if t.task_spec.bpmn_id), None)
            title = self.bundle.element_names.get(element_id or "", element_id or "an automatic step")
            raise EngineError(f"The engine could not run '{title}': {_message(exc)}",
                              element_id) from None

    def _before_step(self, task) -> None:
        spec = task.task_spec
        if isinstance(spec, BusinessRuleTaskMixin) and not spec.dmnEngine.decide(task):
            table = spec.dmnEngine.decision_table
            inputs = {i.label or i.name: _safe_eval(self._wf, task, i.expression) for i in table.inputs}
            raise RoutingError(
                f"No rule in decision table '{self.bundle.decision_refs.get(spec.bpmn_id, table.id)}' "
                f"matches {inputs} at '{self.bundle.element_names.get(spec.bpmn_id, spec.bpmn_id)}'",
                spec.bpmn_id)

    def _after_step(self, task) -> None:
        spec = task.task_spec
        element_id = spec.bpmn_id
        if element_id is None:
            return
        title = self.bundle.element_names.get(element_id, element_id)
        definition = getattr(spec, "event_definition", None)
        # A cycle's firings are noted as they happen (_note_cycle_fires); its final completion is not one.
        if isinstance(definition, TimerEventDefinition) and not isinstance(definition, CycleTimerEventDefinition):
            self._record_timer(task, element_id, title, task.internal_data.get("event_value"))
        if isinstance(spec, BusinessRuleTaskMixin):
            outputs = {o.name: task.data.get(o.name) for o in spec.dmnEngine.decision_table.outputs if o.name}
            self.events.append(EngineEvent("routed", element_id, title,
                                           {"decision": self.bundle.decision_refs.get(element_id), **outputs}))
        properties = self.bundle.element_properties.get(element_id, {})
        if properties.get("history"):
            wanted = [f.strip() for f in properties.get("history_fields", "").split(",") if f.strip()]
            data = {name: task.data.get(name) for name in wanted}
            if properties.get("recipients"):
                data["recipients"] = properties["recipients"]
            if properties.get("recipients_from"):  # the recipients are named by a process variable
                data["recipients"] = str(task.data.get(properties["recipients_from"]) or "")
            self.events.append(EngineEvent(properties["history"], element_id, title, data))

    def _record_timer(self, task, element_id: str, title: str, due: str | None) -> None:
        data = {"timer": title, "due_at": due}
        if isinstance(task.task_spec, BoundaryEvent):
            data["interrupting"] = bool(task.task_spec.cancel_activity)
        self.events.append(EngineEvent("timer_fired", element_id, title, data))
        host = self.bundle.attached_to.get(element_id)
        if not host:
            return
        host_title = self.bundle.element_names.get(host, host)
        if self._is_reminder(element_id):
            self.events.append(EngineEvent("reminder", host, host_title, {**data, "task": host_title}))
        else:
            self.events.append(EngineEvent("deadline_breached", host, host_title,
                                           {**data, "task": host_title,
                                            # an interrupting deadline closes its task and takes the
                                            # timer's own path (which may escalate, or record "no response")
                                            "closes_task": bool(getattr(task.task_spec, "cancel_activity", False))}))

    def _is_reminder(self, element_id: str) -> bool:
        """A boundary timer marked ``timer_kind=reminder`` nudges, and so does any cycle (a deadline
        cannot repeat); any other boundary timer is the task's deadline."""
        if self.bundle.element_properties.get(element_id, {}).get("timer_kind") == "reminder":
            return True
        return element_id in self.bundle.cycle_timers

    # Cycles: SpiffWorkflow advances a cycle by a fixed number of seconds after each firing. We note
    # each firing in history and re-evaluate the cycle expression, so that the next repetition is
    # counted from the firing in working days (and a long outage does not replay missed reminders).
    def _cycle_tasks(self):
        return [t for t in self._waiting_timers() if isinstance(t.task_spec.event_definition, CycleTimerEventDefinition)]

    def _cycle_snapshot(self) -> dict:
        return {t.id: copy.deepcopy(t.internal_data.get("event_value")) for t in self._cycle_tasks()}

    def _note_cycle_fires(self, before: dict) -> None:
        for task in self._cycle_tasks():
            old, new = before.get(task.id), task.internal_data.get("event_value")
            if not isinstance(old, dict) or not isinstance(new, dict) or old.get("next") == new.get("next"):
                continue
            element_id = task.task_spec.bpmn_id
            self._record_timer(task, element_id, self.bundle.element_names.get(element_id, element_id), old["next"])
            self._rearm_cycle(task, new)

    def _rearm_cycle(self, task, value: dict) -> None:
        try:
            expression = self._wf.script_engine.evaluate(task, task.task_spec.event_definition.expression)
            _, start, _ = TimerEventDefinition.parse_iso_recurring_interval(expression)
        except Exception:  # noqa: BLE001 - keep SpiffWorkflow's own schedule if the expression cannot be re-read
            return
        if start > as_utc(datetime.now(start.tzinfo)):
            value["next"] = start.isoformat()

    def _waiting_timers(self):
        """Waiting timer events, and event-based gateways (and multiple events) with a timer among their events."""
        return [t for t in self._wf.event_manager.tasks.values()
                if _has_timer(t.task_spec.event_definition) and t.state == TaskState.WAITING]

    @staticmethod
    def _timer_due(task) -> datetime | None:
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):  # a cycle: its next firing, unless it has run out
            value = value.get("next") if value.get("cycles") != 0 else None
        if not isinstance(value, str):
            return None
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None

    def _describe(self, task) -> ReadyTask:
        element_id = task.task_spec.bpmn_id
        due_times = [self._timer_due(sibling) for sibling in task.parent.children
                     if isinstance(sibling.task_spec, BoundaryEvent) and sibling.state == TaskState.WAITING
                     and isinstance(sibling.task_spec.event_definition, TimerEventDefinition)
                     and not self._is_reminder(sibling.task_spec.bpmn_id)]
        due_times = [d for d in due_times if d is not None]
        properties = self.bundle.element_properties.get(element_id, {})
        role = self.bundle.element_role.get(element_id) or (
            None if element_id in self.bundle.element_party else task.task_spec.lane)
        if properties.get("role_from"):  # the role on this side comes from data, e.g. a routing table's output
            role = str(task.data.get(properties["role_from"]) or "") or role
        return ReadyTask(
            id=str(task.id),
            element_id=element_id,
            title=self.bundle.element_names.get(element_id, element_id),
            lane=role,
            party=self.bundle.element_party.get(element_id),
            form=self.bundle.forms.get(element_id),
            data=_public_data(task.data),
            due_at=min(due_times) if due_times else None,
            properties=self.bundle.element_properties.get(element_id, {}),
            documentation=self.bundle.element_docs.get(element_id, ""),
        )


def _has_timer(definition) -> bool:
    if isinstance(definition, MultipleEventDefinition):
        return any(isinstance(d, TimerEventDefinition) for d in definition.event_definitions)
    return isinstance(definition, TimerEventDefinition)


def _public_data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not k.startswith("_") and not callable(v)}


def _safe_eval(workflow: BpmnWorkflow, task, expression: str) -> Any:
    try:
        return workflow.script_engine.evaluate(task, expression)
    except Exception:  # noqa: BLE001 - only used to describe a routing failure
        return "<could not evaluate>"


_EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(?:Error|Exception):\s*")


def _message(exc: Exception) -> str:
    """The engine's message in plain words: without Python exception class names (``NameError:name 'x' ...``)."""
    text = _EXCEPTION_NAME.sub("", str(exc)).strip() or "no further detail"
    return text.splitlines()[0] if len(text) > 500 else text
