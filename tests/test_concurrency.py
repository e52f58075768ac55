"""Two people completing the same task at the same moment: exactly one succeeds, the other gets 409.
Runs against whichever database the suite uses (CI runs it on SQLite and on PostgreSQL)."""
from __future__ import annotations

import threading

from conftest import Api, make_user
from test_partnership_escalation import PROTOCOL, START, record
from workflow_app.extensions import db


def test_simultaneous_completions_one_wins_one_gets_409(app, api):
    for name in ("first.person", "second.person"):
        make_user(name, roles=["Professional"], agency="Children's Social Care")
    outcomes = []
    for round_number in range(5):  # several rounds: the race is real, so repeat it
        instance_id = api.start(PROTOCOL, {**START, "case_reference": f"RACE-{round_number}"})["id"]
        task_id = api.ready(instance_id)["id"]
        api.request("POST", f"/api/tasks/{task_id}/release")
        tokens = {name: api._token(name) for name in ("first.person", "second.person")}
        barrier = threading.Barrier(2)
        statuses = []

        def complete(name: str) -> None:
            with app.app_context():
                client = app.test_client()
                barrier.wait()
                response = client.post(f"/api/tasks/{task_id}/complete", json={"data": record("unresolved")},
                                       headers={"Authorization": f"Bearer {tokens[name]}"})
                statuses.append((response.status_code, response.get_json().get("error", "")))
                db.session.remove()

        threads = [threading.Thread(target=complete, args=(name,)) for name in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        codes = sorted(code for code, _ in statuses)
        assert codes == [200, 409], statuses
        history = api.instance(instance_id)["history"]
        assert [h["kind"] for h in history].count("task_completed") == 1
        assert [h["kind"] for h in history].count("escalated") == 1
        assert api.ready(instance_id)["name"] == "stage2_discussion"
        outcomes.append(next(message for code, message in statuses if code == 409))
    assert all("already completed" in m or "at the same moment" in m for m in outcomes), outcomes
