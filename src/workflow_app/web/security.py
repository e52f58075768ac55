"""Security headers on every response, request hardening (ids and page numbers in range, JSON errors under
/api/), and structured (JSON) logs when asked for."""
from __future__ import annotations

import json
import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from workflow_app.services.errors import InvalidInput, NotFound

# Ids are INTEGER columns (32 bits on PostgreSQL); a larger number in a path can name nothing.
MAX_ID = 2**31 - 1
# 50 a page: a million pages is 50 million escalations, and the offset stays far inside 64 bits.
MAX_PAGE = 1_000_000

# Scripts and styles come only from this site (bpmn-js, dmn-js and Chart.js are served from /static).
# bpmn-js and the properties panel set inline styles and load the diagram fonts as data: URLs.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
                           "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def add_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.is_secure or app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    harden_requests(app)


def harden_requests(app: Flask) -> None:
    """Numbers from the URL are checked before any query sees them, and every error under /api/ is JSON
    (routing errors such as 405 and 404 happen outside the API blueprint, so its handlers cannot see them)."""

    @app.before_request
    def numbers_in_range():  # runs after the sign-in check (registered after it)
        for name, value in (request.view_args or {}).items():
            if isinstance(value, int) and not 0 <= value <= MAX_ID:
                raise NotFound(f"There is no {name.removesuffix('_id').replace('_', ' ')} {value}")
        page = request.args.get("page") or ""
        # Digits only; other text is the filter's own error. Too long for int() ("9" * 5000) or non-ASCII
        # digits ("²") would raise in int() instead.
        if page.isdigit() and not (page.isascii() and len(page) <= 7 and int(page) <= MAX_PAGE):
            raise InvalidInput({"page": f"Page must be a whole number from 1 to {MAX_PAGE}"},
                               "Some filters are not valid")

    @app.errorhandler(HTTPException)
    def api_errors_are_json(exc: HTTPException):
        if not request.path.startswith("/api/") or exc.code is None:
            return exc  # pages keep their own error pages (ui.py handles 400, 404, 429, 500)
        response = jsonify({"error": exc.description or exc.name})
        response.status_code = exc.code
        for header, value in exc.get_headers():
            if header.lower() != "content-type":
                response.headers[header] = value  # e.g. Allow on a 405
        return response


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(app: Flask) -> None:
    if app.config.get("LOG_FORMAT") == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
