"""Issue 16: GET /metrics in Prometheus's format, parsed with prometheus-client's own parser."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from conftest import london
from test_partnership_escalation import people, start  # noqa: F401  (people: a fixture)
from test_worker_resilience import queue_mail
from workflow_app.extensions import db


def scrape(app, **headers) -> dict[tuple[str, tuple], float]:
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_metrics_show_escalations_tasks_overdue_timers_outbox_and_requests(app, api, people, clock):
    first, second = start(api), start(api)
    api.client.get("/api/instances/999999", headers={"Authorization": "Bearer nonsense"})  # a refused request
    queue_mail("waiting@agency.test")
    db.session.commit()
    clock.move_to(london(2026, 12, 3, 10, 0))  # both Stage 1 deadlines (3 Dec 09:00) passed, no sweep yet

    series = scrape(app)
    protocol = (("protocol", "partnership_escalation"),)
    assert series[("workflow_escalations", (("protocol", "partnership_escalation"), ("status", "running")))] == 2
    assert series[("workflow_open_tasks", protocol)] == 4  # both sides of Stage 1, twice
    assert series[("workflow_overdue_tasks", protocol)] == 4
    assert series[("workflow_timer_sweep_lag_seconds", ())] == 3600  # due 09:00, now 10:00
    assert series[("workflow_outbox_backlog", (("channel", "notification"),))] >= 1
    started = ("workflow_http_requests_total",
               (("method", "POST"), ("route", "/api/instances"), ("status", "201")))
    assert series[started] >= 2
    assert series[("workflow_http_requests_total",
                   (("method", "GET"), ("route", "/api/instances/<int:instance_id>"), ("status", "401")))] >= 1
    assert any(name == "workflow_http_request_duration_seconds_count" for name, _labels in series)

    api.sweep()  # the worker catches up: nothing left to fire
    assert scrape(app)[("workflow_timer_sweep_lag_seconds", ())] == 0
    assert first != second


def test_deliveries_given_up_on_are_counted_by_channel(app, clock):
    from workflow_app.persistence.models import OutboxMessage
    from workflow_app.services import notifications
    with app.app_context():
        message_id = queue_mail("gone@agency.test")
        db.session.get(OutboxMessage, message_id).attempts = notifications.MAX_ATTEMPTS - 1  # its last try is next
        db.session.commit()
        assert scrape(app).get(("workflow_outbox_failed", (("channel", "notification"),)), 0) == 0
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there: the send is refused
        assert notifications.deliver_pending().failed == [message_id]
        assert scrape(app)[("workflow_outbox_failed", (("channel", "notification"),))] == 1


def test_a_metrics_token_when_configured_is_required(app_factory, clock):
    app = app_factory(deploy=False, METRICS_TOKEN="s3cret")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200
