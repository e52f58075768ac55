"""Web layer: HTML pages (``ui``) and the JSON API (``api``). Talks to services, never to the engine."""
from __future__ import annotations

from flask import Flask

from workflow_app.extensions import csrf
from workflow_app.web import api, ui
from workflow_app.web.presenters import register_template_helpers


def register_web(app: Flask) -> None:
    app.register_blueprint(ui.bp)
    app.register_blueprint(api.bp, url_prefix="/api")
    csrf.exempt(api.bp)  # JSON clients send no cookies-with-forms; token auth arrives with the people issue
    register_template_helpers(app)
