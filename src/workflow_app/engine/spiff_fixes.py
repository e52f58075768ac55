"""Corrections to SpiffWorkflow 3.2.0 (pinned) that the protocols depend on, applied once on import.

Parallel join inside a loop: ``ParallelGateway._check_threshold_unstructured`` counts the join tokens of an
earlier round. The branch that arrived second in that round left a *cancelled* join task whose parent is
completed, so in the next round the join fires on the first side's answer alone (seen in the mediation
protocol's "adjust the plan" loop and the partnership's Stage 3 repeats, where both sides must answer every
round). A join token cancelled in an earlier round is not an arrival in this one: skip it. Otherwise the
library's logic is unchanged.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.util.task import TaskState


def _check_threshold_unstructured(self, my_task) -> bool:
    waiting_inputs = set(self.inputs)

    def remove_ancestor(task) -> None:
        if task.task_spec in waiting_inputs:
            waiting_inputs.remove(task.task_spec)
        elif task.parent is not None:
            remove_ancestor(task.parent)

    tasks = my_task.workflow.get_tasks(spec_name=self.name)
    # Joins that fired in earlier rounds of a loop are ancestors of this one; this round's tokens descend
    # from them. (A token cancelled in *this* round was only superseded by a later arrival: it still counts.)
    earlier_rounds = [t for t in tasks if t is not my_task and my_task.is_descendant_of(t)]
    for task in tasks:
        if task.state == TaskState.CANCELLED and any(not task.is_descendant_of(r) for r in earlier_rounds):
            continue  # the fix: a join token cancelled in an earlier round did not arrive in this one
        if task.is_descendant_of(my_task):
            remove_ancestor(task)
        elif my_task.is_descendant_of(task):
            continue
        elif task.parent.state == TaskState.COMPLETED and task.parent.task_spec in waiting_inputs:
            waiting_inputs.remove(task.parent.task_spec)
    return len(waiting_inputs) == 0


ParallelGateway._check_threshold_unstructured = _check_threshold_unstructured
