"""Move a running (or errored) instance back to a person's task it has already passed.

SpiffWorkflow 3.2's ``BpmnWorkflow.reset_from_task_id`` does the tree surgery: every task below the chosen one
(the later tasks that are open now, their timers, the predicted future) is dropped, the chosen task becomes
ready again with the data it had when it opened, and the boundary events attached to it (its deadline,
reminders) are reset with it, so they are evaluated again from the moment of the move: fresh deadlines.

Choices on top of the library:
- only user tasks (a person's step) on the way to where the instance is now can be chosen (the latest
  completed task of each element, or one an interrupting deadline closed: the reset starts at the split that
  attached the deadline, so task and deadline are new);
- a task on a parallel branch (both sides' Stage 1 tasks, joined before Stage 2) is not itself an ancestor of
  where the instance is now: only the branch that finished last is. Going back to it resets the fork both
  branches start from, so the whole stage opens again (every branch's first task), not one side's task
  alone; the tasks that reopen together are offered as one choice;
- a user task reopened in place gets a new task id, because the application keeps one task row per task id
  and the old row is the record that the task was completed once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from workflow_app.engine.runtime import EngineError, EngineInstance
from workflow_app.engine.task_ids import next_id

HERE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


@dataclass
class EarlierTask:
    """A choice of where to go back to: the person's tasks that open again (one, or each branch's first
    task when the anchor is a fork)."""

    element_id: str  # the first of them; any of ``element_ids`` names this choice
    title: str
    element_ids: list[str]
    anchor_id: str  # the task reset: the user task itself, or the fork its branch starts from


@dataclass
class MoveBack:
    """What a move back did: the elements the instance was at, and the elements it is at now."""

    to_elements: list[str]
    from_elements: list[str] = field(default_factory=list)


def _where_it_is(engine: EngineInstance) -> list:
    """The tasks the instance is at: open, waiting (not counting timers attached to a task) or stopped by an
    error."""
    return [t for t in engine._wf.get_tasks(state=HERE)
            if t.task_spec.bpmn_id and not _is_boundary_event(t)]


def _is_boundary_event(task) -> bool:
    return task.parent is not None and isinstance(task.parent.task_spec, BoundaryEventSplit) \
        and not task.task_spec.manual


def _on_the_way(here: list) -> set:
    """Ids of every task that is, or is above, a task the instance is at."""
    ids = set()
    for task in here:
        node = task
        while node is not None and node.id not in ids:
            ids.add(node.id)
            node = node.parent
    return ids


def _anchor(task, on_the_way: set):
    """The task to reset to reopen ``task``: itself if the instance went on from it; else the fork its branch
    shares with the way the instance went, if no other person's task lies between them; else None."""
    if task.id in on_the_way:
        return task
    node = task.parent
    while node is not None:
        if node.id in on_the_way:
            return node
        if node.task_spec.manual:
            return None
        node = node.parent
    return None


def _highest_anchor(anchor, anchor_ids: set):
    """The highest of ``anchor_ids`` reachable from ``anchor`` upwards without passing another person's task:
    tasks that open together (parallel branches from one fork) go back together."""
    best, node = anchor, anchor.parent
    while node is not None and not node.task_spec.manual:
        if node.id in anchor_ids:
            best = node
        node = node.parent
    return best


def earlier_tasks(engine: EngineInstance) -> list[EarlierTask]:
    """Where the instance can go back to, earliest first."""
    on_the_way = _on_the_way(_where_it_is(engine))
    latest: dict[str, object] = {}
    # Completed, or closed by an interrupting deadline (the escalation went on along the deadline's path).
    for task in engine._wf.get_tasks(state=TaskState.COMPLETED | TaskState.CANCELLED):
        if task.task_spec.bpmn_id and task.task_spec.manual:
            latest[task.task_spec.bpmn_id] = task  # top down: a later pass of an element replaces an earlier one
    anchors = {}
    for task in sorted(latest.values(), key=lambda t: t.last_state_change):
        anchor = _anchor(task, on_the_way)
        if anchor is not None:
            anchors[task.id] = (task, anchor)
    anchor_ids = {anchor.id for _task, anchor in anchors.values()}
    groups: dict = {}
    for task, anchor in anchors.values():
        groups.setdefault(_highest_anchor(anchor, anchor_ids).id, []).append(task)
    names = engine.bundle.element_names
    choices = []
    for anchor_id, tasks in groups.items():
        ids = [t.task_spec.bpmn_id for t in tasks]
        choices.append(EarlierTask(ids[0], " / ".join(names.get(e, e) for e in ids), ids, str(anchor_id)))
    return choices


def move_back(engine: EngineInstance, element_id: str) -> MoveBack:
    """Reopen the latest passed task of ``element_id`` (and the tasks that open with it) and drop everything
    after it, then run the engine to its next wait. Raises ``ValueError`` if the instance cannot go back to it
    (see :func:`earlier_tasks`), ``EngineError`` if running on fails."""
    choice = next((c for c in earlier_tasks(engine) if element_id in c.element_ids), None)
    if choice is None:
        raise ValueError(element_id)
    from_elements = sorted({t.task_spec.bpmn_id for t in _where_it_is(engine)})
    workflow = engine._wf
    anchor = workflow.get_task_from_id(UUID(choice.anchor_id))
    try:
        dropped = workflow.reset_from_task_id(anchor.id)
    except SpiffWorkflowException as exc:
        raise EngineError(f"Could not move back to '{choice.title}': {exc}", element_id) from None
    _forget_waiting(workflow, dropped)
    if anchor.task_spec.manual:
        _renew_id(anchor)
    engine._run_engine()
    return MoveBack(to_elements=choice.element_ids, from_elements=from_elements)


def _forget_waiting(workflow, dropped: list) -> None:
    """SpiffWorkflow 3.2 drops the later tasks from the tree but leaves their waiting events (the later
    tasks' deadlines) registered with the workflow's event manager, where the next timer refresh trips on
    them: unregister them."""
    manager = workflow.event_manager
    for task in dropped:
        manager.remove_task(task)
    for task_id, task in list(manager.tasks.items()):
        if task.workflow.tasks.get(task_id) is not task:
            manager.tasks.pop(task_id, None)


def _renew_id(task) -> None:
    """Give the reopened task a new id (its old id names the completed task in the application's records): the
    next id of the instance's source, never one it issued before."""
    tasks = task.workflow.tasks
    old, new = task.id, next_id(task.workflow)
    tasks.pop(old, None)
    task.id = new
    tasks[new] = task
    parent = task.parent
    if parent is not None:  # SpiffWorkflow links parent and children by id
        parent._children = [new if child == old else child for child in parent._children]
    for child in task.children:
        child._parent = new
