"""Core timings: start an instance, complete a task (median of many), timer sweep with 1,000 open
instances and none due. Runs on a fresh SQLite file (or BENCH_DATABASE_URL) and prints a table.

The partnership escalation is a two-party ladder, so two completions are timed, each by the person the
task is assigned to (two agencies' management chains, every role a different person; see common.py):
- the raising side's Stage 1 discussion record: the stage stays open, waiting for the other side;
- the other side's Stage 1 acknowledgement, which closes Stage 1 (both sides recorded, one referred up
  with evidence) and opens Stage 2: routing, notifying both line managers, and assigning both sides'
  Stage 2 tasks by climbing each agency's chain.

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

from common import (FAST_HASHING, OTHER_PROFESSIONAL, PROTOCOL, RAISER, STAGE2_HOLDERS, START,  # noqa: E402
                    bench_people, other_form, raising_form, stage1_tasks)


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return (time.perf_counter() - began) * 1000


def summary(label: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9) - 1] if len(samples) >= 10 else samples[-1]
    return f"{label:<64} {statistics.median(samples):>9.2f} {p90:>9.2f} {len(samples):>6}"


def check_stage2(instance_id: int) -> None:
    """Not timed: the closing completion really opened Stage 2 with each side's task one rung up its chain."""
    ready = {t.element_id: t.assigned_to.username for t in instances.get_instance(instance_id).tasks
             if t.state == "ready"}
    assert ready == dict(zip(("stage2_discussion", "stage2_acknowledge"), STAGE2_HOLDERS)), ready


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
        users = bench_people()
        raiser, other = users[RAISER], users[OTHER_PROFESSIONAL]
        start_ms, raising_ms, closing_ms, ids = [], [], [], []
        for n in range(args.instances):
            holder = {}
            start_ms.append(timed(lambda: holder.setdefault(
                "i", instances.start_instance(PROTOCOL, {**START, "case_reference": f"B-{n}"}, user=raiser))))
            ids.append(holder["i"].id)
            db.session.expire_all()
        for instance_id in ids[: args.completions]:
            mine, theirs = (t.id for t in stage1_tasks(instances.get_instance(instance_id)))
            raising_ms.append(timed(lambda: instances.complete_task(mine, raising_form("unresolved"), user=raiser)))
            db.session.expire_all()
            closing_ms.append(timed(lambda: instances.complete_task(theirs, other_form("resolved"), user=other)))
            db.session.expire_all()
            check_stage2(instance_id)
        sweep_ms = [timed(timers.run_once) for _ in range(50)]
        open_count = len(ids)
        state_kib = statistics.median(len(instances.get_instance(i).state) for i in ids[:50]) / 1024
    print(f"database: {url.split(':')[0]}, {open_count} open instances, median serialized state {state_kib:.1f} KiB")
    print(f"{'operation':<64} {'median ms':>9} {'p90 ms':>9} {'n':>6}")
    print(summary(f"start instance ({PROTOCOL})", start_ms))
    print(summary("complete one task: raising side, Stage 1 (stage stays open)", raising_ms))
    print(summary("complete one task: other side, closes Stage 1, opens Stage 2", closing_ms))
    print(summary(f"timer sweep, {open_count} open instances, none due", sweep_ms))


if __name__ == "__main__":
    main()
