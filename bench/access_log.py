"""What the access log costs on the instance page: the median time of GET /instances/<id> (signed in, over the
test client) with every view recorded, as a ratio to the same page with recording switched off. Rounds of
both are interleaved so drift on a shared machine hits both alike. Also the API's GET /api/instances/<id>.

    .venv/bin/python bench/access_log.py [--requests 300] [--url sqlite:///... | postgresql+psycopg://...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from workflow_app import create_app  # noqa: E402
from workflow_app.cli import deploy_repository_diagrams  # noqa: E402
from workflow_app.extensions import db  # noqa: E402
from workflow_app.services import access_log, instances, people  # noqa: E402

from common import FAST_HASHING, PASSWORD, PROTOCOL, RAISER, START, bench_people  # noqa: E402

RECORD_VIEW = access_log.record_view


def _median_ms(client, url: str, count: int, headers=None) -> float:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(url, headers=headers or {})
        samples.append(time.perf_counter() - began)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples) * 1000


def measure(client, url: str, requests: int, rounds: int = 6, headers=None) -> tuple[float, float]:
    on, off = [], []
    for _ in range(rounds):
        access_log.record_view = RECORD_VIEW
        on.append(_median_ms(client, url, requests // rounds, headers))
        access_log.record_view = lambda *args, **kwargs: None
        off.append(_median_ms(client, url, requests // rounds, headers))
    access_log.record_view = RECORD_VIEW
    return statistics.median(on), statistics.median(off)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TIMER_SWEEP_SECONDS": 0, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, **FAST_HASHING})
    with app.app_context():
        db.drop_all()
        db.create_all()
        deploy_repository_diagrams()
        user = bench_people()[RAISER]
        instance = instances.start_instance(PROTOCOL, START, user=user)
        _token, token = people.issue_token(user)
        db.session.commit()
        instance_id = instance.id
    client = app.test_client()
    client.post("/login", data={"username": RAISER, "password": PASSWORD})
    print(f"database: {url.split(':')[0]}; {args.requests} requests each, interleaved")
    for label, path, headers in (("instance page", f"/instances/{instance_id}", None),
                                 ("API instance", f"/api/instances/{instance_id}", {"Authorization": f"Bearer {token}"})):
        on, off = measure(client, path, args.requests, headers=headers)
        print(f"{label:<14} with log {on:7.2f} ms   without {off:7.2f} ms   ratio {on / off:.3f}x")
    with app.app_context():
        db.drop_all()


if __name__ == "__main__":
    main()
