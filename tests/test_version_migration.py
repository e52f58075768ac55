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


# -- batches run by the worker (services/timers.Worker calls version_migration.run_pending_batches each round) --

def _moved_once_with_deadlines_kept(api, due: dict[int, str]) -> None:
    for instance_id, due_at in due.items():
        result = api.instance(instance_id)
        assert result["version"] == 2
        assert [h["kind"] for h in result["history"]].count("migrated") == 1, instance_id
        task = api.ready(instance_id)
        assert task["name"] == "review_case" and task["due_at"] == due_at


def test_worker_finishes_a_batch_started_in_the_api_after_being_killed_halfway(api, app_factory, clock, dirs):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool
    from workflow_app.services import timers, version_migration

    due = start_many(api, clock, MANY)
    deploy_renamed(dirs)
    batch = api.request("POST", "/api/migrations", 201, json=batch_body(mapping=RENAMES, reason="new wording"))
    # The worker's round is cut off after 5 escalations (the process killed between two of them).
    assert version_migration.run_pending_batches(limit=5).handled == 5
    assert api.request("GET", f"/api/migrations/{batch['id']}")["counts"] == {"migrated": 5, "pending": MANY - 5}

    holder = None
    if db.engine.dialect.name == "postgresql":
        # A second worker is in the middle of the next item (its row locked, not yet committed) ...
        holder = create_engine(db.engine.url.render_as_string(hide_password=False), poolclass=NullPool).connect()
        held = holder.execute(text("SELECT id FROM migration_batch_items WHERE batch_id = :b AND status = 'pending' "
                                   "ORDER BY id LIMIT 1 FOR UPDATE"), {"b": batch["id"]}).scalar()
    db.session.remove()

    # The worker restarts (a new process on the same database) and carries on by itself: no command is run.
    restarted = app_factory(reset_db=False, BPMN_DIR=dirs[0], DMN_DIR=dirs[1])
    worker = timers.Worker(restarted, interval=0, name="test-worker")
    worker.run_round()
    assert worker.failures == 0, worker.last_error
    if holder is not None:
        # ... so this worker passed over it; then that worker dies (its connection and lock go) and the next
        # round moves the escalation it had claimed.
        with restarted.app_context():
            assert db.session.get(MigrationBatchItem, held).status == "pending"
        holder.close()
        worker.run_round()
    with restarted.app_context():
        items = db.session.query(MigrationBatchItem).filter_by(batch_id=batch["id"]).all()
        assert {i.status for i in items} == {"migrated"} and len(items) == MANY
    assert api.request("GET", f"/api/migrations/{batch['id']}")["status"] == "done"
    _moved_once_with_deadlines_kept(api, due)
    worker.run_round()  # nothing left: a further round moves nothing again
    assert db.session.query(HistoryEntry).filter_by(kind="migrated").count() == MANY


def test_two_workers_at_once_move_each_escalation_exactly_once(api, ops_app, clock, dirs):
    import threading
    from workflow_app.services import version_migration

    if db.engine.dialect.name != "postgresql":
        pytest.skip("two writers at once need PostgreSQL (SQLite runs one writer at a time)")
    due = start_many(api, clock, MANY)
    deploy_renamed(dirs)
    batch = api.request("POST", "/api/migrations", 201, json=batch_body(mapping=RENAMES))
    db.session.remove()
    barrier = threading.Barrier(2)
    handled, errors = [], []

    def worker() -> None:
        with ops_app.app_context():
            barrier.wait()
            try:
                handled.append(version_migration.run_pending_batches(limit=MANY))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    # Each claimed its own escalations (a row lock the other skips): they shared the work, neither lost a race.
    assert sum(r.handled for r in handled) == MANY and [r.raced for r in handled] == [0, 0], handled
    assert api.request("GET", f"/api/migrations/{batch['id']}")["counts"] == {"migrated": MANY}
    _moved_once_with_deadlines_kept(api, due)
    assert db.session.query(HistoryEntry).filter_by(kind="migrated").count() == MANY


# -- the migration-plan page in the policy editor (web/policy.py, templates/operations/) ------------------------

def _signed_in(app, username: str):
    from conftest import PASSWORD
    client = app.test_client()
    client.post("/login", data={"username": username, "password": PASSWORD})
    return client


def test_owner_plans_previews_and_starts_a_batch_in_the_ui_and_the_worker_finishes_it(api, ops_app, clock, dirs):
    from conftest import make_user
    from workflow_app.services import people, timers
    make_user("olive.owner", roles=[people.PROCESS_OWNER], protocols=[ops_diagrams.PROTOCOL])
    make_user("rita.reviewer", roles=["Reviewer"])
    due = start_many(api, clock, 3)
    owner = _signed_in(ops_app, "olive.owner")  # a process owner, not a policy editor
    single = owner.get(f"/deployments/{ops_diagrams.PROTOCOL}/migrate").get_data(as_text=True)
    assert 'id="single-version"' in single
    deploy_renamed(dirs)
    url = f"/deployments/{ops_diagrams.PROTOCOL}/migrate"
    assert _signed_in(ops_app, "rita.reviewer").get(url).status_code == 403

    page = owner.get(url).get_data(as_text=True)
    assert 'name="map-review"' in page and 'value="review_case"' in page  # a dropdown of the target's elements
    assert "BoundaryEventSplit" not in page and "review_case_deadline_timer" not in page  # only diagram elements
    assert page.count("cannot move") == 3 and "3 open escalation(s) match; 0 can move" in page
    plan = {"to_version": "2", "map-review": "review_case", "map-review_deadline": "review_case_deadline"}
    preview = owner.post(url, data={**plan, "action": "preview"}).get_data(as_text=True)
    assert "3 open escalation(s) match; 3 can move" in preview and "cannot move" not in preview
    assert "Review the case <code>review</code> → Review the case <code>review_case</code>" in preview
    staged = owner.post(url, data={**plan, "element": "nowhere", "action": "preview"}).get_data(as_text=True)
    assert "No open escalation matches" in staged

    started = owner.post(url, data={**plan, "action": "start", "reason": "clearer task ids"})
    assert started.status_code == 302
    batch_page = owner.get(started.headers["Location"]).get_data(as_text=True)
    assert "in progress" in batch_page and batch_page.count('data-status="pending"') == 3
    assert [h["kind"] for h in api.instance(min(due))["history"]].count("migrated") == 0  # nothing moved yet

    timers.Worker(ops_app, interval=0, name="test-worker").run_round()  # nobody runs a command
    batch_page = owner.get(started.headers["Location"]).get_data(as_text=True)
    assert "done" in batch_page and batch_page.count('data-status="migrated"') == 3
    _moved_once_with_deadlines_kept(api, due)


def test_starting_a_plan_that_cannot_map_says_what_and_starts_nothing(api, ops_app, clock, dirs):
    start_many(api, clock, 2)
    deploy_renamed(dirs)
    from conftest import TESTER
    editor = _signed_in(ops_app, TESTER)
    response = editor.post(f"/deployments/{ops_diagrams.PROTOCOL}/migrate",
                           data={"to_version": "2", "action": "start", "reason": "x"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Nothing was started" in text and "review (&#39;Review the case&#39;)" in text
    assert db.session.query(MigrationBatchItem).count() == 0
