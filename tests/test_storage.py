"""What each escalation costs to store, and reads that stay reads.

- An instance's stored state holds its own tasks and data, not a copy of the diagram: the deployment supplies
  the process spec when the state is loaded; a state written the old way (spec inside) still loads and goes on.
- An API token's last use is written at most once a minute, so reading through the API does not write.
- A task's role is compared through its normalised key, whatever the case of the role's name.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from conftest import make_chain
from test_partnership_escalation import CSC, OTHER, PROTOCOL, RAISING, SCHOOL, START, other, raising
from workflow_app.engine.serialization import embed_spec, has_embedded_spec, state_json
from workflow_app.extensions import db
from workflow_app.persistence.models import ApiToken, ProcessInstance, TaskRecord
from workflow_app.services import people
from workflow_app.services.deployments import bundle_for

# Goal of issue 15: an instance's stored bytes (state and data; history aside) stay under 5 KB.
STORED_BYTES_LIMIT = 5_000


def _people():
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)


def _stored(instance_id: int) -> ProcessInstance:
    db.session.expire_all()
    return db.session.get(ProcessInstance, instance_id)


def test_stored_state_holds_no_copy_of_the_diagram_and_stays_small(app, api):
    _people()
    instance_id = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    instance = _stored(instance_id)
    assert not has_embedded_spec(instance.state)
    assert "task_specs" not in state_json(instance.state)  # the spec's own key: no part of it is stored
    assert len(instance.state.encode()) < STORED_BYTES_LIMIT, len(instance.state)

    tasks = {t["name"]: t["id"] for t in api.instance(instance_id)["ready_tasks"]}
    api.as_user("sam.patel").complete(tasks["stage1_discussion"], raising("unresolved"))
    result = api.as_user("jo.reed").complete(tasks["stage1_acknowledge"], other("resolved"))
    assert {t["name"] for t in result["ready_tasks"]} == {"stage2_discussion", "stage2_acknowledge"}
    instance = _stored(instance_id)
    assert len(instance.state.encode()) < STORED_BYTES_LIMIT, len(instance.state)


def test_a_state_stored_with_its_own_spec_still_loads_and_goes_on(app, api):
    """States written before the spec moved to the deployment carry their own copy; they load as they are
    and the next change stores them without it."""
    _people()
    instance_id = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    instance = _stored(instance_id)
    bundle = bundle_for(instance.deployment)
    old_style = embed_spec(instance.state, bundle.spec, bundle.subprocess_specs)
    assert has_embedded_spec(old_style) and len(old_style) > 20 * len(instance.state)
    db.session.execute(ProcessInstance.__table__.update().where(ProcessInstance.id == instance_id)
                       .values(state=old_style))
    db.session.commit()

    tasks = {t["name"]: t["id"] for t in api.instance(instance_id)["ready_tasks"]}
    api.as_user("sam.patel").complete(tasks["stage1_discussion"], raising("unresolved"))
    result = api.as_user("jo.reed").complete(tasks["stage1_acknowledge"], other("resolved"))
    assert {t["name"] for t in result["ready_tasks"]} == {"stage2_discussion", "stage2_acknowledge"}
    assert not has_embedded_spec(_stored(instance_id).state)


def test_reading_with_a_token_records_its_use_at_most_once_a_minute(app, api, clock):
    _people()
    reader = api.as_user("sam.patel")
    reader.request("GET", "/api/tasks?view=mine")
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == people.get_user("sam.patel").id))
    first_use = token.last_used_at
    assert first_use is not None

    clock.shift(seconds=30)
    reader.request("GET", "/api/tasks?view=mine")
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at == first_use  # no write for a read within the minute

    clock.shift(seconds=31)
    reader.request("GET", "/api/tasks?view=mine")
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).last_used_at == first_use + timedelta(seconds=61)


def test_task_role_key_follows_its_role_whatever_the_case(app, api):
    _people()
    instance_id = api.as_user("sam.patel").start(PROTOCOL, START)["id"]
    records = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance_id)).all()
    assert records and all(r.role_key == r.role.casefold() for r in records)
    record = records[0]
    record.role = "LINE Manager"
    assert record.role_key == "line manager"
