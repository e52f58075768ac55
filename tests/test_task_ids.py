"""Task ids an escalation can re-derive (engine/task_ids.py), so its stored state stays small as it climbs.

- Walked up every stage of the partnership ladder, each task completed by the person it is assigned to, an
  escalation's stored bytes (state and data, as stored: encrypted) stay within 5 KB at every stage.
- A task keeps its id through any number of saves and loads; two escalations never share an id; tasks created
  after a load (a move back included) get ids never used before in that escalation.
- A state written before (every id spelled out, tasks keyed by id) still loads, goes on and keeps its ids.
"""
from __future__ import annotations

import base64
import json
import re
import zlib

import pytest
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG
from sqlalchemy import LargeBinary, func, select, type_coerce

from conftest import make_chain, make_user
from test_partnership_escalation import CSC, OTHER, PROTOCOL, RAISING, SCHOOL, START, other, raising, ready
from workflow_app.engine.serialization import (COMPRESSED_PREFIX, dumps_workflow, embed_spec, loads_workflow,
                                               state_json)
from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance, TaskRecord
from workflow_app.services import people as people_service
from workflow_app.services.deployments import bundle_for

STORED_BYTES_LIMIT = 5_000  # issue 15: an escalation's stored state and data, at any stage
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def people(app):
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)
    make_user("ada.admin", roles=[people_service.ADMINISTRATOR])


def _instance(instance_id: int) -> ProcessInstance:
    db.session.expire_all()
    return db.session.get(ProcessInstance, instance_id)


def _stored_bytes(instance_id: int) -> int:
    """What the database holds for the instance's state and data (encrypted), as bench/run_all.py measures."""
    state, data = db.session.execute(select(func.length(type_coerce(ProcessInstance.state, LargeBinary)),
                                            func.length(type_coerce(ProcessInstance.data, LargeBinary)))
                                     .where(ProcessInstance.id == instance_id)).one()
    return state + data


def _workflow(instance_id: int):
    instance = _instance(instance_id)
    bundle = bundle_for(instance.deployment)
    return loads_workflow(instance.state, bundle.spec, bundle.subprocess_specs)


def _task_ids(workflow) -> set[str]:
    return {str(t.id) for t in workflow.get_tasks()}


def _complete_as_assignee(api, task: dict, data: dict) -> dict:
    assert task["assigned_to"], task
    return api.as_user(task["assigned_to"]).complete(task["id"], data)


def test_an_escalation_stays_within_5_kb_at_every_stage_as_it_climbs(api, people):
    instance_id = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    sizes = {}
    for stage in range(1, 6):
        tasks = ready(api, instance_id)
        sizes[stage] = _stored_bytes(instance_id)
        if stage == 5:
            assert "stage5_offer_mediation" in tasks  # the top of the ladder: the Partnership's mediation
            break
        assert set(tasks) == {f"stage{stage}_discussion", f"stage{stage}_acknowledge"}
        _complete_as_assignee(api, tasks[f"stage{stage}_discussion"], raising("unresolved"))
        _complete_as_assignee(api, tasks[f"stage{stage}_acknowledge"], other("resolved"))
    assert all(size <= STORED_BYTES_LIMIT for size in sizes.values()), sizes
    # The state names its tasks by number: no task id is spelled out in it.
    assert UUID_TEXT.findall(state_json(_instance(instance_id).state)) == []


def test_a_task_keeps_its_id_through_saves_and_loads_and_escalations_never_share_one(api, people):
    first = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    second = api.as_user("sam.patel").start(PROTOCOL, {**START, "case_reference": "CASE-43"})["id"]
    waiting = ready(api, first)
    ids = _task_ids(_workflow(first))
    assert {t["id"] for t in waiting.values()} <= ids
    assert ids.isdisjoint(_task_ids(_workflow(second)))

    state = _instance(first).state
    bundle = bundle_for(_instance(first).deployment)
    for _ in range(3):  # any number of saves and loads
        workflow = loads_workflow(state, bundle.spec, bundle.subprocess_specs)
        assert _task_ids(workflow) == ids
        state = dumps_workflow(workflow)

    # One side acts: the other side's task keeps its id (and its row), and the new stage's tasks are new ids.
    _complete_as_assignee(api, waiting["stage1_discussion"], raising("unresolved"))
    assert ready(api, first)["stage1_acknowledge"]["id"] == waiting["stage1_acknowledge"]["id"]
    _complete_as_assignee(api, waiting["stage1_acknowledge"], other("resolved"))
    stage2 = ready(api, first)
    assert {t["id"] for t in stage2.values()}.isdisjoint(t["id"] for t in waiting.values())
    rows = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == first)).all()
    assert {r.id: r.state for r in rows if r.element_id.startswith("stage1_")} == {
        waiting["stage1_discussion"]["id"]: "completed", waiting["stage1_acknowledge"]["id"]: "completed"}
    assert {r.id for r in rows} <= _task_ids(_workflow(first))


