"""Core timings: start an instance, complete one task (median of many), timer sweep with 1,000 open
instances and none due. Runs on a fresh SQLite file (or BENCH_DATABASE_URL) and prints a table.

    .venv/bin/python bench/core.py [--instances 1000] [--completions 200]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.services import instances, timers  # noqa: E402

from common import FAST_HASHING, START, bench_user  # noqa: E402

UNRESOLVED = {"date_held": "2026-12-01", "participants": "A, B", "outcome": "unresolved",
              "action_plan": "escalate", "evidence_explored": "meetings"}


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def summary(label: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9) - 1] if len(samples) >= 10 else samples[-1]
    return f"{label:<48} {statistics.median(samples):>9.2f} {p90:>9.2f} {len(samples):>6}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--completions", type=int, default=200)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="wf-bench-")
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      **FAST_HASHING})
    with app.app_context():
        db.drop_all()
        db.create_all()
        deploy_repository_diagrams()
        user = bench_user()
        start_ms, complete_ms, ids = [], [], []
        for n in range(args.instances):
            holder = {}
            start_ms.append(timed(lambda: holder.setdefault(
                "i", instances.start_instance("partnership_escalation", {**START, "case_reference": f"B-{n}"},
                                              user=user))))
            ids.append(holder["i"].id)
            db.session.expire_all()
        for instance_id in ids[: args.completions]:
            task_id = next(t.id for t in instances.get_instance(instance_id).tasks if t.state == "ready")
            complete_ms.append(timed(lambda: instances.complete_task(task_id, UNRESOLVED, user=user)))
            db.session.expire_all()
        sweep_ms = [timed(timers.run_once) for _ in range(50)]
        open_count = len(ids)
        state_kib = statistics.median(len(instances.get_instance(i).state) for i in ids[:50]) / 1024
    print(f"database: {url.split(':')[0]}, {open_count} open instances, median serialized state {state_kib:.1f} KiB")
    print(f"{'operation':<48} {'median ms':>9} {'p90 ms':>9} {'n':>6}")
    print(summary("start instance (partnership_escalation)", start_ms))
    print(summary("complete one task (stage 1 -> stage 2)", complete_ms))
    print(summary(f"timer sweep, {open_count} open instances, none due", sweep_ms))


if __name__ == "__main__":
    main()
