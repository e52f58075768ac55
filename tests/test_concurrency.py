"""Two people completing the same task at the same moment: exactly one succeeds, the other gets 409.
Runs against whichever database the suite uses (CI runs it on SQLite and on PostgreSQL).

The race is on the other agency's Stage 1 acknowledgement of a partnership escalation: its professional released
it, so it is open to every Professional of that agency, and two of them submit it at once. The raising side has
already referred the disagreement up, so the winning submission also escalates it to Stage 2: the loser's must
neither complete the task a second time nor escalate it twice."""
from __future__ import annotations

import threading

import pytest

from conftest import make_user
from test_partnership_escalation import (CSC, complete, other, people, raising, ready,  # noqa: F401  (people: a fixture)
                                         start)
from workflow_app.extensions import db

RACERS = ("first.person", "second.person")


def test_simultaneous_completions_one_wins_one_gets_409(app, api, people):
    for name in RACERS:
        make_user(name, roles=["Professional"], agency=CSC)
    outcomes = []
    for round_number in range(5):  # several rounds: the race is real, so repeat it
        instance_id = start(api, case_reference=f"RACE-{round_number}")
        tasks = ready(api, instance_id)
        complete(api, tasks["stage1_discussion"], raising("unresolved"))
        task_id = tasks["stage1_acknowledge"]["id"]
        api.as_user("jo.reed").request("POST", f"/api/tasks/{task_id}/release")
        tokens = {name: api._token(name) for name in RACERS}
        barrier = threading.Barrier(2)
        statuses = []

        def submit(name: str) -> None:
            with app.app_context():
                client = app.test_client()
                barrier.wait()
                response = client.post(f"/api/tasks/{task_id}/complete", json={"data": other("resolved")},
                                       headers={"Authorization": f"Bearer {tokens[name]}"})
                statuses.append((response.status_code, response.get_json().get("error", "")))
                db.session.remove()

        threads = [threading.Thread(target=submit, args=(name,)) for name in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        codes = sorted(code for code, _ in statuses)
        assert codes == [200, 409], statuses
        history = api.instance(instance_id)["history"]
        completed = [(h["element_id"], h["actor"]) for h in history if h["kind"] == "task_completed"]
        assert completed[0] == ("stage1_discussion", "sam.patel")
        assert [element for element, _ in completed] == ["stage1_discussion", "stage1_acknowledge"]
        assert completed[1][1] in RACERS
        assert [h["kind"] for h in history].count("escalated") == 1
        assert set(ready(api, instance_id)) == {"stage2_discussion", "stage2_acknowledge"}
        outcomes.append(next(message for code, message in statuses if code == 409))
    assert all("already completed" in m or "at the same moment" in m for m in outcomes), outcomes


def test_a_transaction_broken_off_by_a_deadlock_is_run_again(app):
    """PostgreSQL ends a deadlock by failing one transaction, which changed nothing: the operation runs again
    instead of answering 500; anything else (or a deadlock every time) still fails."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from workflow_app.services import instances
    calls = []

    @instances.concurrency_safe
    def operation(fail_times: int, error=psycopg.errors.DeadlockDetected):
        calls.append(1)
        if len(calls) <= fail_times:
            raise OperationalError("UPDATE ...", {}, error("deadlock detected"))
        return "done"

    with app.app_context():
        assert operation(2) == "done" and len(calls) == 3
        calls.clear()
        with pytest.raises(OperationalError):
            operation(instances.ATTEMPTS)  # a deadlock every time
        assert len(calls) == instances.ATTEMPTS
        calls.clear()
        with pytest.raises(OperationalError):
            operation(1, psycopg.errors.UndefinedTable)  # not a deadlock: not retried
        assert len(calls) == 1
