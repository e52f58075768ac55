"""What the access log and encryption at rest cost (issue 18; goal: each at most 1.1x the same without it).

* instance page (GET /instances/<id>, signed in, over the test client) and the API's GET /api/instances/<id>:
  median with every view recorded, as a ratio to the same request with recording switched off;
* instance page and a task completion (POST /api/tasks/<id>/complete, the raising side's Stage 1 form): median
  with encryption at rest, as a ratio to the same with an identity cipher in its place (same columns, no
  Fernet / AES-SIV, no compression) on escalations written in that mode;
* instance page with both on against both off;
* stored bytes per escalation (engine state + workflow data as stored) with and without encryption.

Each figure is given in wall time and in CPU time of this process: on a busy shared machine wall time also
waits for other processes, CPU time is what the request itself costs. Modes take turns in short bursts, so
drift hits every mode alike.

    .venv/bin/python bench/access_log.py [--requests 300] [--completions 40] [--url sqlite:///... | postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import LargeBinary, func, select, type_coerce  # noqa: E402

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.persistence import encryption  # noqa: E402
from workflow_app.persistence.models import ProcessInstance  # noqa: E402
from workflow_app.services import access_log, instances, people  # noqa: E402

from common import FAST_HASHING, PASSWORD, PROTOCOL, RAISER, START, bench_people, raising_form  # noqa: E402

RECORD_VIEW = access_log.record_view
CIPHER = {name: getattr(encryption.Keyring, name) for name in ("encrypt", "encrypt_deterministic", "decrypt")}
PLAIN = b"PLAIN"  # marks a value written by the identity cipher (people and tokens are written encrypted)
IDENTITY = {"encrypt": lambda self, plaintext: bytes([encryption.TOKEN_VERSION]) + PLAIN + plaintext,
            "encrypt_deterministic": lambda self, plaintext: bytes([encryption.SIV_VERSION]) + PLAIN + plaintext,
            "decrypt": lambda self, stored, where="": stored[6:] if stored[1:6] == PLAIN
            else CIPHER["decrypt"](self, stored, where)}
Timing = tuple[float, float]  # (wall ms, CPU ms)


@contextmanager
def mode(log: bool = True, encrypt: bool = True):
    """Recording on/off, and the real cipher or the identity one."""
    access_log.record_view = RECORD_VIEW if log else (lambda *args, **kwargs: None)
    for name, function in (CIPHER if encrypt else IDENTITY).items():
        setattr(encryption.Keyring, name, function)
    try:
        yield
    finally:
        access_log.record_view = RECORD_VIEW
        for name, function in CIPHER.items():
            setattr(encryption.Keyring, name, function)


def _timed(call) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _medians(values: list[Timing]) -> Timing:
    return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)


def _get(client, url: str, headers=None):
    def call():
        response = client.get(url, headers=headers or {})
        assert response.status_code == 200, response.status_code
    return call


def compare_gets(client, modes: dict[str, tuple[dict, str]], requests: int, burst: int = 5,
                 headers=None) -> dict[str, Timing]:
    """Median timings of GET per mode name: ``modes`` maps a name to (mode settings, url)."""
    samples: dict[str, list[Timing]] = {name: [] for name in modes}
    for _ in range(max(1, requests // burst)):
        for name, (settings, url) in modes.items():
            with mode(**settings):
                samples[name] += [_timed(_get(client, url, headers)) for _ in range(burst)]
    return {name: _medians(values) for name, values in samples.items()}


def start_escalations(user, count: int, encrypt: bool) -> list[int]:
    with mode(encrypt=encrypt):
        made = [instances.start_instance(PROTOCOL, {**START, "case_reference": f"B-{encrypt}-{n}"}, user=user)
                for n in range(count)]
        db.session.commit()
        return [i.id for i in made]


def stage1_task(instance_id: int) -> str:
    return next(t.id for t in instances.get_instance(instance_id).tasks
                if t.state == "ready" and t.element_id == "stage1_discussion")


def stored_bytes(ids: list[int]) -> float:
    raw = select(func.length(type_coerce(ProcessInstance.state, LargeBinary))
                 + func.coalesce(func.length(type_coerce(ProcessInstance.data, LargeBinary)), 0))
    return statistics.median(db.session.scalars(raw.where(ProcessInstance.id.in_(ids))))


def complete_all(client, tasks: dict[bool, list[str]], bearer: dict) -> dict[bool, Timing]:
    samples: dict[bool, list[Timing]] = {True: [], False: []}
    for n in range(min(len(v) for v in tasks.values())):
        for flag in (True, False):
            with mode(encrypt=flag):
                def call(task_id=tasks[flag][n]):
                    response = client.post(f"/api/tasks/{task_id}/complete", json={"data": raising_form()},
                                           headers=bearer)
                    assert response.status_code == 200, response.get_json()
                samples[flag].append(_timed(call))
    return {flag: _medians(values) for flag, values in samples.items()}


def row(label: str, on: Timing, off: Timing) -> None:
    print(f"{label:<34} {on[0]:14.2f} {off[0]:8.2f} {on[0] / off[0]:6.3f}x   "
          f"{on[1]:13.2f} {off[1]:8.2f} {on[1] / off[1]:6.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--completions", type=int, default=40)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    logging.getLogger("workflow_app.persistence.encryption").setLevel(logging.ERROR)
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, "ENCRYPTION_KEYS": (encryption.new_key(),), **FAST_HASHING})
    with app.app_context():
        db.drop_all()
        db.create_all()
        deploy_repository_diagrams()
        user = bench_people()[RAISER]
        _token, token = people.issue_token(user)
        db.session.commit()
        ids = {flag: start_escalations(user, args.completions + 1, flag) for flag in (True, False)}
        sizes = {flag: stored_bytes(ids[flag]) for flag in ids}
        tasks = {}
        for flag in ids:
            with mode(encrypt=flag):
                tasks[flag] = [stage1_task(i) for i in ids[flag][1:]]
    client = app.test_client()
    client.post("/login", data={"username": RAISER, "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {token}"}
    page = {flag: f"/instances/{ids[flag][0]}" for flag in ids}
    print(f"database: {url.split(':')[0]}; {args.requests} requests per mode, {args.completions} completions "
          "per mode, interleaved")
    pages = compare_gets(client, {
        "both on": ({"log": True, "encrypt": True}, page[True]),
        "log off": ({"log": False, "encrypt": True}, page[True]),
        "cipher off": ({"log": True, "encrypt": False}, page[False]),
        "both off": ({"log": False, "encrypt": False}, page[False])}, args.requests)
    api = compare_gets(client, {"log on": ({}, f"/api/instances/{ids[True][0]}"),
                                "log off": ({"log": False}, f"/api/instances/{ids[True][0]}")},
                       args.requests, headers=bearer)
    done = complete_all(client, tasks, bearer)

    print(f"{'':<34} {'wall ms: with':>14} {'without':>8} {'ratio':>7}   {'CPU ms: with':>13} {'without':>8} "
          f"{'ratio':>7}")
    row("access log: instance page", pages["both on"], pages["log off"])
    row("access log: API instance", api["log on"], api["log off"])
    row("encryption: instance page", pages["both on"], pages["cipher off"])
    row("encryption: task completion (API)", done[True], done[False])
    row("both: instance page", pages["both on"], pages["both off"])
    print(f"{'stored bytes per escalation':<34} encrypted {sizes[True]:.0f}, plaintext {sizes[False]:.0f} "
          f"(ratio {sizes[True] / sizes[False]:.3f}x; engine state + workflow data as stored)")
    with app.app_context():
        db.drop_all()


if __name__ == "__main__":
    main()
