"""Timer firing: the cron command, the due-timer index, and deadlines that fell due while the app was down."""
from __future__ import annotations

from conftest import Api, london
from test_partnership_escalation import PROTOCOL, START
from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import timers


def test_run_once_command_fires_due_timers_and_records_them(app, api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    runner = app.test_cli_runner()
    assert "fired timers on 0 instance(s)" in runner.invoke(args=["timers", "run-once"]).output
    clock.move_to(london(2026, 12, 3, 9, 30))
    result = runner.invoke(args=["timers", "run-once"])
    assert result.exit_code == 0 and "fired timers on 1 instance(s)" in result.output
    fired = [h for h in api.instance(instance_id)["history"] if h["kind"] == "timer_fired"]
    assert [(f["data"]["due_at"], f["at"]) for f in fired] == [("2026-12-03T09:00:00+00:00", "2026-12-03T09:30:00+00:00")]


def test_due_timer_index_follows_the_instance(app, api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-03T09:00:00+00:00"
    assert timers.due_instance_ids(london(2026, 12, 3, 8, 59), 10) == []
    assert timers.due_instance_ids(london(2026, 12, 3, 9, 0), 10) == [instance_id]
    task = api.ready(instance_id)
    api.complete(task["id"], {"date_held": "2026-12-01", "participants": "x", "outcome": "resolved",
                              "action_plan": "none needed"})
    assert api.instance(instance_id)["next_deadline_at"] is None
    assert timers.due_instance_ids(london(2027, 1, 1), 10) == []


def test_sweep_touches_only_due_instances(app, api, clock):
    early = api.start(PROTOCOL, START)["id"]
    clock.move_to(london(2026, 12, 2, 9, 0))
    late = api.start(PROTOCOL, {**START, "case_reference": "LATE"})["id"]
    clock.move_to(london(2026, 12, 3, 12, 0))
    result = timers.run_once()
    assert result.fired == [early]
    assert api.ready(late)["name"] == "stage1_discussion"
    assert api.ready(early)["name"] == "stage2_discussion"


def test_deadline_due_while_the_app_was_down_fires_on_the_next_start(app_factory, clock):
    app = app_factory()
    with app.app_context():
        instance_id = Api(app.test_client()).start(PROTOCOL, START)["id"]
        db.session.remove()
        db.engine.dispose()  # the app "stops"
    clock.move_to(london(2026, 12, 7, 8, 0))  # the deadline passed on Thursday while it was down
    restarted = app_factory(reset_db=False)
    with restarted.app_context():
        result = restarted.test_cli_runner().invoke(args=["timers", "run-once"])
        assert "fired timers on 1 instance(s)" in result.output
        instance = db.session.get(ProcessInstance, instance_id)
        breach = next(h for h in instance.history if h.kind == "deadline_breached")
        assert breach.data["due_at"] == "2026-12-03T09:00:00+00:00"
        assert breach.at.isoformat() == "2026-12-07T08:00:00+00:00"
        assert instance.current_stage == "Stage 2 – Direct manager to manager discussion"


def test_served_app_background_loop_fires_due_timers(app, api, clock):
    """The loop `flask serve` starts: a deadline already past is fired without anyone running a command."""
    import threading

    instance_id = api.start(PROTOCOL, START)["id"]
    clock.move_to(london(2026, 12, 4, 9, 0))
    thread = timers.start_background_loop(app, 0.01)
    try:
        fired = threading.Event()
        for _ in range(500):  # poll up to ~5 s of real time; normally the first round suffices
            db.session.expire_all()
            if db.session.get(ProcessInstance, instance_id).current_stage.startswith("Stage 2"):
                fired.set()
                break
            fired.wait(0.01)
        assert fired.is_set(), "the background sweep did not fire the due deadline"
    finally:
        thread.stop.set()
        thread.join(timeout=5)


def test_worker_command_sweeps_until_told_to_stop(app, api, clock):
    instance_id = api.start(PROTOCOL, START)["id"]
    clock.move_to(london(2026, 12, 3, 10, 0))
    result = app.test_cli_runner().invoke(args=["timers", "worker", "--interval", "0", "--max-sweeps", "2"])
    assert result.exit_code == 0, result.output
    assert "fired timers on 1 instance(s)" in result.output and "timer worker: stopped" in result.output
    assert api.ready(instance_id)["name"] == "stage2_discussion"


def test_local_closure_days_from_config_move_deadlines(app_factory, clock):
    app = app_factory(CALENDAR_CLOSURES=("2026-12-02",))  # office closed on Wednesday 2 December
    with app.app_context():
        body = Api(app.test_client()).start(PROTOCOL, START)
        assert body["ready_tasks"][0]["due_at"] == "2026-12-04T09:00:00+00:00"


def test_config_can_override_the_diagram_calendar(app_factory, clock):
    """Scotland: 2 January is a bank holiday (Monday 4 January 2027 in lieu); in England it is not."""
    clock.move_to(london(2026, 12, 31, 10, 0))
    app = app_factory(CALENDAR_OVERRIDES={PROTOCOL: "GB-SCT"})
    with app.app_context():
        body = Api(app.test_client()).start(PROTOCOL, START)
        assert body["ready_tasks"][0]["due_at"] == "2027-01-06T10:00:00+00:00"
    england = app_factory()
    with england.app_context():
        body = Api(england.test_client()).start(PROTOCOL, START)
        assert body["ready_tasks"][0]["due_at"] == "2027-01-05T10:00:00+00:00"
