"""``GET /metrics`` in Prometheus's text format (prometheus-client), and the request counters behind it.

Requests are counted by route (the URL rule, never the raw path, so ids do not explode the series), method and
status, with their latency. Everything else is read from the database at scrape time (services/metrics.py).
``WORKFLOW_METRICS_TOKEN``, when set, must be sent as ``Authorization: Bearer <token>``; the figures are counts
only (no personal data), but keep the endpoint behind the same network rules as the rest of monitoring.
"""
from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from workflow_app.services import metrics as figures_service

bp = Blueprint("metrics", __name__)

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("workflow_http_requests", "HTTP requests answered", ["route", "method", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("workflow_http_request_duration_seconds", "Time to answer an HTTP request", ["route", "method"],
                    registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


class _DatabaseFigures:
    """Gauges read from the database at each scrape (the same in every process)."""

    def collect(self):
        figures = figures_service.current()
        escalations = GaugeMetricFamily("workflow_escalations", "Escalations by protocol and status",
                                        labels=["protocol", "status"])
        for (protocol, status), count in sorted(figures.escalations.items()):
            escalations.add_metric([protocol, status], count)
        yield escalations
        for name, doc, values in (("workflow_open_tasks", "Tasks waiting for a person", figures.open_tasks),
                                  ("workflow_overdue_tasks", "Tasks waiting past their deadline",
                                   figures.overdue_tasks)):
            family = GaugeMetricFamily(name, doc, labels=["protocol"])
            for protocol, count in sorted(values.items()):
                family.add_metric([protocol], count)
            yield family
        yield GaugeMetricFamily("workflow_timer_sweep_lag_seconds",
                                "How long the most overdue timer has waited to fire", value=figures.sweep_lag_seconds)
        if figures.last_sweep_age_seconds is not None:
            yield GaugeMetricFamily("workflow_worker_last_sweep_age_seconds",
                                    "Seconds since a worker last finished a sweep", value=figures.last_sweep_age_seconds)
        for name, doc, values in (("workflow_outbox_backlog", "Messages waiting to be sent, by channel",
                                   figures.outbox_backlog),
                                  ("workflow_outbox_failed", "Messages given up on, by channel", figures.outbox_failed)):
            family = GaugeMetricFamily(name, doc, labels=["channel"])
            for channel, count in sorted(values.items()):
                family.add_metric([channel], count)
            yield family


def _registry() -> CollectorRegistry:
    """This process's registry, or under gunicorn (PROMETHEUS_MULTIPROC_DIR) one summing every worker's files."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


@bp.get("/metrics")
def metrics():
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            abort(401)
    registry = _registry()
    database = CollectorRegistry()
    database.register(_DatabaseFigures())
    body = generate_latest(registry) + generate_latest(database)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def instrument(app: Flask) -> None:
    """Count every request by route, method and status, with its latency."""

    @app.before_request
    def start_timer():
        g._metrics_started = time.perf_counter()

    @app.after_request
    def count(response):
        started = g.pop("_metrics_started", None)
        if started is not None and request.endpoint != "metrics.metrics":
            route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
            REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            LATENCY.labels(route, request.method).observe(time.perf_counter() - started)
        return response
