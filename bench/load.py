"""Bounded load test on loopback: N concurrent users raise escalations and complete Stage 1 against
gunicorn (several workers) plus a timer/mail worker on PostgreSQL; optionally kill -9 one web worker
midway. Prints throughput, p50/p95 latency and errors, then checks every instance's history is complete.

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
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask", "--app", "workflow_app"]
START = {"raising_professional": "Load test", "raising_agency": "Northfield Academy",
         "other_professional": "B", "other_agency": "Children's Social Care", "disagreement": "x", "desired_outcome": "y"}
STAGE1 = {"date_held": "2026-12-01", "participants": "A, B", "outcome": "unresolved", "action_plan": "escalate",
          "evidence_explored": "meetings"}


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
    parser.add_argument("--kill-worker", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "DATABASE_URL": args.database, "WORKFLOW_SECRET_KEY": "load", "WORKFLOW_SMTP_PORT": "1"}
    subprocess.run([*FLASK, "setup", "--no-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    for username, agency in (("loader", "Northfield Academy"), ("other.side", "Children's Social Care")):
        subprocess.run([*FLASK, "users", "create", username, "--password", "load-test-password", "--role",
                        "Professional", "--agency", agency], cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run([*FLASK, "users", "token", "loader"], cwd=ROOT, env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind",
                            f"127.0.0.1:{port}", "workflow_app:create_app()"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    worker = subprocess.Popen([*FLASK, "timers", "worker", "--interval", "2"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/api/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)  # waiting for gunicorn to listen
        latencies, errors, dropped, started, lock = [], [], [], [], threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def user(number: int) -> None:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                t0 = time.perf_counter()
                status, body = call(base, token, "POST", "/api/instances",
                                    {"protocol": "partnership_escalation", "data": {**START, "case_reference": f"L-{number}-{n}"}})
                t1 = time.perf_counter()
                if status != 201:
                    with lock:
                        (dropped if status == 0 else errors).append(("start", status, body.get("error")))
                    continue
                task_id = body["ready_tasks"][0]["id"]
                status2, body2 = call(base, token, "POST", f"/api/tasks/{task_id}/complete", {"data": STAGE1})
                t2 = time.perf_counter()
                with lock:
                    latencies.extend([(t1 - t0) * 1000, (t2 - t1) * 1000])
                    started.append((body["id"], status2 == 200))
                    if status2 != 200:
                        (dropped if status2 == 0 else errors).append(("complete", status2, body2.get("error")))

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
        ordered = sorted(latencies)
        print(f"users {args.users}, web workers {args.workers}, {elapsed:.0f}s")
        print(f"requests {len(latencies)}  throughput {len(latencies) / elapsed:.1f} req/s  "
              f"p50 {statistics.median(ordered):.1f} ms  p95 {ordered[int(len(ordered) * 0.95) - 1]:.1f} ms  "
              f"errors {len(errors)}  connections cut by the kill {len(dropped)}")
        for error in errors[:5]:
            print("  error:", error)
        # Every escalation in the database — including any whose request was cut by the kill — has a history
        # that matches its state: nothing half-written. Stage 1 done <=> completion and escalation recorded.
        incomplete, total, page = 0, 0, 1
        while True:
            status, listed = call(base, token, "GET", f"/api/instances?sort=oldest&page={page}")
            if status != 200 or not listed:
                break
            for summary in listed:
                total += 1
                _, body = call(base, token, "GET", f"/api/instances/{summary['id']}")
                kinds = [h["kind"] for h in body.get("history", [])]
                at_stage2 = (body.get("current_stage") or "").startswith("Stage 2")
                expected = ["started", "routed", "notification_sent"] + (
                    ["task_completed", "escalated", "routed", "notification_sent"] if at_stage2 else [])
                if kinds != expected or len(body.get("ready_tasks", [])) != 1:
                    incomplete += 1
            page += 1
        client_seen = sum(1 for _, done in started if done)
        print(f"instances in the database {total} (client saw {len(started)} started, {client_seen} completed); "
              f"with history not matching their state {incomplete}")
    finally:
        web.terminate()
        worker.terminate()
        web.wait(timeout=30)
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
