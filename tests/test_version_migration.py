"""Moving open escalations to a new version of their protocol: a plan (renames), checked first, applied to one
escalation or to a batch that survives a restart; open tasks and their deadlines carry over."""
from __future__ import annotations

import pytest

import ops_diagrams
from ops_diagrams import dirs, ops_app  # noqa: F401  (fixtures: the small test protocol deployed)
from conftest import Api, london
from workflow_app.cli import deploy_repository_diagrams
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, MigrationBatchItem

RENAMES = {"review": "review_case", "review_deadline": "review_case_deadline"}
MANY = 12


@pytest.fixture
def api(ops_app):
    with ops_app.app_context():
        yield Api(ops_app.test_client())


def start_many(api, clock, count: int) -> dict[int, str]:
    """``count`` escalations started an hour apart; instance id -> its review task's due date."""
    due = {}
    for n in range(count):
        clock.move_to(london(2026, 12, 1, 9 + n % 8, 0) if n < 8 else london(2026, 12, 2, n - 8 + 9, 0))
        instance_id = api.start(ops_diagrams.PROTOCOL, {"case_reference": f"OPS-{n}"})["id"]
        due[instance_id] = api.ready(instance_id)["due_at"]
    return due


def deploy_renamed(dirs) -> None:
    ops_diagrams.write(*dirs, review_id="review_case")
    deploy_repository_diagrams()


def batch_body(**extra) -> dict:
    return {"protocol": ops_diagrams.PROTOCOL, "to_version": 2, "from_version": 1, **extra}


def test_a_plan_that_cannot_map_a_renamed_task_is_refused_with_what_cannot_map(api, clock, dirs):
    start_many(api, clock, 2)
    deploy_renamed(dirs)
    refused = api.request("POST", "/api/migrations", 400, json=batch_body())
    assert "Nothing was moved" in refused["error"]
    assert "review ('Review the case')" in refused["fields"]["mapping"]
    assert db.session.query(MigrationBatchItem).count() == 0
    preview = api.request("POST", "/api/migrations/preview", json=batch_body(mapping=RENAMES))
    assert [p["ok"] for p in preview["instances"]] == [True, True]
    move = preview["instances"][0]["open_tasks"][0]
    assert (move["from"], move["to"], move["to_title"]) == ("review", "review_case", "Review the case")


def test_batch_interrupted_halfway_and_restarted_moves_each_escalation_once(api, app_factory, clock, dirs):
    due = start_many(api, clock, MANY)
    deploy_renamed(dirs)
    clock.move_to(london(2026, 12, 2, 18, 0))
    batch = api.request("POST", "/api/migrations", 201, json=batch_body(mapping=RENAMES, reason="new wording"))
    assert batch["counts"] == {"pending": MANY}
    half = api.request("POST", f"/api/migrations/{batch['id']}/run?limit=5")
    assert half["status"] == "running" and half["counts"] == {"migrated": 5, "pending": MANY - 5}

    # The process stops; a new one (same database) carries on from the rows, here through the CLI.
    restarted = app_factory(reset_db=False, BPMN_DIR=dirs[0], DMN_DIR=dirs[1])
    with restarted.app_context():
        output = restarted.test_cli_runner().invoke(args=["migrations", "run"]).output
        assert f"batch {batch['id']}: done (migrated {MANY})" in output
        again = restarted.test_cli_runner().invoke(args=["migrations", "run", "--batch", str(batch["id"])]).output
        assert f"done (migrated {MANY})" in again

    for instance_id, due_at in due.items():
        result = api.instance(instance_id)
        assert result["version"] == 2
        moves = [h for h in result["history"] if h["kind"] == "migrated"]
        assert len(moves) == 1 and moves[0]["data"]["reason"] == "new wording"
        task = api.ready(instance_id)
        assert task["name"] == "review_case" and task["due_at"] == due_at
        assert result["next_deadline_at"] == due_at
    # Deadlines still fire on the new version, and the tasks complete there.
    first = min(due)
    clock.move_to(london(2026, 12, 7, 9, 0))
    api.sweep()
    breach = next(h for h in api.instance(first)["history"] if h["kind"] == "deadline_breached")
    assert breach["element_id"] == "review_case" and breach["data"]["due_at"] == due[first]
    api.complete(api.ready(first)["id"], {"outcome": "resolved"})
    assert api.instance(first)["status"] == "resolved"
    assert db.session.query(HistoryEntry).filter_by(kind="migrated").count() == MANY


def test_one_escalation_moves_with_the_cli_and_not_twice(api, ops_app, clock, dirs):
    instance_id = start_many(api, clock, 1).popitem()[0]
    deploy_renamed(dirs)
    runner = ops_app.test_cli_runner()
    args = ["escalations", "migrate", str(instance_id), "--by", "tester", "--map", "review=review_case",
            "--map", "review_deadline=review_case_deadline"]
    assert "now runs version 2" in runner.invoke(args=args).output
    second = runner.invoke(args=args)
    assert second.exit_code != 0 and "already runs version 2" in second.output
    assert api.ready(instance_id)["name"] == "review_case"
