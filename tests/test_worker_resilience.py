"""A worker that survives (issue 13, findings 1 and 10).

The timer/mail worker outlives database and SMTP errors (logged, retried with back-off 1 s doubling to 60 s),
records a heartbeat in the database, and ``GET /api/health`` fails (503, JSON) when that heartbeat is stale or
mail is backing up. The engine pings pooled connections, so a database restart costs no failed request. Time is
moved with time-machine; back-off waits are asserted as numbers, not slept.
"""
from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool

from conftest import TEST_ENCRYPTION_KEY, Api, london
from test_notifications import smtp, smtp_port  # noqa: F401  (fixtures: a real SMTP server on loopback)
from test_partnership_escalation import people, start  # noqa: F401  (people: a fixture)
from test_timers import assert_stage1_deadline_passed_without_escalating, breaches
from workflow_app import clock as app_clock
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage, ProcessInstance, WorkerHeartbeat
from workflow_app.services import heartbeat, notifications, timers

ROOT = Path(__file__).resolve().parents[1]


def db_error(kind=OperationalError):
    """What psycopg raises through SQLAlchemy when PostgreSQL restarts under a query."""
    return kind("SELECT instances.id FROM instances", {}, Exception("server closed the connection unexpectedly"))


def failing_first(monkeypatch, module, name: str, times: int = 1, error=None):
    """Make ``module.name`` raise ``error`` on its first ``times`` calls, then behave as before."""
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise (error or db_error())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def queue_mail(to: str = "pat@agency.test", due_minutes_ago: float = 0) -> int:
    now = app_clock.now()
    message = OutboxMessage(kind="notification", recipient_email=to, subject="Stage 1 deadline", body="Due.",
                            status="pending", attempts=0, next_attempt_at=now - timedelta(minutes=due_minutes_ago),
                            created_at=now - timedelta(minutes=due_minutes_ago))
    db.session.add(message)
    db.session.commit()
    return message.id


@pytest.fixture
def ctx(app):
    """The test app with its application context pushed (for tests that use the database directly)."""
    with app.app_context():
        yield app


def health(app) -> tuple[int, dict]:
    response = app.test_client().get("/api/health")
    assert response.is_json, response.data[:200]
    return response.status_code, response.get_json()


# -- the loop survives ------------------------------------------------------------------------------------

