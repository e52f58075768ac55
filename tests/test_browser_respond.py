"""End to end in a real browser: a professional without an account opens the e-mailed link, sees only their task,
gets a field error, responds; the same link replayed, an altered link and an expired link each get a clear page
and change nothing. Screenshots in test-artifacts/."""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine

from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, serving

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]

DIAGRAMS = ROOT / "tests" / "diagrams" / "parties"
SECRET = "respond-browser-test"


def _prepare(database_url: str, tmp_path: Path) -> dict:
    """Deploy the two-party test diagram, make two agencies' people, raise two escalations naming an e-mail
    contact (one 20 days ago, so its link has expired); return the link paths and task ids."""
    from conftest import make_chain
    from workflow_app import create_app
    from workflow_app.cli import deploy_repository_diagrams
    from workflow_app.extensions import db
    from workflow_app.persistence.models import OutboxMessage
    from workflow_app.services import instances, people

    (tmp_path / "no_dmn").mkdir(exist_ok=True)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET, "BPMN_DIR": DIAGRAMS,
                      "DMN_DIR": tmp_path / "no_dmn", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        db.create_all()
        deploy_repository_diagrams()
        make_chain("Northfield Academy", [("sam.patel", ["Professional"]), ("mia.lm", ["Line Manager"])])
        people.get_or_create_agency("Riverside Health")
        db.session.commit()
        sam = people.get_user("sam.patel")
        result = {}
        for label, days_ago in (("fresh", 0), ("old", 20)):
            with time_machine.travel(datetime.now(timezone.utc) - timedelta(days=days_ago), tick=False):
                instance = instances.start_instance("two_party_test", {
                    "case_reference": f"BR-{label}", "raising_agency": "Northfield Academy",
                    "other_agency": "Riverside Health", "other_contact_name": "Pat Doyle",
                    "other_contact_email": f"pat.{label}@health.example"}, user=sam)
            task = next(t for t in instance.tasks if t.party == "counterpart")
            body = db.session.query(OutboxMessage).filter_by(recipient_email=f"pat.{label}@health.example").one().body
            result[label] = {"path": re.search(r"(/respond/\S+)", body).group(1), "task": task.id,
                             "instance": instance.id}
        return result


def _task_state(database_url: str, task_id: str) -> tuple[str, int]:
    from workflow_app import create_app
    from workflow_app.extensions import db
    from workflow_app.persistence.models import HistoryEntry, TaskRecord
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET})
    with app.app_context():
        record = db.session.get(TaskRecord, task_id)
        completions = db.session.query(HistoryEntry).filter_by(task_id=task_id, kind="task_completed").count()
        return record.state, completions


@pytest.fixture
def served(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'respond.db'}"
    links = _prepare(database_url, tmp_path)
    env = {**os.environ, "DATABASE_URL": database_url, "WORKFLOW_SECRET_KEY": SECRET, "WORKFLOW_TIMER_SWEEP_SECONDS": "0",
           "WORKFLOW_BPMN_DIR": str(DIAGRAMS)}
    with serving(env) as base:
        yield base, links, database_url


def test_external_contact_responds_through_the_link_and_bad_links_change_nothing(served):
    from playwright.sync_api import sync_playwright

    base, links, database_url = served
    fresh, old = links["fresh"], links["old"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})

        page.goto(base + fresh["path"])
        assert page.locator("h1").inner_text() == "Stage 1 – acknowledge and state your position"
        assert "Pat Doyle, you are named as the professional on the other side" in page.content()
        assert page.locator("nav").count() == 0  # no navigation: nothing else is reachable
        page.screenshot(path=str(ARTIFACTS / "respond-1-form.png"), full_page=True)

        # Unresolved without the evidence: a field error, nothing saved, the link still works.
        page.fill("#f-date_held", "2026-12-01")
        page.select_option("#f-counterpart_outcome", "unresolved")
        page.click("button[type=submit]")
        assert "Nothing was saved" in page.content()
        assert _task_state(database_url, fresh["task"]) == ("ready", 0)

        page.fill("#f-counterpart_evidence", "We met twice; our view on thresholds is unchanged.")
        page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "Thank you, Pat Doyle"
        page.screenshot(path=str(ARTIFACTS / "respond-2-done.png"), full_page=True)
        assert _task_state(database_url, fresh["task"]) == ("completed", 1)

        # Replayed: refused, nothing changes.
        response = page.goto(base + fresh["path"])
        assert response.status == 410 and "already been used" in page.content()
        page.screenshot(path=str(ARTIFACTS / "respond-3-replayed.png"), full_page=True)

        # Altered: refused.
        altered = fresh["path"][:-4] + ("AAAA" if not fresh["path"].endswith("AAAA") else "BBBB")
        response = page.goto(base + altered)
        assert response.status == 410 and "not valid" in page.content()

        # Expired (raised 20 days ago; links live 14): refused, its task untouched.
        response = page.goto(base + old["path"])
        assert response.status == 410 and "expired" in page.content()
        page.screenshot(path=str(ARTIFACTS / "respond-4-expired.png"), full_page=True)
        assert _task_state(database_url, old["task"]) == ("ready", 0)
        assert _task_state(database_url, fresh["task"]) == ("completed", 1)

        # The escalation's own page is not reachable without signing in.
        page.goto(f"{base}/instances/{fresh['instance']}")
        assert "/login" in page.url
        browser.close()
