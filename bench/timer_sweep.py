"""Timer sweep cost with 10,000 open instances and 0, 10 and 1,000 of them due.

The sweep should cost in proportion to the timers that are due, not to the open instances: the
due-timer index (instances.next_timer_at) is one indexed range query. Each run starts from a copy of
the same database, so runs are independent; the table shows the median of several runs.

Every instance is a partnership escalation at Stage 1, raised by the raising professional with the other
agency's professional named (two agencies' chains, see common.py), so both sides hold a Stage 1 task with a
2-working-day deadline. A due instance fires both: the raising side's deadline records a breach and tells
both sides (its task stays open: nothing escalates without evidence); the other side's acknowledgement
deadline closes that task as "no response" and tells both sides. "fired" counts instances.

    .venv/bin/python bench/timer_sweep.py [--open 10000] [--runs 5]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import time_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.services import instances, timers  # noqa: E402

from common import FAST_HASHING, PROTOCOL, START, bench_user  # noqa: E402

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # Tuesday; both Stage 1 deadlines: Thursday 09:00 + offset
FIRST_DUE = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def app_for(path: Path):
    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "TIMER_SWEEP_SECONDS": 0,
                       "SECRET_KEY": "bench", **FAST_HASHING})


def build_template(path: Path, count: int) -> None:
    """``count`` open instances; instance n is started n seconds after T0, so it is due n seconds after FIRST_DUE."""
    app = app_for(path)
    with app.app_context(), time_machine.travel(T0, tick=False) as traveller:
        db.create_all()
        deploy_repository_diagrams()
        user = bench_user()
        for n in range(count):
            traveller.move_to(T0 + timedelta(seconds=n))
            instances.start_instance(PROTOCOL, {**START, "case_reference": f"B-{n}"}, user=user)
            if n % 500 == 0:
                db.session.expire_all()
                print(f"  built {n}/{count}", file=sys.stderr, flush=True)
        db.engine.dispose()


def sweep_ms(template: Path, workdir: Path, due: int) -> tuple[float, int]:
    # A fresh file per run: a copy laid over an earlier run's file would meet that run's leftover write-ahead log
    # (run.db-wal) and read as a corrupt database.
    copy = Path(tempfile.mkdtemp(dir=workdir)) / "run.db"
    shutil.copyfile(template, copy)
    app = app_for(copy)
    moment = FIRST_DUE + timedelta(seconds=due) - timedelta(milliseconds=500)
    with app.app_context(), time_machine.travel(moment, tick=False):
        began = time.perf_counter()
        result = timers.run_once(limit=100_000)
        elapsed = (time.perf_counter() - began) * 1000
        if result.fired:  # not timed: the first due escalation recorded both sides' Stage 1 deadlines
            breached = sorted(h.element_id for h in instances.get_instance(result.fired[0]).history
                              if h.kind == "deadline_breached")
            assert breached == ["stage1_acknowledge", "stage1_discussion"], breached
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(copy.parent, ignore_errors=True)
    return elapsed, len(result.fired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--due", type=int, nargs="*", default=[0, 10, 1000])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="wf-sweep-"))
    template = workdir / "template.db"
    began = time.perf_counter()
    build_template(template, args.open)
    print(f"built {args.open} open instances in {time.perf_counter() - began:.0f}s "
          f"({template.stat().st_size / 2**20:.0f} MiB SQLite)")
    print(f"{'open':>7} {'due':>6} {'fired':>6} {'median ms':>10} {'per due ms':>11} {'runs':>5}")
    for due in args.due:
        samples, fired = [], 0
        for _ in range(args.runs):
            elapsed, fired = sweep_ms(template, workdir, due)
            samples.append(elapsed)
        median = statistics.median(samples)
        per_due = f"{median / due:.2f}" if due else "-"
        print(f"{args.open:>7} {due:>6} {fired:>6} {median:>10.2f} {per_due:>11} {args.runs:>5}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