def test_worker_command_survives_a_database_error_and_fires_on_the_next_round(app, api, people, clock, monkeypatch):
    instance_id = start(api)
    clock.move_to(london(2026, 12, 3, 10, 0))
    monkeypatch.setattr(timers, "BACKOFF_FIRST", 0.0)  # the back-off's length is asserted below, not slept
    calls = failing_first(monkeypatch, timers, "run_once")
    result = app.test_cli_runner().invoke(args=["timers", "worker", "--interval", "0", "--max-sweeps", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert calls["n"] == 2
    assert "worker round failed (timer sweep: OperationalError" in result.output
    assert "fired timers on 1 instance(s)" in result.output
    assert "worker recovered after 1 failed round(s)" in result.output
    assert "timer worker: stopped" in result.output
    assert_stage1_deadline_passed_without_escalating(api, instance_id)


@pytest.mark.parametrize("kind", [OperationalError, InterfaceError, DBAPIError])
def test_backoff_doubles_to_a_minute_and_resets_after_a_good_round(app, clock, monkeypatch, kind):
    worker = timers.Worker(app, interval=30)
    failing = {"on": True}
    real = timers.run_once

    def run_once(limit=500):
        if failing["on"]:
            raise db_error(kind)
        return real(limit)

    monkeypatch.setattr(timers, "run_once", run_once)
    delays = [worker.run_round() for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    failing["on"] = False
    assert worker.run_round() == 30 and worker.failures == 0
    failing["on"] = True
    assert worker.run_round() == 1


def test_smtp_failure_does_not_stop_the_worker_and_the_mail_goes_on_the_next_round(ctx, clock, smtp, smtp_port,
                                                                                    monkeypatch):
    app = ctx
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port)
    message_id = queue_mail()
    monkeypatch.setattr(timers, "BACKOFF_FIRST", 0.0)
    failing_first(monkeypatch, notifications, "deliver_pending",
                  error=smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))
    result = app.test_cli_runner().invoke(args=["timers", "worker", "--interval", "0", "--max-sweeps", "2"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "mail delivery: SMTPServerDisconnected" in result.output and "mail: sent 1" in result.output
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message_id).status == "sent"
    assert [m.rcpt_tos for m in smtp.messages] == [["pat@agency.test"]]


def test_a_failing_mail_step_does_not_stop_the_timer_sweep(app, api, people, clock, monkeypatch):
    instance_id = start(api)
    clock.move_to(london(2026, 12, 3, 10, 0))
    failing_first(monkeypatch, notifications, "deliver_pending", times=99, error=db_error())
    worker = timers.Worker(app, interval=30)
    assert worker.run_round() == 1  # the round failed, so the next comes after the back-off ...
    db.session.expire_all()
    assert breaches(db.session.get(ProcessInstance, instance_id).history)  # ... but the deadline fired
    beat = db.session.scalar(select(WorkerHeartbeat))
    assert beat.last_sweep_at == app_clock.now() and beat.last_error.startswith("mail delivery: OperationalError")


def test_served_background_loop_survives_a_database_error(app, api, people, clock, monkeypatch):
    instance_id = start(api)
    clock.move_to(london(2026, 12, 4, 9, 0))
    monkeypatch.setattr(timers, "BACKOFF_FIRST", 0.01)
    calls = failing_first(monkeypatch, timers, "run_once", times=2)
    thread = timers.start_background_loop(app, 0.01)
    try:
        for _ in range(500):  # poll up to ~5 s of real time for the thread; normally a few rounds suffice
            db.session.expire_all()
            if breaches(db.session.get(ProcessInstance, instance_id).history):
                break
            time.sleep(0.01)
    finally:
        thread.stop.set()
        thread.join(timeout=5)
    assert calls["n"] >= 3 and thread.worker.failures == 0
    db.session.expire_all()
    assert_stage1_deadline_passed_without_escalating(api, instance_id)
    assert app.config["EXPECT_WORKER"] is True  # `flask serve` expects its loop to be sweeping


# -- heartbeat and health ---------------------------------------------------------------------------------

def test_each_round_writes_a_heartbeat_with_the_last_error(ctx, clock, monkeypatch):
    app = ctx
    worker = timers.Worker(app, interval=10, name="host-a:123")
    worker.run_round()
    beat = db.session.scalar(select(WorkerHeartbeat))
    assert (beat.name, beat.interval_seconds, beat.last_sweep_at, beat.last_error) == \
        ("host-a:123", 10.0, app_clock.now(), None)
    swept_at = beat.last_sweep_at
    clock.shift(seconds=10)
    failing_first(monkeypatch, timers, "run_once")
    worker.run_round()
    db.session.expire_all()
    beat = db.session.scalar(select(WorkerHeartbeat))
    assert beat.last_sweep_at == swept_at  # the sweep did not happen ...
    assert beat.last_error.startswith("timer sweep: OperationalError") and beat.last_error_at == app_clock.now()
    clock.shift(seconds=1)
    worker.run_round()
    db.session.expire_all()
    assert db.session.scalar(select(WorkerHeartbeat)).last_sweep_at == app_clock.now()  # ... the next one did
    assert heartbeat.worker_name().endswith(f":{os.getpid()}")


def test_health_fails_when_the_worker_stops_sweeping(app_factory, clock):
    app = app_factory(EXPECT_WORKER=True)
    with app.app_context():
        status, body = health(app)
        assert status == 503 and body["problems"] == ["no timer/mail worker has reported a sweep"]
        timers.Worker(app, interval=10, name="host-a:1").run_round()
        status, body = health(app)
        assert status == 200 and body["status"] == "ok"
        assert body["worker"]["last_sweep_at"] == app_clock.now().isoformat()
        assert body["worker"]["last_sweep_by"] == "host-a:1" and body["worker"]["stale_after_seconds"] == 50
        assert body["mail"] == {"pending": 0, "overdue": 0, "overdue_after_minutes": 15}
        clock.shift(seconds=50)
        assert health(app)[0] == 200
        clock.shift(seconds=1)
        status, body = health(app)
        assert status == 503 and body["status"] == "failing"
        assert body["problems"] == ["the last timer sweep finished 51 s ago (more than 50 s)"]
        timers.Worker(app, interval=10, name="host-b:2").run_round()  # another worker (or a restarted one)
        status, body = health(app)
        assert status == 200 and body["worker"]["last_sweep_by"] == "host-b:2"


def test_health_threshold_is_configurable(app_factory, clock):
    app = app_factory(EXPECT_WORKER=True, HEALTH_STALE_SECONDS=300)
    with app.app_context():
        timers.Worker(app, interval=10).run_round()
        clock.shift(seconds=299)
        assert health(app)[0] == 200
        clock.shift(seconds=2)
        assert health(app)[0] == 503


def test_health_fails_when_mail_backs_up(app_factory, clock, smtp, smtp_port):
    app = app_factory(EXPECT_WORKER=True, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port)
    with app.app_context():
        worker = timers.Worker(app, interval=30)
        worker.run_round()
        queue_mail(due_minutes_ago=14)
        status, body = health(app)
        assert status == 200 and body["mail"]["pending"] == 1 and body["mail"]["overdue"] == 0
        queue_mail(due_minutes_ago=16)
        status, body = health(app)
        assert status == 503 and body["mail"]["pending"] == 2 and body["mail"]["overdue"] == 1
        assert body["problems"] == ["1 e-mail(s) due more than 15 minutes ago are still waiting"]
        worker.run_round()  # the worker catches up
        status, body = health(app)
        assert status == 200 and body["mail"]["pending"] == 0 and len(smtp.messages) == 2


def test_health_without_an_expected_worker_reports_but_does_not_fail(ctx, clock):
    app = ctx
    queue_mail(due_minutes_ago=60)
    status, body = health(app)
    assert status == 200 and body["worker"]["expected"] is False and body["worker"]["last_sweep_at"] is None
    assert body["mail"]["overdue"] == 1


def test_health_is_503_json_when_the_database_is_down(app, clock, monkeypatch):
    def down():
        raise db_error()

    monkeypatch.setattr(heartbeat, "health_report", down)
    status, body = health(app)
    assert status == 503 and body == {"status": "failing", "problems": ["the database is unavailable"]}


def test_worker_expected_setting_from_the_environment(monkeypatch, tmp_path):
    from workflow_app.config import from_environment
    monkeypatch.delenv("WORKFLOW_EXPECT_WORKER", raising=False)
    assert from_environment(tmp_path)["EXPECT_WORKER"] is None
    monkeypatch.setenv("WORKFLOW_EXPECT_WORKER", "1")
    monkeypatch.setenv("WORKFLOW_HEALTH_STALE_SECONDS", "120")
    settings = from_environment(tmp_path)
    assert settings["EXPECT_WORKER"] is True and settings["HEALTH_STALE_SECONDS"] == 120
    monkeypatch.setenv("WORKFLOW_EXPECT_WORKER", "0")
    assert from_environment(tmp_path)["EXPECT_WORKER"] is False


# -- finding 10: pool pre-ping ------------------------------------------------------------------------------

def test_a_database_restart_costs_no_failed_request(app, api):
    """Every pooled connection is killed (as a PostgreSQL restart does); the next requests all succeed."""
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    assert db.engine.pool._pre_ping is True
    if db.engine.dialect.name != "postgresql":
        pytest.skip("killing server connections needs PostgreSQL")
    for _ in range(3):
        api.request("GET", "/api/protocols")
    db.session.remove()
    killer = create_engine(db.engine.url, poolclass=NullPool)
    with killer.begin() as connection:
        killed = connection.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    killer.dispose()
    assert killed >= 1
    for _ in range(5):
        api.request("GET", "/api/protocols")  # each must be 200: not even the first request fails


# -- fault test: a real PostgreSQL restart under a running worker -------------------------------------------

def _cluster_for(port: int) -> tuple[str, str] | None:
    """(version, name) of the local PostgreSQL cluster listening on ``port``, from pg_lsclusters."""
    try:
        lines = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, timeout=10,
                               check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[2] == str(port):
            return fields[0], fields[1]
    return None


def postgres_cluster_or_skip():
    """(database URL, local cluster) of the PostgreSQL the suite runs on; skips the test when it cannot be
    restarted from here (SQLite, a remote server, no pg_ctlcluster)."""
    from sqlalchemy.engine import make_url
    url = make_url(os.environ.get("TEST_DATABASE_URL") or "sqlite://")
    if url.get_backend_name() != "postgresql":
        pytest.skip("the fault test restarts PostgreSQL")
    if url.host not in ("127.0.0.1", "localhost"):
        pytest.skip("PostgreSQL is not on this machine")
    cluster = _cluster_for(url.port or 5432)
    if cluster is None:
        pytest.skip("no pg_ctlcluster cluster on this port")
    return url, cluster


def _pg_ctl(cluster: tuple[str, str], action: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster[0], cluster[1], action],
                   capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.fault
@pytest.mark.slow
def test_worker_survives_a_postgresql_restart_and_sends_the_mail(app_factory, smtp, smtp_port):
    """``flask timers worker`` as a subprocess; PostgreSQL stops and starts under it; health reports the outage
    while it lasts; mail queued during the outage is sent within 60 s of recovery, by the same worker."""
    url, cluster = postgres_cluster_or_skip()
    app = app_factory(deploy=False)
    context = app.app_context()
    context.push()
    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False), "WORKFLOW_SECRET_KEY": "t",
           "WORKFLOW_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
           "WORKFLOW_SMTP_HOST": "127.0.0.1", "WORKFLOW_SMTP_PORT": str(smtp_port), "PYTHONUNBUFFERED": "1"}
    log_path = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"fault-worker-{os.getpid()}.log"
    with open(log_path, "w") as log_file:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "workflow_app", "timers", "worker",
                                   "--interval", "0.5"], cwd=ROOT, env=env, stdout=log_file,
                                  stderr=subprocess.STDOUT)
    stopped = False
    try:
        db.session.remove()
        _pg_ctl(cluster, "stop")
        stopped = True
        app.config["EXPECT_WORKER"] = True
        status, body = health(app)  # during the outage: 503, JSON
        assert status == 503 and body["problems"] == ["the database is unavailable"]
        time.sleep(2)  # let the worker fail a few rounds against the stopped server (real outage, real process)
        assert worker.poll() is None, log_path.read_text()[-3000:]
        _pg_ctl(cluster, "start")
        stopped = False
        recovered = time.monotonic()
        message_id = queue_mail("after.restart@agency.test")
        while time.monotonic() - recovered < 60 and not smtp.messages:
            time.sleep(0.2)  # waiting for a subprocess, not timing behaviour
        assert worker.poll() is None, log_path.read_text()[-3000:]
        assert [m.rcpt_tos for m in smtp.messages] == [["after.restart@agency.test"]], log_path.read_text()[-3000:]
        # The worker marks the message sent in its own commit just after the SMTP server accepted it.
        while db.session.get(OutboxMessage, message_id).status != "sent" and time.monotonic() - recovered < 60:
            db.session.rollback()
            time.sleep(0.1)  # waiting for a subprocess, not timing behaviour
        db.session.expire_all()
        assert db.session.get(OutboxMessage, message_id).status == "sent"
        # The worker says it recovered once the round that sent the mail is over, just after that commit.
        while "worker recovered after" not in log_path.read_text() and time.monotonic() - recovered < 60:
            time.sleep(0.1)  # waiting for a subprocess, not timing behaviour
        output = log_path.read_text()
        assert "worker round failed" in output and "worker recovered after" in output, output[-3000:]
    finally:
        if stopped:
            _pg_ctl(cluster, "start")
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log_path.unlink(missing_ok=True)
        db.session.remove()
        context.pop()



