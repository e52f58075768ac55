"""Timer firing: the cron command, the due-timer index, and deadlines that fell due while the app was down.

The partnership escalation (seed 001) is the example: at Stage 1 both professionals act, and both tasks are due
2 working days after the escalation opened. No deadline escalates by itself: when it passes, a breach is
recorded on each side, both sides are told, and the other agency's acknowledgement closes as "no response"; the
raising professional's task stays open (overdue) until they record the evidence needed to refer it up.
"""
from __future__ import annotations

from conftest import Api, london, make_chain
from test_partnership_escalation import (CSC, OTHER, PROTOCOL, RAISING, SCHOOL, START, complete, other,
                                         people, raising, ready, start)  # noqa: F401  (people: a fixture)
from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import timers

STAGE1_MINE = "Stage 1 – Direct professional to professional discussion: record the discussion and plan"
STAGE1_THEIRS = ("Stage 1 – Direct professional to professional discussion: acknowledge, record your position and "
                 "confirm the plan")


def create_people() -> None:
    """The partnership ``people`` fixture's two management chains, for apps built with ``app_factory``."""
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)


def breaches(history) -> dict[str, tuple[str, str]]:
    """element id -> (due_at, recorded at) of each deadline_breached entry (API dicts or HistoryEntry rows)."""
    out = {}
    for h in history:
        kind = h["kind"] if isinstance(h, dict) else h.kind
        if kind != "deadline_breached":
            continue
        if isinstance(h, dict):
            out[h["element_id"]] = (h["data"]["due_at"], h["at"])
        else:
            out[h.element_id] = (h.data["due_at"], h.at.isoformat())
    return out


def assert_stage1_deadline_passed_without_escalating(api, instance_id: int) -> None:
    """What the Stage 1 deadline does: both breaches recorded and told, the silent acknowledgement closed,
    the raising professional's task still open and overdue, nothing escalated."""
    history = api.instance(instance_id)["history"]
    assert set(breaches(history)) == {"stage1_discussion", "stage1_acknowledge"}
    cancelled = [h["element_id"] for h in history if h["kind"] == "task_cancelled"]
    assert cancelled == ["stage1_acknowledge"]
    told = {h["element_id"]: sorted(h["data"]["sent_to"]) for h in history if h["kind"] == "notification_sent"}
    assert told["stage1_breach_notified"] == ["jo.reed", "sam.patel"]
    assert told["stage1_no_response"] == ["jo.reed", "max.lm", "sam.patel"]
    tasks = ready(api, instance_id)
    assert list(tasks) == ["stage1_discussion"] and tasks["stage1_discussion"]["overdue"] is True
    assert "escalated" not in [h["kind"] for h in history]


def test_run_once_command_fires_due_timers_and_records_them(app, api, people, clock):
    instance_id = start(api)
    runner = app.test_cli_runner()
    assert "fired timers on 0 instance(s)" in runner.invoke(args=["timers", "run-once"]).output
    clock.move_to(london(2026, 12, 3, 9, 30))
    result = runner.invoke(args=["timers", "run-once"])
    assert result.exit_code == 0 and "fired timers on 1 instance(s)" in result.output
    history = api.instance(instance_id)["history"]
    fired = sorted((f["element_id"], f["data"]["due_at"], f["at"]) for f in history if f["kind"] == "timer_fired")
    assert fired == [("stage1_ack_deadline", "2026-12-03T09:00:00+00:00", "2026-12-03T09:30:00+00:00"),
                     ("stage1_deadline", "2026-12-03T09:00:00+00:00", "2026-12-03T09:30:00+00:00")]
    assert_stage1_deadline_passed_without_escalating(api, instance_id)
    # Fired timers are not fired again.
    assert "fired timers on 0 instance(s)" in runner.invoke(args=["timers", "run-once"]).output
    assert len([h for h in api.instance(instance_id)["history"] if h["kind"] == "timer_fired"]) == 2


def test_due_timer_index_follows_the_instance(app, api, people, clock):
    instance_id = start(api)
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-03T09:00:00+00:00"
    assert timers.due_instance_ids(london(2026, 12, 3, 8, 59), 10) == []
    assert timers.due_instance_ids(london(2026, 12, 3, 9, 0), 10) == [instance_id]
    tasks = ready(api, instance_id)
    complete(api, tasks["stage1_discussion"], raising("resolved"))
    # The other side's acknowledgement is still open, and so is its deadline.
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-03T09:00:00+00:00"
    assert timers.due_instance_ids(london(2026, 12, 3, 9, 0), 10) == [instance_id]
    result = complete(api, tasks["stage1_acknowledge"], other("resolved"))
    assert result["status"] == "resolved"
    assert api.instance(instance_id)["next_deadline_at"] is None
    assert timers.due_instance_ids(london(2027, 1, 1), 10) == []


