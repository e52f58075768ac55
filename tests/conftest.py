"""Shared fixtures: an app on a fresh database with the repository's diagrams deployed, a JSON API
helper, and a controllable clock (time-machine) so deadlines are tested without sleeping."""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from workflow_app import create_app
from workflow_app.cli import deploy_repository_diagrams
from workflow_app.extensions import db
from workflow_app.persistence.encryption import development_key
from workflow_app.services import people
from workflow_app.services.deployments import bundle_for, latest_deployments

TEST_AGENCIES = ("Northfield Academy", "Children's Social Care")
TESTER = "tester"  # holds every role of every deployed protocol, in Children's Social Care
PASSWORD = "correct horse battery"
# What the test apps encrypt with (derived from their SECRET_KEY "test"): a subprocess reading the same database
# (a worker started as production starts it) is given it as WORKFLOW_ENCRYPTION_KEYS.
TEST_ENCRYPTION_KEY = development_key("test")

ROOT = Path(__file__).resolve().parents[1]
LONDON = ZoneInfo("Europe/London")


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture
def clock():
    """Frozen time, starting Tuesday 1 December 2026 09:00 London; move it with .move_to/.shift."""
    with time_machine.travel(london(2026, 12, 1, 9, 0), tick=False) as traveller:
        yield Clock(traveller)


class Clock:
    def __init__(self, traveller):
        self._traveller = traveller

    def move_to(self, when: datetime) -> None:
        self._traveller.move_to(when)

    def shift(self, **delta) -> None:
        self._traveller.shift(timedelta(**delta))


def _database_url(tmp_path: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app_factory(tmp_path):
    """Build an app on an empty database (``reset_db=False``: on the existing one, like a restart);
    keyword arguments override config (e.g. BPMN_DIR for crafted diagrams)."""
    made = []

    def make(deploy: bool = True, reset_db: bool = True, **config):
        settings = {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path),
            "WTF_CSRF_ENABLED": False,
            "TIMER_SWEEP_SECONDS": 0,
            "SECRET_KEY": "test",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # production uses scrypt; tests need speed
            **config,
        }
        app = create_app(settings)
        with app.app_context():
            if reset_db:
                drop_everything()
                db.create_all()
            if deploy:
                deploy_repository_diagrams()
            if reset_db:
                create_test_people()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            drop_everything()
            db.engine.dispose()


def drop_everything() -> None:
    """Empty the database, Alembic's version table included (PostgreSQL keeps one database for all tests)."""
    db.session.remove()
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(db.text("DROP TABLE IF EXISTS alembic_version"))


def create_test_people() -> None:
    for name in TEST_AGENCIES:
        people.get_or_create_agency(name)
    lanes = {lane for d in latest_deployments() for lane in bundle_for(d).lanes}
    people.create_user(TESTER, PASSWORD, display_name="Test User", agency="Children's Social Care",
                       roles=[*lanes, people.PROCESS_OWNER, people.POLICY_EDITOR],
                       protocols=[d.protocol_key for d in latest_deployments()])
    db.session.commit()


def make_user(username: str, roles=(), agency: str | None = None, line_manager: str | None = None, **kwargs):
    user = people.create_user(username, PASSWORD, display_name=username.replace(".", " ").title(), agency=agency,
                              roles=roles, line_manager=line_manager, **kwargs)
    db.session.commit()
    return user


def make_chain(agency: str, people_bottom_up: list[tuple[str, list[str]]], **kwargs) -> list:
    """A management chain in one agency, bottom up: each person's line manager is the next one in the list.

    ``make_chain("Northfield Academy", [("sam.patel", ["Professional"]), ("mia.lm", ["Line Manager"])])``
    makes Mia Sam's line manager. Returns the users bottom up. Scenario tests build one chain per agency so
    that every role is held by a different person (a single user holding every role hides routing faults).
    """
    made = []
    manager = None
    for username, roles in reversed(people_bottom_up):
        made.append(make_user(username, roles=roles, agency=agency, line_manager=manager,
                              email=f"{username}@example.org", **kwargs))
        manager = username
    return list(reversed(made))


@pytest.fixture
def app(app_factory, clock):
    return app_factory()


@pytest.fixture
def api(app):
    with app.app_context():
        yield Api(app.test_client())


def token_for(username: str) -> str:
    _token, plain = people.issue_token(people.get_user(username))
    db.session.commit()
    return plain


class Api:
    """Thin JSON API client, signed in with a personal token, that fails loudly on an unexpected status."""

    def __init__(self, client, username: str = TESTER):
        self.client = client
        self.username = username
        self._tokens: dict[str, str] = {}

    def as_user(self, username: str) -> "Api":
        return Api(self.client, username)

    def _token(self, username: str) -> str:
        if username not in self._tokens:
            self._tokens[username] = token_for(username)
        return self._tokens[username]

    def request(self, method: str, url: str, expect: int = 200, **kwargs):
        username = kwargs.pop("user", self.username)
        headers = {"Authorization": f"Bearer {self._token(username)}"}
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        assert response.status_code == expect, (response.status_code, response.get_json())
        assert response.is_json, response.data[:200]
        return response.get_json()

    def start(self, protocol: str, data: dict, expect: int = 201, **kwargs):
        return self.request("POST", "/api/instances", expect, json={"protocol": protocol, "data": data}, **kwargs)

    def instance(self, instance_id: int):
        return self.request("GET", f"/api/instances/{instance_id}")

    def ready(self, instance_id: int, name: str | None = None) -> dict:
        """The one ready task of an instance (optionally: the one for element ``name``)."""
        tasks = self.instance(instance_id)["ready_tasks"]
        if name:
            tasks = [t for t in tasks if t["name"] == name]
        assert len(tasks) == 1, [t["name"] for t in tasks]
        return tasks[0]

    def complete(self, task_id: str, data: dict, expect: int = 200, **kwargs):
        return self.request("POST", f"/api/tasks/{task_id}/complete", expect, json={"data": data}, **kwargs)

    def sweep(self) -> None:
        from workflow_app.services import timers
        timers.run_once()

    def kinds(self, instance_id: int) -> list[str]:
        return [h["kind"] for h in self.instance(instance_id)["history"]]