def test_tasks_made_after_a_load_or_a_move_back_take_ids_never_used_before(api, people, clock):
    instance_id = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    stage1 = ready(api, instance_id)
    _complete_as_assignee(api, stage1["stage1_discussion"], raising("unresolved"))
    _complete_as_assignee(api, stage1["stage1_acknowledge"], other("unresolved"))
    before = _workflow(instance_id)
    issued_before = before._task_ids.count
    ids_before = _task_ids(before)

    api.request("POST", f"/api/instances/{instance_id}/move-back", user="ada.admin",
                json={"to": "stage1_acknowledge", "reason": "Stage 1 meeting was with the wrong school"})
    again = ready(api, instance_id)
    assert set(again) == {"stage1_discussion", "stage1_acknowledge"}
    after = _workflow(instance_id)
    new_ids = _task_ids(after) - ids_before
    assert {t["id"] for t in again.values()} <= new_ids  # the reopened tasks: ids never used before
    # ... taken further along the same sequence (stored as numbers; none reused, not even a dropped task's)
    numbers = [after._task_ids.number_of(t.id) for t in after.get_tasks() if str(t.id) in new_ids]
    assert None not in numbers and min(numbers) >= issued_before and len(set(numbers)) == len(numbers)

    _complete_as_assignee(api, again["stage1_discussion"], raising("unresolved"))
    _complete_as_assignee(api, again["stage1_acknowledge"], other("unresolved"))
    assert set(ready(api, instance_id)) == {"stage2_discussion", "stage2_acknowledge"}
    rows = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance_id,
                                                       TaskRecord.element_id.like("stage1_%"))).all()
    assert sorted(r.state for r in rows) == ["completed"] * 4  # both passes of Stage 1, each its own row


def _format_1(state: str, bundle) -> str:
    """The state as the previous layout stored it: every id spelled out, tasks and subprocesses keyed by id."""
    workflow = loads_workflow(state, bundle.spec, bundle.subprocess_specs)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))
    dct = serializer.to_dict(workflow)
    del dct["spec"], dct["subprocess_specs"]
    dct["instance_state"] = 1
    dct[serializer.VERSION_KEY] = serializer.VERSION
    text = json.dumps(dct, cls=serializer._encoder_cls, separators=(",", ":"))
    return COMPRESSED_PREFIX + base64.b64encode(zlib.compress(text.encode())).decode("ascii")


def test_a_state_stored_in_the_earlier_layout_loads_goes_on_and_keeps_its_ids(api, people):
    instance_id = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    instance = _instance(instance_id)
    bundle = bundle_for(instance.deployment)
    old_ids = _task_ids(_workflow(instance_id))
    old_state = _format_1(instance.state, bundle)
    assert '"tasks":{' in state_json(old_state) and '"task_ids"' not in state_json(old_state)
    db.session.execute(ProcessInstance.__table__.update().where(ProcessInstance.id == instance_id)
                       .values(state=old_state))
    db.session.commit()

    waiting = ready(api, instance_id)
    assert _task_ids(_workflow(instance_id)) == old_ids
    _complete_as_assignee(api, waiting["stage1_discussion"], raising("unresolved"))
    assert ready(api, instance_id)["stage1_acknowledge"]["id"] == waiting["stage1_acknowledge"]["id"]
    _complete_as_assignee(api, waiting["stage1_acknowledge"], other("resolved"))
    assert set(ready(api, instance_id)) == {"stage2_discussion", "stage2_acknowledge"}

    workflow = _workflow(instance_id)
    kept = old_ids & _task_ids(workflow)
    assert {t["id"] for t in waiting.values()} <= kept
    # The old tasks stay named by their ids; the tasks made since are numbered by the state's own source.
    text = state_json(_instance(instance_id).state)
    assert set(UUID_TEXT.findall(text)) == kept
    assert all(workflow._task_ids.number_of(t.id) is not None for t in workflow.get_tasks() if str(t.id) not in kept)

    # Written with its spec (a schema downgrade) and read back: the same ids.
    with_spec = embed_spec(_instance(instance_id).state, bundle.spec, bundle.subprocess_specs)
    assert _task_ids(loads_workflow(with_spec, bundle.spec, bundle.subprocess_specs)) == _task_ids(workflow)
