"""Security headers on pages and API responses, and JSON logs on request."""
from __future__ import annotations

import json
import logging

from conftest import PASSWORD


def test_pages_and_api_send_security_headers(app, api):
    client = app.test_client()
    page = client.get("/login")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP in development
    response = api.client.get("/api/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "onclick=" not in client.get("/login").get_data(as_text=True)


def test_hsts_behind_tls(app_factory, clock):
    app = app_factory(SESSION_COOKIE_SECURE=True)
    with app.app_context():
        response = app.test_client().get("/login", base_url="https://workflow.example")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_inline_script_handlers_in_pages(app, api):
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    for path in ("/inbox", "/instances", "/protocols", "/reports", "/deployments"):
        body = client.get(path).get_data(as_text=True)
        assert "onchange=" not in body and "onclick=" not in body, path


def test_json_log_lines(app_factory, clock, capsys):
    app = app_factory(LOG_FORMAT="json")
    from workflow_app.web.security import configure_logging
    configure_logging(app)
    logging.getLogger("workflow_app.test").warning("timer sweep fired %s", 3)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["message"] == "timer sweep fired 3" and entry["logger"] == "workflow_app.test"
    logging.getLogger().handlers.clear()
