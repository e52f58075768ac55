"""Signed webhooks through the durable outbox, received by a real HTTP server on loopback: each escalation
milestone arrives once per event id with a valid HMAC signature; a receiver outage delays but loses nothing;
a protocol can name its own receivers in the diagram."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import Api, london, make_chain
from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL, complete, other, raising, ready, start
from workflow_app.config import PROJECT_ROOT
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, OutboxMessage
from workflow_app.services import notifications

SECRET = "s3cret-shared-with-the-receiver"
ALL_EVENTS = {"escalation_started", "task_created", "task_completed", "deadline_breached", "escalated",
              "escalation_ended"}


class Receiver:
    """An HTTP endpoint on loopback that keeps every POST (headers, raw body); ``down`` answers 503."""

    def __init__(self):
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    receiver.refused += 1
                    self.send_response(503)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/escalations"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()

    def events(self) -> list[dict]:
        """The JSON bodies received, each checked against its signature and event-id header."""
        out = []
        for headers, body in self.received:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Workflow-Signature"], expected)
            event = json.loads(body)
            assert headers["X-Workflow-Event-Id"] == event["id"]
            out.append(event)
        return out


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def make_app(app_factory, **config):
    app = app_factory(WEBHOOK_SECRET=SECRET, **config)
    with app.app_context():
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
    return app


@pytest.fixture
def hook_app(app_factory, clock, receiver):
    app = make_app(app_factory, WEBHOOK_URLS=(receiver.url,))
    with app.app_context():
        yield app


@pytest.fixture
def api(hook_app):
    return Api(hook_app.test_client())


def walk_through_every_milestone(api, clock) -> int:
    """Raise, complete Stage 1 'unresolved', let the other side's deadline pass (breach, escalation to Stage 2),
    then both sides resolve Stage 2: every kind of event happens once or more."""
    instance_id = start(api)
    complete(api, ready(api, instance_id)["stage1_discussion"], raising("unresolved"))
    clock.move_to(london(2026, 12, 3, 9, 1))
    api.sweep()
    tasks = ready(api, instance_id)
    complete(api, tasks["stage2_acknowledge"], other("resolved"))
    assert complete(api, tasks["stage2_discussion"], raising("resolved"))["status"] == "resolved"
    return instance_id


def webhook_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.kind == "webhook")))


def delivery_log(instance_id: int) -> list[HistoryEntry]:
    return list(db.session.scalars(db.select(HistoryEntry).where(
        HistoryEntry.instance_id == instance_id, HistoryEntry.kind.in_(("webhook_delivered", "webhook_failed")))))


def test_every_milestone_reaches_the_receiver_signed_and_in_order(api, clock, receiver):
    instance_id = walk_through_every_milestone(api, clock)
    assert receiver.received == []  # queued in the state change's transaction, sent by the worker
    notifications.deliver_pending()

    events = receiver.events()
    assert {e["event"] for e in events} == ALL_EVENTS
    assert len({e["id"] for e in events}) == len(events) == len(webhook_rows())
    assert all(e["escalation"]["id"] == instance_id and e["escalation"]["case_reference"] == "CASE-42"
               for e in events)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "escalation_started" and kinds[-1] == "escalation_ended"
    assert kinds.index("deadline_breached") < kinds.index("escalated")
    assert events[-1]["data"] == {"status": "resolved", "reason": "Disagreement resolved"}
    assert events[-1]["escalation"]["status"] == "resolved"
    created = [e["data"] for e in events if e["event"] == "task_created"]
    assert {(t["element_id"], t["assigned_to"]) for t in created} >= {
        ("stage1_discussion", "sam.patel"), ("stage1_acknowledge", "jo.reed"),
        ("stage2_discussion", "mia.lm"), ("stage2_acknowledge", "max.lm")}
    done = [(e["data"]["element_id"], e["data"]["completed_by"]) for e in events if e["event"] == "task_completed"]
    assert done[0] == ("stage1_discussion", "sam.patel")
    escalated = next(e["data"] for e in events if e["event"] == "escalated")
    assert escalated["stage"] == 2
    # Form answers stay in the app: no task's answers travel in the event.
    assert "Two calls and a meeting held" not in json.dumps(events)

    # The delivery log on the escalation's timeline, one entry per delivered event.
    log = delivery_log(instance_id)
    assert sorted(h.data["event_id"] for h in log) == sorted(e["id"] for e in events)
    assert {h.kind for h in log} == {"webhook_delivered"}
    assert "webhook_delivered" in api.kinds(instance_id)


def test_an_outage_of_the_receiver_delays_but_loses_nothing(api, clock, receiver):
    receiver.down = True
    instance_id = walk_through_every_milestone(api, clock)
    queued = len(webhook_rows())
    result = notifications.deliver_pending()
    assert receiver.refused == queued and receiver.received == []
    assert set(result.retrying) >= {row.id for row in webhook_rows()}
    assert all(row.status == "pending" and row.attempts == 1 and "503" in row.last_error for row in webhook_rows())

    notifications.deliver_pending()  # the backoff has not passed: nothing is tried again yet
    assert receiver.refused == queued

    receiver.down = False
    clock.shift(seconds=31)  # past the first retry delay
    notifications.deliver_pending()
    events = receiver.events()
    assert {e["event"] for e in events} == ALL_EVENTS
    assert len(events) == queued and len({e["id"] for e in events}) == queued  # none lost, each once
    assert all(row.status == "sent" and row.attempts == 2 for row in webhook_rows())
    assert [h.data["attempts"] for h in delivery_log(instance_id)] == [2] * queued

    clock.shift(hours=2)
    notifications.deliver_pending()  # delivered rows are never sent again
    assert len(receiver.received) == queued


def test_a_receiver_that_never_recovers_is_given_up_and_logged(api, clock, receiver):
    receiver.stop()  # nothing listens on the address any more: connection refused
    instance_id = start(api)
    for _ in range(notifications.MAX_ATTEMPTS):
        notifications.deliver_pending()
        clock.shift(hours=2)
    rows = webhook_rows()
    assert rows and all(row.status == "failed" for row in rows)
    failed = delivery_log(instance_id)
    assert {h.kind for h in failed} == {"webhook_failed"} and len(failed) == len(rows)
    assert all(h.data["url"] == receiver.url and "Connection refused" in h.data["error"] for h in failed)


def test_without_receivers_nothing_is_queued(app_factory, clock):
    app = make_app(app_factory)
    api = Api(app.test_client())
    with app.app_context():
        instance_id = start(api)
        assert webhook_rows() == []
        assert "webhook_failed" not in api.kinds(instance_id)


def test_a_protocol_names_its_own_receivers_in_the_diagram(app_factory, clock, receiver, tmp_path):
    source = (PROJECT_ROOT / "bpmn" / "partnership_escalation.bpmn").read_text()
    anchor = '<camunda:property name="calendar" value="GB-ENG" />'
    assert anchor in source
    diagrams = Path(tmp_path / "bpmn")
    diagrams.mkdir()
    (diagrams / "partnership_escalation.bpmn").write_text(source.replace(
        anchor, f'{anchor}<camunda:property name="webhook_urls" value="{receiver.url}, ftp://not-a-web-address" />'))
    app = make_app(app_factory, BPMN_DIR=diagrams)
    api = Api(app.test_client())
    with app.app_context():
        instance_id = start(api)
        notifications.deliver_pending()
        kinds = [e["event"] for e in receiver.events()]
        assert kinds[0] == "escalation_started" and "task_created" in kinds
        # An address that is not a web address is refused in plain words on the timeline, not sent.
        refused = [h.data for h in delivery_log(instance_id) if h.kind == "webhook_failed"]
        assert refused and all(r["url"] == "ftp://not-a-web-address"
                               and r["error"] == "the address must start with http:// or https://" for r in refused)
