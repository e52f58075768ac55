"""Bounded load test on loopback: N concurrent users raise escalations and take them through Stage 1
against gunicorn (several workers) plus a timer/mail worker on PostgreSQL; optionally kill -9 one web worker
midway. Prints throughput, p50/p95 latency and errors, then checks every instance's history is complete.

The partnership escalation is a two-party ladder. Each loop, as the people the tasks are assigned to (two
agencies' management chains, every role a different person; see common.py): the raising professional
raises an escalation and records the Stage 1 discussion ('unresolved', with evidence), then the other
agency's professional acknowledges it, which closes Stage 1 and opens Stage 2 for both sides' line managers.

    .venv/bin/python bench/load.py --database postgresql+psycopg://postgres@127.0.0.1:5432/wf_load \\
        [--users 50] [--seconds 60] [--workers 4] [--kill-worker]

Traffic goes only to 127.0.0.1; every loop is bounded by --seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from common import (FAST_HASHING, OTHER_PROFESSIONAL, PROTOCOL, RAISER, STAGE2_HOLDERS, START,  # noqa: E402
                    bench_people, other_form, raising_form)

FLASK = [sys.executable, "-m", "flask", "--app", "workflow_app"]
STAGE1_RAISING, STAGE1_OTHER = raising_form("unresolved"), other_form("resolved")
# The history an escalation has after each step of the loop (delivery records of e-mails are left out: they
# depend on the mail worker, not on the step). Stage 1 -> 2 must be all or nothing, whatever was killed.
AFTER_START = ["started", "routed", "notification_sent", "task_assigned", "task_assigned"]
AFTER_RAISING = AFTER_START + ["task_completed"]
AFTER_CLOSING = AFTER_RAISING + ["task_completed", "escalated", "routed", "notification_sent", "task_assigned",
                                 "task_assigned"]
DELIVERY_KINDS = {"notification_delivered", "notification_failed"}


def create_people(database: str) -> dict[str, str]:
    """Both chains (once per database) and an API token for each of the two professionals."""
    from workflow_app import create_app
    from workflow_app.extensions import db
    from workflow_app.services import people
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "load",
                      **FAST_HASHING})
    with app.app_context():
        if people.get_user(RAISER, required=False) is None:
            bench_people()
        tokens = {name: people.issue_token(people.get_user(name), label="load test")[1]
                  for name in (RAISER, OTHER_PROFESSIONAL)}
        db.session.commit()
        db.engine.dispose()
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError as exc:  # the connection died with the web worker (kill -9): the client saw no answer
        return 0, {"error": f"connection lost: {type(exc).__name__}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker (more than 1: the gthread worker, whose threads overlap "
                             "one request's database waits with another's work)")
    parser.add_argument("--kill-worker", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "DATABASE_URL": args.database, "WORKFLOW_SECRET_KEY": "load", "WORKFLOW_SMTP_PORT": "1"}
    subprocess.run([*FLASK, "setup", "--no-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    tokens = create_people(args.database)
    raiser, other = tokens[RAISER], tokens[OTHER_PROFESSIONAL]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The servers' logs go to files (a pipe nobody reads fills up and stalls the processes writing to it).
    logs = Path(tempfile.mkdtemp(prefix="wf-load-"))
    web_log, worker_log = open(logs / "web.log", "w"), open(logs / "worker.log", "w")
    print(f"server logs in {logs}")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(args.workers),
                            "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}", "workflow_app:create_app()"],
                           cwd=ROOT, env=env,
                           stdout=web_log, stderr=subprocess.STDOUT, text=True)
    worker = subprocess.Popen([*FLASK, "timers", "worker", "--interval", "2"], cwd=ROOT, env=env,
                              stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)  # waiting for gunicorn to listen
        latencies: dict[str, list[float]] = {"start": [], "complete raising side": [], "complete other side": []}
        errors, dropped, started, lock = [], [], [], threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def step(name: str, token: str, method: str, path: str, body: dict, expect: int) -> dict | None:
            """One request, timed; None (and the error noted) unless it answered ``expect``."""
            began = time.perf_counter()
            status, answer = call(base, token, method, path, body)
            with lock:
                latencies[name].append((time.perf_counter() - began) * 1000)
                if status != expect:
                    (dropped if status == 0 else errors).append((name, status, answer.get("error")))
            return answer if status == expect else None

        def user(number: int) -> None:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                body = step("start", raiser, "POST", "/api/instances",
                            {"protocol": PROTOCOL, "data": {**START, "case_reference": f"L-{number}-{n}"}}, 201)
                if body is None:
                    continue
                with lock:
                    started.append(body["id"])
                ready = {t["name"]: t for t in body["ready_tasks"]}
                mine, theirs = ready["stage1_discussion"]["id"], ready["stage1_acknowledge"]["id"]
                if step("complete raising side", raiser, "POST", f"/api/tasks/{mine}/complete",
                        {"data": STAGE1_RAISING}, 200) is None:
                    continue
                step("complete other side", other, "POST", f"/api/tasks/{theirs}/complete", {"data": STAGE1_OTHER}, 200)

        threads = [threading.Thread(target=user, args=(i,)) for i in range(args.users)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        if args.kill_worker:
            time.sleep(args.seconds / 2)  # halfway through the run, not a timing assertion
            children = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True).stdout.split()
            if children:
                os.kill(int(children[0]), signal.SIGKILL)
                print(f"killed gunicorn worker {children[0]} with SIGKILL at {time.monotonic() - began:.0f}s")
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        ordered = sorted(x for samples in latencies.values() for x in samples)
        print(f"users {args.users}, web workers {args.workers} x {args.threads} thread(s), {elapsed:.0f}s")
        print(f"requests {len(ordered)}  throughput {len(ordered) / elapsed:.1f} req/s  "
              f"p50 {statistics.median(ordered):.1f} ms  p95 {ordered[int(len(ordered) * 0.95) - 1]:.1f} ms  "
              f"errors {len(errors)}  connections cut by the kill {len(dropped)}")
        completions = sum(len(latencies[name]) for name in ("complete raising side", "complete other side")) \
            - sum(1 for e in errors + dropped if e[0].startswith("complete"))
        print(f"task completions {completions}  {completions / elapsed:.1f} per second (both sides' Stage 1 tasks)")
        for name, samples in latencies.items():
            if samples:
                print(f"  {name:<24} n {len(samples):>6}  p50 {statistics.median(samples):>7.1f} ms")
        for error in errors[:5]:
            print("  error:", error)
        # Every escalation in the database — including any whose request was cut by the kill — has a history
        # that matches its state: nothing half-written. Each step's history and ready tasks come together.
        expected_ready = {len(AFTER_START): {"stage1_discussion": RAISER, "stage1_acknowledge": OTHER_PROFESSIONAL},
                          len(AFTER_RAISING): {"stage1_acknowledge": OTHER_PROFESSIONAL},
                          len(AFTER_CLOSING): dict(zip(("stage2_discussion", "stage2_acknowledge"), STAGE2_HOLDERS))}
        incomplete, total, at_stage2, page = 0, 0, 0, 1
        while True:
            status, listed = call(base, raiser, "GET", f"/api/instances?sort=oldest&page={page}")
            if status != 200 or not listed:
                break
            for summary in listed:
                total += 1
                _, body = call(base, raiser, "GET", f"/api/instances/{summary['id']}")
                kinds = [h["kind"] for h in body.get("history", []) if h["kind"] not in DELIVERY_KINDS]
                ready = {t["name"]: t.get("assigned_to") for t in body.get("ready_tasks", [])}
                if kinds not in (AFTER_START, AFTER_RAISING, AFTER_CLOSING) or ready != expected_ready[len(kinds)]:
                    incomplete += 1
                at_stage2 += kinds == AFTER_CLOSING
            page += 1
        failed = sum(1 for e in errors + dropped if e[0] == "complete other side")
        closed = len(latencies["complete other side"]) - failed
        print(f"instances in the database {total} (client saw {len(started)} started, {closed} taken to Stage 2; "
              f"database has {at_stage2} at Stage 2); with history not matching their state {incomplete}")
    finally:
        web.terminate()
        worker.terminate()
        web.wait(timeout=30)
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
