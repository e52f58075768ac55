"""Issue 13 acceptance: PostgreSQL restarts and the worker is killed with SIGKILL, twice, while many timers are
due and many mails are queued. With no manual step, within 60 s of the database coming back, every due timer
has fired exactly once and every queued mail has been sent; health reports the outage while it lasts.

The worker runs as production runs it (``scripts/serve-production.sh worker``: supervised, restarted when it
dies). The escalations are started in the past (time-machine in this process), so their deadlines are due by
the real clock the worker reads.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from conftest import TEST_ENCRYPTION_KEY, Api, make_chain, make_user
from test_notifications import smtp, smtp_port  # noqa: F401  (fixtures: a real SMTP server on loopback)
from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL, START, STRATEGIC_LEAD
from test_worker_resilience import _pg_ctl, health, postgres_cluster_or_skip, queue_mail
from workflow_app import clock as app_clock
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, OutboxMessage, ProcessInstance

ROOT = Path(__file__).resolve().parents[1]
ESCALATIONS = 40
QUEUED_MAILS = 200
RECOVERY_SECONDS = 60


def _load(app) -> list[int]:
    """Escalations raised a week ago (their Stage 1 deadlines are long past) and a backlog of mail."""
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)
    make_user(STRATEGIC_LEAD, roles=["Partnership Business Office"], email="strategic.lead@example.org")
    api = Api(app.test_client())
    with time_machine.travel(app_clock.now() - timedelta(days=7), tick=False):
        ids = [api.as_user("sam.patel").start("partnership_escalation", {**START, "case_reference": f"LOAD-{n}"})["id"]
               for n in range(ESCALATIONS)]
    for n in range(QUEUED_MAILS):
        queue_mail(f"reader{n}@agency.test")
    db.session.commit()
    return ids


def _worker_pids(supervisor: subprocess.Popen) -> list[int]:
    found = subprocess.run(["pgrep", "-f", "-s", str(supervisor.pid), "timers worker"], capture_output=True,
                           text=True).stdout.split()
    return [int(pid) for pid in found]


def _kill_worker(supervisor: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while not (pids := _worker_pids(supervisor)):
        assert time.monotonic() < deadline, f"no worker running\n{log_path.read_text()[-3000:]}"
        time.sleep(0.1)  # waiting for a subprocess, not timing behaviour
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


def _outstanding(ids: list[int], since) -> tuple[int, int]:
    """(instances with a timer due before ``since``, mails not yet sent)."""
    db.session.expire_all()
    due = db.session.scalar(select(db.func.count()).select_from(ProcessInstance).where(
        ProcessInstance.id.in_(ids), ProcessInstance.next_timer_at.is_not(None),
        ProcessInstance.next_timer_at <= since))
    unsent = db.session.scalar(select(db.func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent"))
    db.session.rollback()
    return due, unsent


@pytest.mark.fault
@pytest.mark.slow
def test_restart_and_kill_under_load_lose_nothing_and_repeat_nothing(app_factory, smtp, smtp_port):
    url, cluster = postgres_cluster_or_skip()
    app = app_factory()
    context = app.app_context()
    context.push()
    ids = _load(app)
    before = app_clock.now()
    due, unsent = _outstanding(ids, before)
    assert due == ESCALATIONS and unsent >= QUEUED_MAILS  # raising an escalation tells people too
    db.session.remove()
    db.engine.dispose()

    env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False), "WORKFLOW_SECRET_KEY": "t",
           "WORKFLOW_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
           "WORKFLOW_SMTP_HOST": "127.0.0.1", "WORKFLOW_SMTP_PORT": str(smtp_port), "PYTHONUNBUFFERED": "1",
           "SWEEP_SECONDS": "0.5", "WORKER_RESTART_SECONDS": "0.5"}
    log_path = Path(os.environ.get("PYTEST_TMP", "/tmp")) / f"fault-load-{os.getpid()}.log"
    stopped = False
    _pg_ctl(cluster, "stop")  # the outage begins before the worker has done anything
    stopped = True
    with open(log_path, "w") as log_file:
        supervisor = subprocess.Popen(["bash", str(ROOT / "scripts" / "serve-production.sh"), "worker"], cwd=ROOT,
                                      env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        app.config["EXPECT_WORKER"] = True
        status, body = health(app)
        assert status == 503 and body["problems"] == ["the database is unavailable"]
        time.sleep(1.5)  # the worker fails real rounds against the stopped server
        _kill_worker(supervisor, log_path)  # first kill -9: during the outage
        _pg_ctl(cluster, "start")
        stopped = False
        recovered = time.monotonic()
        # Second kill -9: as soon as the new worker is at work on the backlog.
        while _outstanding(ids, before)[1] == unsent and time.monotonic() - recovered < RECOVERY_SECONDS:
            time.sleep(0.05)
        _kill_worker(supervisor, log_path)
        while _outstanding(ids, before) != (0, 0) and time.monotonic() - recovered < RECOVERY_SECONDS:
            time.sleep(0.2)  # waiting for subprocesses, not timing behaviour
        output = log_path.read_text()
        assert _outstanding(ids, before) == (0, 0), f"backlog left after {RECOVERY_SECONDS} s\n{output[-3000:]}"
        assert output.count("timer worker exited (status 137); restarting") == 2, output[-3000:]

        # Every due timer fired once: no (element, due time) twice, one breach per element.
        db.session.expire_all()
        fired = Counter((h.instance_id, h.element_id, h.data.get("due_at")) for h in db.session.scalars(
            select(HistoryEntry).where(HistoryEntry.instance_id.in_(ids), HistoryEntry.kind == "timer_fired")))
        breached = Counter((h.instance_id, h.element_id) for h in db.session.scalars(
            select(HistoryEntry).where(HistoryEntry.instance_id.in_(ids), HistoryEntry.kind == "deadline_breached")))
        assert {i for i, _e, _d in fired} == set(ids)
        assert max(fired.values()) == 1 and max(breached.values()) == 1
        assert {e for _i, e in breached} == {"stage1_discussion", "stage1_acknowledge"}
        assert all(i.status == "running" for i in db.session.scalars(
            select(ProcessInstance).where(ProcessInstance.id.in_(ids))))

        # Every mail sent: each outbox message arrived (a kill between the SMTP server's acceptance and the
        # 'sent' mark may repeat that one message, with the same Message-ID so a receiver can drop it).
        received = Counter(message_from_bytes(e.content, policy=default_policy)["Message-ID"] for e in smtp.messages)
        expected = {f"<outbox-{m}@workflow-app>" for m in db.session.scalars(select(OutboxMessage.id))}
        assert len(expected) > QUEUED_MAILS  # the breaches told people too
        assert set(received) == expected
        assert sum(received.values()) - len(received) <= 2

        status, body = health(app)
        assert status == 200, body
    finally:
        if stopped:
            _pg_ctl(cluster, "start")
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
            try:
                supervisor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(supervisor.pid, signal.SIGKILL)
        log_path.unlink(missing_ok=True)
        db.session.remove()
        context.pop()
