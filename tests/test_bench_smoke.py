"""The benchmarks still run and print their tables (tiny sizes; the figures themselves are not asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_core_bench_prints_its_table():
    out = run("bench/core.py", "--instances", "6", "--completions", "3")
    assert "start instance (partnership_escalation)" in out and "timer sweep, 6 open instances, none due" in out
    # Both completions of the two-party Stage 1 are timed: one that leaves the stage open, one that closes it.
    assert "complete one task: raising side, Stage 1 (stage stays open)" in out
    assert "complete one task: other side, closes Stage 1, opens Stage 2" in out


@pytest.mark.slow
def test_timer_sweep_bench_fires_exactly_the_due_count():
    out = run("bench/timer_sweep.py", "--open", "12", "--runs", "1", "--due", "0", "5")
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("12 ")]
    assert [(r[1], r[2]) for r in rows] == [("0", "0"), ("5", "5")]  # due, fired


@pytest.mark.slow
def test_history_bench_prints_page_timings():
    out = run("bench/history.py", "--instances", "300", "--runs", "1")
    assert "walked 18 template escalations through the engine" in out
    assert "filled 300 instances" in out and "protocol report (all figures)" in out


@pytest.mark.slow
def test_run_all_prints_each_figure_next_to_its_floor():
    out = run("bench/run_all.py", "--instances", "4", "--repeat", "2", "--no-pg")
    rows = {line[:58].strip(): line[58:].split() for line in out.splitlines() if line[58:].strip()}
    for label in ("start an escalation", "complete task over HTTP: raising side, Stage 1",
                  "complete task over HTTP: other side, closes Stage 1 -> 2",
                  "due timer fired by the sweep (one escalation)"):
        app_ms, floor_ms, ratio = rows[label]
        # the ratio is of the two figures beside it (printed rounded)
        assert float(ratio.removesuffix("x")) == pytest.approx(float(app_ms) / float(floor_ms), rel=0.02)
    assert int(rows["stored bytes per instance (state + data, history aside)"][0]) > 0
    # what the stack itself costs, measured in the same run, and the best ratio it leaves each operation
    assert float(rows["no-op API request (token check, JSON answer)"][0]) > 0
    assert float(rows["durable write (state + one history row, committed)"][0]) > 0
    reachable = next(line for line in out.splitlines() if "lowest ratio reachable" in line)
    assert reachable.count("x") >= 4 and "raising side, Stage 1" in reachable


@pytest.mark.slow
def test_load_script_runs_and_checks_every_history(tmp_path):
    out = run("bench/load.py", "--database", f"sqlite:///{tmp_path / 'load.db'}", "--users", "3", "--seconds", "3",
              "--workers", "2")
    assert "errors 0" in out and "with history not matching their state 0" in out
    seen = out.split("client saw ")[1]
    started, to_stage2, in_db = int(seen.split()[0]), int(seen.split(", ")[1].split()[0]), int(
        seen.split("database has ")[1].split()[0])
    assert started > 0 and to_stage2 == in_db  # every loop the client saw finish is at Stage 2 in the database
    # each loop that reached Stage 2 completed both sides' Stage 1 tasks; the count printed says so
    completions = int(out.split("task completions ")[1].split()[0])
    assert completions >= 2 * to_stage2
