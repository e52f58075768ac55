"""Web layer: sign-in (``auth``), HTML pages (``ui``), administration (``admin``) and the JSON API (``api``).
Talks to services, never to the engine."""
from __future__ import annotations

from flask import Flask

from workflow_app.extensions import csrf
from workflow_app.web import admin, api, auth, governance, metrics, operations, owners, policy, respond, security, ui
from workflow_app.web.presenters import register_template_helpers


def register_web(app: Flask) -> None:
    app.register_blueprint(auth.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(respond.bp)
    app.register_blueprint(owners.bp)
    app.register_blueprint(governance.bp)
    app.register_blueprint(policy.bp)
    app.register_blueprint(operations.bp)  # operators: delivery log, move back
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(api.bp, url_prefix="/api")
    csrf.exempt(api.bp)  # bearer-token clients; cookies are not accepted by the API
    app.register_blueprint(metrics.bp)
    metrics.instrument(app)  # before the sign-in check, so refused requests are counted too
    app.before_request(auth.require_sign_in)
    register_template_helpers(app)
    security.add_security_headers(app)
    security.configure_logging(app)
