"""The process owner's dashboard at 1,000 and 100,000 escalations: median times of its read model
(services/dashboard.py: open per stage, deadlines missed this month, oldest open, the 12-month trend) and of
the pages that show it (the dashboard page and the heat map's JSON).

The data is bench/history.py's: template escalations walked through the engine, then copied with shifted
times (one every 17 minutes from January 2024, so 100,000 span three years and the last twelve months hold
about 31,000 of them; a quarter are still running). Goal: the read model within 50 ms at 100,000.

    .venv/bin/python bench/dashboard.py [--instances 1000 100000] [--runs 7]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import PASSWORD, PROTOCOL  # noqa: E402
from history import build, median_ms  # noqa: E402

from sqlalchemy import text  # noqa: E402

from workflow_app.extensions import db  # noqa: E402
from workflow_app.services import dashboard  # noqa: E402
from workflow_app.services.deployments import latest_deployment  # noqa: E402


# The two indexes services/dashboard.py's docstring asks for; measured without, then with them.
PROPOSED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_instances_protocol_status_stage ON instances (protocol_key, status, stage_reached)",
    "CREATE INDEX IF NOT EXISTS ix_instances_protocol_ended ON instances (protocol_key, ended_at)")


def median_call_ms(call, runs: int) -> float:
    samples = []
    for _ in range(runs):
        db.session.expire_all()
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def measure_read_model(deployment, runs: int, suffix: str = "") -> dict[str, float]:
    key = deployment.protocol_key
    now = dashboard.clock.now()
    starts = dashboard.month_starts(now, dashboard.calendar_of(deployment).zone)
    return {
        f"open per stage{suffix}": median_call_ms(lambda: dashboard.open_by_stage(key), runs),
        f"deadlines missed this month{suffix}": median_call_ms(
            lambda: dashboard.missed_deadlines(key, starts[-2], now), runs),
        f"oldest open (10){suffix}": median_call_ms(lambda: dashboard.oldest_open(key), runs),
        f"trend, 12 months{suffix}": median_call_ms(lambda: dashboard.trend(key, starts), runs),
        f"whole dashboard (read model){suffix}": median_call_ms(lambda: dashboard.protocol_dashboard(deployment), runs),
        f"heat map figures{suffix}": median_call_ms(lambda: dashboard.heatmap(deployment), runs),
    }


def measure_pages(app, runs: int, suffix: str = "") -> dict[str, float]:
    with app.app_context():
        client = app.test_client()
        client.post("/login", data={"username": "owner", "password": PASSWORD})
        figures = {f"page /reports{suffix}": median_ms(client, "/reports", runs),
                   f"page heatmap.json{suffix}": median_ms(client, f"/reports/{PROTOCOL}/heatmap.json", runs)}
        db.session.remove()
    return figures


def measure_scale(count: int, runs: int) -> dict[str, float]:
    app, _templates, _names = build(count)
    with app.test_request_context():
        deployment = latest_deployment(PROTOCOL)
        board = dashboard.protocol_dashboard(deployment)
        print(f"{count:,}: {board.total:,} escalations, {board.open_total:,} open, "
              f"{sum(m.raised for m in board.trend):,} raised in 12 months, "
              f"{board.missed_this_month} missed this month",
              file=sys.stderr)
        figures = measure_read_model(deployment, runs)
        db.session.remove()
    figures.update(measure_pages(app, runs))
    with app.test_request_context():
        for statement in PROPOSED_INDEXES:
            db.session.execute(text(statement))
        db.session.commit()
        figures.update(measure_read_model(latest_deployment(PROTOCOL), runs, " +indexes"))
        db.session.remove()
    figures.update(measure_pages(app, runs, " +indexes"))
    with app.app_context():
        db.engine.dispose()
    remove_database(app.config["SQLALCHEMY_DATABASE_URI"])
    return figures


def remove_database(url: str) -> None:
    """Delete the scale's SQLite file (1.3 GB at 100,000) when build() made it in its own temporary folder."""
    path = Path(url.removeprefix("sqlite:///"))
    if url.startswith("sqlite:///") and path.parent.name.startswith("wf-history-"):
        shutil.rmtree(path.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {count: measure_scale(count, args.runs) for count in args.instances}
    small, large = args.instances[0], args.instances[-1]
    header = "".join(f"{f'{c:,} ms':>14}" for c in args.instances)
    print(f"\n{'median ms of ' + str(args.runs) + ' runs':<50}{header}{'ratio':>8}")
    for label in results[small]:
        row = "".join(f"{results[c][label]:>14.1f}" for c in args.instances)
        print(f"{label:<50}{row}{results[large][label] / results[small][label]:>7.2f}x")


if __name__ == "__main__":
    main()
