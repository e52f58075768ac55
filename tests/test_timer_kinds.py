"""Every timer kind the protocols use, with a moved clock, on a small test diagram (tests/diagrams/timer_kinds.bpmn):
an interrupting deadline in working hours, a non-interrupting deadline at the end of the 5th working day,
a repeating reminder every 2 working days, and an intermediate wait of N working days."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conftest import Api, london
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry
from workflow_app.services import instances, timers

DIAGRAMS = Path(__file__).parent / "diagrams"
RESOLVED = {"outcome": "resolved"}


@pytest.fixture
def timer_app(app_factory, clock, tmp_path):
    (tmp_path / "no_dmn").mkdir()
    return app_factory(BPMN_DIR=DIAGRAMS, DMN_DIR=tmp_path / "no_dmn")


@pytest.fixture
def api(timer_app):
    with timer_app.app_context():
        yield Api(timer_app.test_client())


def start(api, **data) -> int:
    return api.start("timer_kinds", {"case_reference": "T-1", **data})["id"]


def test_interrupting_deadline_in_working_hours(api, clock):
    clock.move_to(london(2026, 12, 24, 15, 0))  # Thursday 15:00; 2h left today, then Christmas closures
    instance_id = start(api)
    assert api.ready(instance_id)["due_at"] == "2026-12-29T11:00:00+00:00"
    clock.move_to(london(2026, 12, 29, 10, 59))
    api.sweep()
    assert api.instance(instance_id)["status"] == "running"
    clock.move_to(london(2026, 12, 29, 11, 0, 30))
    api.sweep()
    result = api.instance(instance_id)
    assert result["status"] == "closed" and result["end_reason"] == "Escalated"
    breach = next(h for h in result["history"] if h["kind"] == "deadline_breached")
    assert breach["data"]["closes_task"] is True and breach["task"] == "Urgent task"


def test_reminder_cycle_deadline_and_wait(api, clock):
    instance_id = start(api, wait_days=3)
    api.complete(api.ready(instance_id)["id"], RESOLVED)  # Tue 1 Dec 09:00
    slow = api.ready(instance_id, "slow_task")
    assert slow["due_at"] == "2026-12-08T17:00:00+00:00"  # end of the 5th working day
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-03T09:00:00+00:00"  # first reminder

    clock.move_to(london(2026, 12, 3, 9, 5))
    api.sweep()
    api.sweep()  # a second sweep at the same moment fires nothing more
    reminders = [h for h in api.instance(instance_id)["history"] if h["kind"] == "reminder"]
    assert [(r["data"]["due_at"], r["at"]) for r in reminders] == [("2026-12-03T09:00:00+00:00", "2026-12-03T09:05:00+00:00")]
    assert api.kinds(instance_id).count("notification_sent") == 1
    assert api.ready(instance_id)["id"] == slow["id"]
    assert api.ready(instance_id)["due_at"] == slow["due_at"]  # a reminder is not a deadline
    # The next reminder is 2 working days after this one fired.
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-07T09:05:00+00:00"

    clock.move_to(london(2026, 12, 7, 9, 6))
    api.sweep()
    assert api.kinds(instance_id).count("reminder") == 2

    clock.move_to(london(2026, 12, 8, 17, 1))
    api.sweep()
    assert api.kinds(instance_id).count("deadline_breached") == 1
    assert api.ready(instance_id)["overdue"] is True

    clock.move_to(london(2026, 12, 8, 17, 30))
    api.complete(slow["id"], RESOLVED)
    waiting = api.instance(instance_id)
    assert waiting["ready_tasks"] == [] and waiting["status"] == "running"
    assert waiting["next_deadline_at"] == "2026-12-11T17:30:00+00:00"  # 3 working days' wait

    clock.move_to(london(2026, 12, 10, 12, 0))  # reminders stopped with the task; the wait is not over
    api.sweep()
    assert api.kinds(instance_id).count("reminder") == 2
    assert api.instance(instance_id)["ready_tasks"] == []

    clock.move_to(london(2026, 12, 11, 17, 31))
    api.sweep()
    follow_up = api.ready(instance_id, "follow_up")
    fired = [h for h in api.instance(instance_id)["history"] if h["kind"] == "timer_fired"]
    assert fired[-1]["element_id"] == "follow_up_wait" and fired[-1]["data"]["due_at"] == "2026-12-11T17:30:00+00:00"
    assert api.complete(follow_up["id"], RESOLVED)["status"] == "resolved"


def test_missed_reminders_are_not_replayed_after_an_outage(api, clock):
    instance_id = start(api)
    api.complete(api.ready(instance_id)["id"], RESOLVED)
    clock.move_to(london(2026, 12, 7, 12, 0))  # two reminder slots (3 Dec, and after) passed while down
    api.sweep()
    api.sweep()
    assert api.kinds(instance_id).count("reminder") == 1
    assert api.instance(instance_id)["next_deadline_at"] == "2026-12-08T17:00:00+00:00"  # the deadline is next


def test_two_concurrent_sweepers_fire_each_timer_exactly_once(timer_app, api, clock):
    ids = [start(api, case_reference=f"T-{n}") for n in range(12)]
    clock.move_to(london(2026, 12, 1, 13, 30))
    barrier = threading.Barrier(2)
    results = []

    def sweeper():
        with timer_app.app_context():
            barrier.wait()
            results.append(timers.run_once())
            db.session.remove()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    fired = [i for result in results for i in result.fired]
    assert sorted(fired) == sorted(ids), "every due instance fired by exactly one sweeper"
    for instance_id in ids:
        kinds = api.kinds(instance_id)
        assert kinds.count("timer_fired") == 1 and kinds.count("deadline_breached") == 1
        assert api.instance(instance_id)["status"] == "closed"


def test_a_crash_in_the_middle_of_a_sweep_loses_nothing(timer_app, api, clock, monkeypatch):
    ids = [start(api, case_reference=f"T-{n}") for n in range(3)]
    clock.move_to(london(2026, 12, 1, 14, 0))
    real_fire = instances.fire_due_timers

    def crash_on_second(instance_id):
        if instance_id == ids[1]:
            raise RuntimeError("worker killed mid-sweep")
        return real_fire(instance_id)

    monkeypatch.setattr(instances, "fire_due_timers", crash_on_second)
    first = timers.run_once()
    assert sorted(first.fired) == [ids[0], ids[2]]
    assert api.instance(ids[1])["status"] == "running"
    assert db.session.query(HistoryEntry).filter_by(instance_id=ids[1], kind="timer_fired").count() == 0
    monkeypatch.setattr(instances, "fire_due_timers", real_fire)
    second = timers.run_once()
    assert second.fired == [ids[1]]
    assert api.kinds(ids[1]).count("timer_fired") == 1
