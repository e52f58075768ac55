"""Configuration from environment variables (with defaults that run a fresh clone on SQLite)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _pairs(value: str | None) -> dict[str, str]:
    return dict(item.split("=", 1) for item in _csv(value) if "=" in item)


def _flag(value: str | None) -> bool | None:
    """"1"/"true"/"yes"/"on" -> True, "0"/"false"/"no"/"off" -> False, unset or empty -> None."""
    if value is None or not value.strip():
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def from_environment(instance_path: Path) -> dict:
    default_db = f"sqlite:///{instance_path / 'workflow_app.db'}"
    return {
        "SECRET_KEY": os.environ.get("WORKFLOW_SECRET_KEY") or _development_secret(instance_path),
        # Fernet keys for data encrypted at rest (persistence/encryption.py), comma-separated, newest first; unset:
        # a development key derived from SECRET_KEY (scripts/serve-production.sh refuses to start without it).
        "ENCRYPTION_KEYS": _csv(os.environ.get("WORKFLOW_ENCRYPTION_KEYS")),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", default_db),
        "BPMN_DIR": Path(os.environ.get("WORKFLOW_BPMN_DIR", PROJECT_ROOT / "bpmn")),
        "DMN_DIR": Path(os.environ.get("WORKFLOW_DMN_DIR", PROJECT_ROOT / "dmn")),
        # Seconds between timer sweeps in the served app (0 turns the background loop off).
        "TIMER_SWEEP_SECONDS": float(os.environ.get("WORKFLOW_TIMER_SWEEP_SECONDS", "30")),
        # Extra non-working days for every calendar, e.g. "2026-12-24,2026-12-31".
        "CALENDAR_CLOSURES": _csv(os.environ.get("WORKFLOW_CALENDAR_CLOSURES")),
        # Per-protocol holiday calendar instead of the diagram's, e.g. "partnership_escalation=GB-SCT".
        "CALENDAR_OVERRIDES": _pairs(os.environ.get("WORKFLOW_CALENDAR_OVERRIDES")),
        # Office hours for working-hour deadlines, e.g. "08:30-16:30" (default: the diagram's, else 09:00-17:00).
        "OFFICE_HOURS": os.environ.get("WORKFLOW_OFFICE_HOURS") or None,
        "LOGIN_RATE_LIMIT": os.environ.get("WORKFLOW_LOGIN_RATE_LIMIT", "10 per minute"),
        "RATELIMIT_STORAGE_URI": os.environ.get("WORKFLOW_RATELIMIT_STORAGE_URI", "memory://"),
        "SESSION_COOKIE_SECURE": os.environ.get("WORKFLOW_SECURE_COOKIES", "") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        # Outgoing mail (notifications): an SMTP server; a local debugging server is fine for development.
        "SMTP_HOST": os.environ.get("WORKFLOW_SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": int(os.environ.get("WORKFLOW_SMTP_PORT", "1025")),
        "SMTP_USERNAME": os.environ.get("WORKFLOW_SMTP_USERNAME") or None,
        "SMTP_PASSWORD": os.environ.get("WORKFLOW_SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": os.environ.get("WORKFLOW_SMTP_STARTTLS", "") == "1",
        "MAIL_FROM": os.environ.get("WORKFLOW_MAIL_FROM", "workflow-app@localhost"),
        # Webhooks (services/webhooks.py): addresses told of every protocol's escalation events, comma-separated,
        # and the key of the X-Workflow-Signature HMAC-SHA256 of each body (unset: sent unsigned).
        "WEBHOOK_URLS": _csv(os.environ.get("WORKFLOW_WEBHOOK_URLS")),
        "WEBHOOK_SECRET": os.environ.get("WORKFLOW_WEBHOOK_SECRET", ""),
        # Absolute address of this app, for links in e-mails.
        "BASE_URL": os.environ.get("WORKFLOW_BASE_URL", "http://127.0.0.1:5000"),
        # Size of the demo year made by `flask setup` (1.0: about 70 escalations); tests use less.
        "DEMO_SCALE": float(os.environ.get("WORKFLOW_DEMO_SCALE", "1.0")),
        # Days a single-use link for a professional without an account stays valid.
        "EXTERNAL_LINK_DAYS": int(os.environ.get("WORKFLOW_EXTERNAL_LINK_DAYS", "14")),
        # "json": one JSON object per log line (for log collectors); anything else: plain text.
        "LOG_FORMAT": os.environ.get("WORKFLOW_LOG_FORMAT", "text"),
        # Largest request body accepted (413 beyond it); diagram uploads are at most 2 MiB a file.
        "MAX_CONTENT_LENGTH": int(os.environ.get("WORKFLOW_MAX_REQUEST_BYTES", str(16 * 1024 * 1024))),
        # Heap (RLIMIT_DATA) of each process that creates the app: web workers and the timer worker. A runaway
        # allocation then fails with MemoryError (the sandbox reports it) instead of the kernel killing the
        # process or the machine. 0: no limit (the default; scripts/serve-production.sh sets 2048).
        "MEMORY_LIMIT_MB": int(os.environ.get("WORKFLOW_MEMORY_LIMIT_MB", "0")),
        # GET /metrics needs "Authorization: Bearer <this>" when set (Prometheus's bearer_token setting).
        "METRICS_TOKEN": os.environ.get("WORKFLOW_METRICS_TOKEN", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Check each pooled connection before use, so a database restart costs no failed request.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # Whether a timer/mail worker should be running (GET /api/health fails when its heartbeat is stale);
        # unset: on in `flask serve` with its sweep loop, off otherwise (scripts/serve-production.sh sets 1).
        "EXPECT_WORKER": _flag(os.environ.get("WORKFLOW_EXPECT_WORKER")),
        # Seconds after the newest worker heartbeat before health fails (unset: 5 x the worker's sweep interval).
        "HEALTH_STALE_SECONDS": float(os.environ.get("WORKFLOW_HEALTH_STALE_SECONDS") or 0) or None,
        # Health fails when e-mail due more than this many minutes ago is still waiting (with a worker expected).
        "HEALTH_MAIL_OVERDUE_MINUTES": float(os.environ.get("WORKFLOW_HEALTH_MAIL_OVERDUE_MINUTES") or 15),
    }


def _development_secret(instance_path: Path) -> str:
    """A per-installation random key kept in the instance folder, so sessions survive restarts."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    return key
