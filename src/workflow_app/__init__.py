"""workflow_app: inter-agency escalation protocols run as executable BPMN.

``create_app`` is the Flask app factory (``flask --app workflow_app ...`` finds it).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from workflow_app.config import PROJECT_ROOT, from_environment
from workflow_app.extensions import csrf, db, limiter, login_manager, migrate

MIGRATIONS_DIR = Path(__file__).parent / "persistence" / "migrations"


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                instance_path=str(PROJECT_ROOT / "instance"), instance_relative_config=True)
    app.config.from_mapping(from_environment(Path(app.instance_path)))
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    limit_memory(app.config.get("MEMORY_LIMIT_MB") or 0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SpiffWorkflow logs every task state change at INFO: far too much for an application log.
    for name in ("spiff", "spiff.task", "spiff.workflow", "spiff.metrics"):
        logging.getLogger(name).setLevel(logging.WARNING)

    db.init_app(app)
    from workflow_app.persistence import encryption
    encryption.init_app(app)  # a malformed key stops the start, in plain words, not the first database read
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)

    from workflow_app.web import register_web
    register_web(app)
    from workflow_app.cli import register_cli
    register_cli(app)
    return app


def limit_memory(megabytes: int) -> None:
    """Ask the operating system to refuse this process more than ``megabytes`` of heap (never raises a limit)."""
    if megabytes <= 0:
        return
    import resource
    wanted = megabytes * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY or wanted < soft:
        resource.setrlimit(resource.RLIMIT_DATA, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys, wait for the single writer instead of failing at once, and write through
    a write-ahead log (readers do not block the writer; a commit appends to the log instead of rewriting pages).
    ``synchronous`` stays FULL unless WORKFLOW_SQLITE_SYNCHRONOUS says otherwise: with FULL a committed
    change survives a power cut; NORMAL is faster but may lose the last commits then (README, Design notes)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={_sqlite_synchronous()}")
        cursor.close()


def _sqlite_synchronous() -> str:
    value = os.environ.get("WORKFLOW_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
    return value if value in ("FULL", "NORMAL", "EXTRA") else "FULL"