def test_sweep_touches_only_due_instances(app, api, people, clock):
    early = start(api)
    clock.move_to(london(2026, 12, 2, 9, 0))
    late = start(api, case_reference="LATE")
    clock.move_to(london(2026, 12, 3, 12, 0))
    result = timers.run_once()
    assert result.fired == [early]
    assert set(ready(api, late)) == {"stage1_discussion", "stage1_acknowledge"}
    assert "deadline_breached" not in api.kinds(late)
    assert_stage1_deadline_passed_without_escalating(api, early)


def test_deadline_due_while_the_app_was_down_fires_on_the_next_start(app_factory, clock):
    app = app_factory()
    with app.app_context():
        create_people()
        instance_id = start(Api(app.test_client()))
        db.session.remove()
        db.engine.dispose()  # the app "stops"
    clock.move_to(london(2026, 12, 7, 8, 0))  # the deadline passed on Thursday while it was down
    restarted = app_factory(reset_db=False)
    with restarted.app_context():
        result = restarted.test_cli_runner().invoke(args=["timers", "run-once"])
        assert "fired timers on 1 instance(s)" in result.output
        instance = db.session.get(ProcessInstance, instance_id)
        assert breaches(instance.history) == {
            "stage1_discussion": ("2026-12-03T09:00:00+00:00", "2026-12-07T08:00:00+00:00"),
            "stage1_acknowledge": ("2026-12-03T09:00:00+00:00", "2026-12-07T08:00:00+00:00")}
        assert instance.current_stage == STAGE1_MINE  # the acknowledgement closed; nothing escalated
        assert "escalated" not in [h.kind for h in instance.history]
        assert_stage1_deadline_passed_without_escalating(Api(restarted.test_client()), instance_id)


def test_served_app_background_loop_fires_due_timers(app, api, people, clock):
    """The loop `flask serve` starts: a deadline already past is fired without anyone running a command."""
    import threading

    instance_id = start(api)
    clock.move_to(london(2026, 12, 4, 9, 0))
    thread = timers.start_background_loop(app, 0.01)
    try:
        fired = threading.Event()
        for _ in range(500):  # poll up to ~5 s of real time; normally the first round suffices
            db.session.expire_all()
            if breaches(db.session.get(ProcessInstance, instance_id).history):
                fired.set()
                break
            fired.wait(0.01)
        assert fired.is_set(), "the background sweep did not fire the due deadline"
    finally:
        thread.stop.set()
        thread.join(timeout=5)
    db.session.expire_all()
    assert_stage1_deadline_passed_without_escalating(api, instance_id)


def test_worker_command_sweeps_until_told_to_stop(app, api, people, clock):
    instance_id = start(api)
    clock.move_to(london(2026, 12, 3, 10, 0))
    result = app.test_cli_runner().invoke(args=["timers", "worker", "--interval", "0", "--max-sweeps", "2"])
    assert result.exit_code == 0, result.output
    assert "fired timers on 1 instance(s)" in result.output and "timer worker: stopped" in result.output
    assert_stage1_deadline_passed_without_escalating(api, instance_id)


def due_dates(body: dict) -> dict[str, str]:
    return {t["name"]: t["due_at"] for t in body["ready_tasks"]}


def test_local_closure_days_from_config_move_deadlines(app_factory, clock):
    app = app_factory(CALENDAR_CLOSURES=("2026-12-02",))  # office closed on Wednesday 2 December
    with app.app_context():
        create_people()
        body = Api(app.test_client()).as_user("sam.patel").start(PROTOCOL, dict(START))
        assert due_dates(body) == {"stage1_discussion": "2026-12-04T09:00:00+00:00",
                                   "stage1_acknowledge": "2026-12-04T09:00:00+00:00"}


def test_config_can_override_the_diagram_calendar(app_factory, clock):
    """Scotland: 2 January is a bank holiday (Monday 4 January 2027 in lieu); in England it is not."""
    clock.move_to(london(2026, 12, 31, 10, 0))
    app = app_factory(CALENDAR_OVERRIDES={PROTOCOL: "GB-SCT"})
    with app.app_context():
        create_people()
        body = Api(app.test_client()).as_user("sam.patel").start(PROTOCOL, dict(START))
        assert due_dates(body) == {"stage1_discussion": "2027-01-06T10:00:00+00:00",
                                   "stage1_acknowledge": "2027-01-06T10:00:00+00:00"}
    england = app_factory()
    with england.app_context():
        create_people()
        body = Api(england.test_client()).as_user("sam.patel").start(PROTOCOL, dict(START))
        assert due_dates(body) == {"stage1_discussion": "2027-01-05T10:00:00+00:00",
                                   "stage1_acknowledge": "2027-01-05T10:00:00+00:00"}

