"""End to end in a real browser (Playwright driving the Debian Chromium at /usr/bin/chromium):
a policy editor changes a stage deadline in the in-browser modeller and deploys it; a new escalation
uses the new deadline. Screenshots are saved in test-artifacts/."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FLASK = [sys.executable, "-m", "flask", "--app", "workflow_app"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed "
                                 "(.ci/run installs it: apt-get install chromium)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'browser.db'}", "WORKFLOW_SECRET_KEY": "browser",
           "WORKFLOW_TIMER_SWEEP_SECONDS": "0", "WORKFLOW_DEMO_SCALE": "0.2"}
    subprocess.run([*FLASK, "setup"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=180)
    with serving(env) as base:
        yield base, env


@contextlib.contextmanager
def serving(env: dict):
    """`flask serve` on a free port, once it answers its health check; stopped afterwards."""
    port = free_port()
    process = subprocess.Popen([*FLASK, "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/health", timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)  # waiting for the server to listen, not timing behaviour
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def api_call(base: str, env: dict, path: str, token_user: str = "owner", body: dict | None = None):
    token = subprocess.run([*FLASK, "users", "token", token_user], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=True, timeout=60).stdout.strip()
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}",
                                                           "Content-Type": "application/json"},
                                     data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_policy_editor_changes_a_deadline_in_the_modeller_and_deploys_it(server):
    from playwright.sync_api import sync_playwright
    from workflow_app.services.calendar import WorkingCalendar

    base, env = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{base}/login")
        page.fill("#username", "editor")
        page.fill("#password", "demo-password")
        page.click("button[type=submit]")
        page.goto(f"{base}/deployments")
        page.click("text=Open in the modeller >> nth=2")  # versions are listed by protocol key
        page.wait_for_selector("#modeller-form[data-ready=true]", timeout=30000)
        assert "Safeguarding Children Partnership escalation" in page.inner_text("h1")
        page.click('g[data-element-id="stage1_deadline"]', force=True)
        page.wait_for_selector("#properties .bio-properties-panel-header", timeout=10000)
        page.screenshot(path=str(ARTIFACTS / "modeller.png"))
        # Change the Stage 1 deadline from 2 to 3 working days, as the timer field in the panel does.
        page.evaluate("""() => {
            const modeler = window.workflowModeler;
            const element = modeler.get('elementRegistry').get('stage1_deadline');
            const timeDate = element.businessObject.eventDefinitions[0].timeDate;
            modeler.get('modeling').updateModdleProperties(element, timeDate, { body: 'working_days(3)' });
        }""")
        page.fill("#comment", "Stage 1: 3 working days")
        page.click("#save-and-review")
        page.wait_for_selector("text=The diagram is valid")
        assert page.inner_text("#changed").strip().startswith("stage1_deadline")
        page.screenshot(path=str(ARTIFACTS / "deploy-review.png"), full_page=True)
        page.click("text=Deploy version 2")
        page.wait_for_selector("text=version 2 deployed")
        browser.close()

    protocols = {p["key"]: p["version"] for p in api_call(base, env, "/api/protocols")}
    assert protocols["partnership_escalation"] == 2
    # A new escalation, raised now, is due 3 working days from now on the England calendar.
    before = datetime.now(timezone.utc)
    instance = api_call(base, env, "/api/instances", token_user="sam.patel", body={
        "protocol": "partnership_escalation",
        "data": {"case_reference": "B-1", "raising_agency": "Northfield Academy", "other_professional": "jo.reed",
                 "other_agency": "Children's Social Care", "disagreement": "x", "desired_outcome": "y"}})
    raising_task = next(t for t in instance["ready_tasks"] if t["name"] == "stage1_discussion")
    due = datetime.fromisoformat(raising_task["due_at"])
    expected = WorkingCalendar("GB-ENG", "Europe/London").add_working_days(before, 3)
    assert instance["version"] == 2
    assert due.date() == expected.date() and abs((due - expected).total_seconds()) < 120


def test_staff_complete_a_stage_and_the_process_owner_reads_the_history(server):
    from playwright.sync_api import sync_playwright

    base, _env = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        staff = browser.new_page(viewport={"width": 1280, "height": 1000})
        staff.goto(f"{base}/login")
        staff.fill("#username", "sam.patel")
        staff.fill("#password", "demo-password")
        staff.click("button[type=submit]")
        demo_001 = staff.locator("tr", has_text="DEMO-001").locator("a", has_text="Stage 1")
        demo_001.first.click()
        assert "Raising side (Northfield Academy)" in staff.inner_text("dl.govuk-summary-list")
        staff.fill("#f-date_held", "2026-11-20")
        staff.select_option("#f-discussion_method", index=1)
        staff.fill("#f-participants", "Sam Patel and Jo Reed")
        staff.select_option("#f-outcome", "unresolved")
        staff.fill("#f-action_plan", "Refer to line managers.")
        staff.click("form.task-form button[type=submit]")  # evidence missing: the form comes back with an error
        assert "Required when Outcome is" in staff.inner_text("#err-evidence_explored")
        staff.fill("#f-evidence_explored", "Two meetings, positions unchanged.")
        staff.click("form.task-form button[type=submit]")
        staff.wait_for_selector("text=completed.")
        staff.wait_for_selector("#diagram[data-ready=true]")
        escalation_url = staff.url
        staff.screenshot(path=str(ARTIFACTS / "staff-after-stage-1.png"), full_page=True)

        owner = browser.new_page(viewport={"width": 1280, "height": 1000})
        owner.goto(f"{base}/login")
        owner.fill("#username", "owner")
        owner.fill("#password", "demo-password")
        owner.click("button[type=submit]")
        owner.goto(escalation_url)
        owner.wait_for_selector("#diagram[data-ready=true]")
        timeline = owner.inner_text("ol.timeline")
        assert "Raising side (Northfield Academy) Task completed: Stage 1 – Direct professional to professional discussion" \
            in timeline
        assert "by Sam Patel (Professional, Northfield Academy)" in timeline  # by name, not username
        assert "Two meetings, positions unchanged." in timeline
        assert "Other side (Children's Social Care) Task assigned" in timeline  # Jo Reed's acknowledgement
        assert owner.locator(".djs-element.path-active").count() >= 1  # the current stage is marked in the diagram
        owner.screenshot(path=str(ARTIFACTS / "owner-history.png"), full_page=True)
        owner.goto(f"{base}/reports/partnership_escalation")
        owner.wait_for_selector("canvas[data-ready=true]")
        owner.screenshot(path=str(ARTIFACTS / "owner-report.png"), full_page=True)
        browser.close()
