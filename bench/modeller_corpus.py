"""Third-party diagrams through the front door: does every file deploy and run, or get refused clearly?

    .venv/bin/python bench/modeller_corpus.py DIR [DIR ...] [--time-limit SECONDS] [--quiet]

Every ``*.bpmn`` under the given directories is deployed through the app's deploy service (into a
temporary SQLite app), with the ``.dmn`` files beside it, the other ``.bpmn`` files beside it as candidates
for its call activities, and the decisions already deployed. Each deployed file is started (its start form
filled with sample values) and driven to its first wait. Every file lands in one of three classes:

- ``ran``: deployed, started, and the instance reached a wait a person or the sweep can act on: a ready
  task, a waiting timer, completion, or an error recorded with its element;
- ``refused``: the deploy service refused it, naming the file, the line and the element;
- ``other``: anything else — a crash, a hang (over the time limit), an instance stuck with no ready task,
  timer or error, a refusal without line and element, or one that shows a raw Python object or
  exception name. The goal is 0.

Fetch corpora outside the repository (e.g. MIWG reference models, SpiffWorkflow's test diagrams,
camunda-bpm-examples) and pass their folders.
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from workflow_app import create_app
from workflow_app.extensions import db
from workflow_app.services import deployments, instances, people
from workflow_app.services.errors import DeploymentFailed

# What a user must never see in a refusal (see docs/diagram-conventions.md).
RAW_PYTHON = re.compile(r"<\w[\w.]* (?:object )?at 0x|<Element |Traceback|RecursionError|\b\w+(Error|Exception):|"
                        r"^invalid syntax|: invalid syntax$")


class TimeLimit(BaseException):
    """Not an Exception: the engine's own error handling must not swallow it."""


@dataclass
class Outcome:
    file: str
    kind: str  # ran / refused / other
    detail: str


def _alarm(_signum, _frame):
    raise TimeLimit()


def sample_value(field) -> object:
    """A value the start form accepts for one field (the first choice, a date, a number, some text)."""
    if field.choices:
        return field.choices[0][0]
    return {"long": 1, "boolean": False, "date": date(2026, 12, 1).isoformat()}.get(field.type, "sample")


def start_data(form) -> dict:
    if form is None:
        return {}
    return {f.name: sample_value(f) for f in form.fields if f.type != "table" and not f.choices_from}


def _refusal(exc: DeploymentFailed) -> Outcome | str:
    problems = exc.problems or [{}]
    first = problems[0]
    text = exc.message
    if RAW_PYTHON.search(text):
        return f"refusal shows raw Python: {text[:300]}"
    if not first.get("line") or not first.get("element_id"):
        return f"refusal without line and element: {text[:300]}"
    return text


def run_file(path: Path, user) -> Outcome:
    bpmn = path.read_text(encoding="utf-8", errors="replace")
    beside = {p.name: p.read_text(encoding="utf-8", errors="replace")
              for p in sorted([*path.parent.glob("*.dmn"), *path.parent.glob("*.bpmn")]) if p != path}
    try:
        result = deployments.deploy_upload(path.name, bpmn, beside, actor="corpus", create_roles=True)
        db.session.commit()
    except DeploymentFailed as exc:
        db.session.rollback()
        refusal = _refusal(exc)
        return Outcome(str(path), "refused" if refusal is exc.message else "other", refusal)
    deployment = result.deployment
    bundle = deployments.bundle_for(deployment)
    instance = instances.start_instance(deployment.protocol_key, start_data(bundle.start_form), user=user)
    ready = [t for t in instance.tasks if t.state == "ready"]
    if instance.status == "error":
        if RAW_PYTHON.search(instance.error_message or ""):
            return Outcome(str(path), "other", f"error shows raw Python: {instance.error_message[:300]}")
        return Outcome(str(path), "ran", f"error: {instance.error_message[:200]}")
    if instance.status != instances.RUNNING:
        return Outcome(str(path), "ran", f"completed ({instance.status})")
    if ready:
        return Outcome(str(path), "ran", f"waiting task: {ready[0].title}")
    if instance.next_timer_at is not None:
        return Outcome(str(path), "ran", f"waiting timer until {instance.next_timer_at.isoformat()}")
    return Outcome(str(path), "other", "stuck: running with no ready task, timer or error")


def measure(paths: list[Path], time_limit: int, quiet: bool) -> list[Outcome]:
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/corpus.db", "TIMER_SWEEP_SECONDS": 0,
                          "SECRET_KEY": "corpus", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        with app.app_context():
            db.create_all()
            user = people.create_user("corpus", "corpus-password", roles=[people.ADMINISTRATOR])
            db.session.commit()
            signal.signal(signal.SIGALRM, _alarm)
            for path in paths:
                signal.alarm(time_limit)
                try:
                    outcome = run_file(path, user)
                except TimeLimit:
                    outcome = Outcome(str(path), "other", f"hang: over {time_limit} s")
                except Exception as exc:  # noqa: BLE001 - a crash is what this measures
                    last = traceback.extract_tb(exc.__traceback__)[-1]
                    outcome = Outcome(str(path), "other", f"crash: {type(exc).__name__}: {str(exc)[:200]} "
                                                          f"({Path(last.filename).name}:{last.lineno})")
                finally:
                    signal.alarm(0)
                db.session.rollback()
                outcomes.append(outcome)
                if not quiet:
                    print(f"{outcome.kind:8} {outcome.file}: {' '.join(outcome.detail.split())[:240]}", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path)
    parser.add_argument("--time-limit", type=int, default=30, help="seconds per file before it counts as a hang")
    parser.add_argument("--quiet", action="store_true", help="print only the totals")
    args = parser.parse_args(argv)
    totals: Counter[str] = Counter()
    for folder in args.dirs:
        paths = sorted(folder.rglob("*.bpmn"))
        outcomes = measure(paths, args.time_limit, args.quiet)
        counts = Counter(o.kind for o in outcomes)
        totals.update(counts)
        print(f"{folder}: {len(paths)} files: ran {counts['ran']} / refused {counts['refused']} / "
              f"other {counts['other']}", flush=True)
    print(f"TOTAL {sum(totals.values())} files: deployed-and-ran {totals['ran']} / "
          f"refused-with-element-and-line {totals['refused']} / other {totals['other']}")
    return 0 if totals["other"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