# -- the production script restarts a worker that dies ----------------------------------------------------

@pytest.mark.slow
def test_production_script_restarts_a_worker_killed_with_sigkill(app_factory, tmp_path):
    """``scripts/serve-production.sh worker`` (the Procfile's worker): kill -9 the worker, a new one sweeps."""
    import signal

    app = app_factory(deploy=False)
    with app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
        db.session.remove()
    env = {**os.environ, "DATABASE_URL": url, "WORKFLOW_SECRET_KEY": "t",
           "WORKFLOW_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY, "SWEEP_SECONDS": "0.2",
           "WORKER_RESTART_SECONDS": "0.1", "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "supervisor.log"
    with open(log_path, "w") as log_file:
        supervisor = subprocess.Popen(["bash", str(ROOT / "scripts" / "serve-production.sh"), "worker"], cwd=ROOT,
                                      env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def worker_pids() -> set[int]:
        with app.app_context():
            names = set(db.session.scalars(select(WorkerHeartbeat.name)
                                           .where(WorkerHeartbeat.last_sweep_at.is_not(None))))
            db.session.remove()
        return {int(name.rsplit(":", 1)[1]) for name in names}

    def wait_for(condition, what: str):
        deadline = time.monotonic() + 60
        while not condition():
            assert supervisor.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{what}\n{log_path.read_text()[-3000:]}"
            time.sleep(0.1)  # waiting for subprocesses, not timing behaviour

    try:
        wait_for(lambda: len(worker_pids()) == 1, "the first worker never swept")
        (first,) = worker_pids()
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(worker_pids()) == 2, "no worker was started after kill -9")
        (second,) = worker_pids() - {first}
        assert "timer worker exited (status 137); restarting" in log_path.read_text()
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(second, 0)  # the supervised worker stopped with it
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(timeout=10)
