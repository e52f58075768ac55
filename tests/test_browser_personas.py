"""Each persona's main job in a real browser (Playwright driving the Debian Chromium), with axe-core (npm, pinned in
package.json, injected from node_modules) run on every page visited: no violations at any impact. The staff member
completes a task form with the keyboard only. Screenshots of each page go to test-artifacts/personas/."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, serving

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ARTIFACTS / "personas"
pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM or not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
              pytest.mark.skipif(not AXE.exists(), reason="axe-core missing: npm ci")]

# The app's database built as `flask setup` does (tables, the repository's diagrams, the demo year), from the
# models rather than the migrations, which tests/test_migrations.py covers.
BUILD = """
from workflow_app import create_app
from workflow_app.cli import deploy_repository_diagrams
from workflow_app.extensions import db
from workflow_app.services.demo import create_demo_data
app = create_app()
with app.app_context():
    db.create_all()
    deploy_repository_diagrams()
    create_demo_data()
"""


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("personas") / "personas.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "WORKFLOW_SECRET_KEY": "browser",
           "WORKFLOW_TIMER_SWEEP_SECONDS": "0", "WORKFLOW_DEMO_SCALE": "0.2"}
    subprocess.run([sys.executable, "-c", BUILD], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    with serving(env) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def accessibility_problems(page) -> list[str]:
    """axe-core's violations on the page as it stands, one line each (rule, impact, first element)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']} {v['nodes'][0]['failureSummary']}"
            for v in result["violations"]]


class Visit:
    """A persona's browser tab: every page it lands on is checked with axe-core and photographed."""

    def __init__(self, browser, base: str, username: str):
        # bypass_csp: only so axe-core can be injected; the app's own pages run under its CSP as usual
        self.page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900}).new_page()
        self.base, self.username, self.problems, self.console = base, username, {}, []
        # Script errors and failed sub-resources (a missing favicon, script, style); a form answered 400 is not one.
        self.page.on("pageerror", lambda error: self.console.append(str(error)))
        self.page.on("response", lambda r: self.console.append(f"{r.status} {r.url}")
                     if r.status >= 400 and r.request.resource_type != "document" else None)
        self.page.goto(f"{base}/login")
        self.check("login")
        self.page.fill("#username", username)
        self.page.fill("#password", "demo-password")
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("networkidle")
        found = accessibility_problems(self.page)
        if found:
            self.problems[f"{name} ({self.page.url})"] = found
        self.page.screenshot(path=str(SHOTS / f"{self.username}-{name}.png"), full_page=True)

    def go(self, path: str, name: str) -> None:
        self.page.goto(self.base + path)
        self.check(name)


def test_staff_completes_a_task_with_the_keyboard_only_and_every_page_passes_axe(demo_server, browser):
    staff = Visit(browser, demo_server, "sam.patel")
    assert staff.page.url.endswith("/inbox")  # staff land on their inbox
    staff.check("inbox")
    staff.page.locator("tr", has_text="DEMO-001").locator("a", has_text="Stage 1").first.click()
    staff.page.wait_for_load_state()
    staff.check("task")
    # Keyboard only: each field gets the focus (as Tab would give it) and only keys fill it in.
    keys = staff.page.keyboard
    staff.page.focus("#f-date_held")
    keys.type("11202026")  # a date input takes the digits of mm/dd/yyyy (en-US, Chromium's default)
    staff.page.focus("#f-discussion_method")
    keys.press("ArrowDown")  # the first discussion method
    staff.page.focus("#f-participants")
    keys.type("Sam Patel and Jo Reed")
    staff.page.focus("#f-outcome")
    keys.press("ArrowDown")
    keys.press("ArrowDown")  # Unresolved
    assert staff.page.input_value("#f-outcome") == "unresolved"
    staff.page.focus("#f-action_plan")
    keys.type("Refer to line managers.")
    staff.page.focus("form.task-form button[type=submit]")
    keys.press("Enter")  # evidence is missing: the error summary takes the focus
    staff.page.wait_for_selector("#error-summary")
    assert staff.page.evaluate("document.activeElement.id") == "error-summary"
    assert staff.page.locator("#error-summary a").all_inner_texts() == [
        "Evidence that all efforts at this stage were explored: Required when Outcome is "
        "'Unresolved – refer to both line managers (Stage 2)'"]
    staff.check("task-errors")
    keys.press("Tab")  # to the summary's link to the missing field
    keys.press("Enter")
    assert staff.page.evaluate("document.activeElement.id") == "f-evidence_explored"
    keys.type("Two meetings, positions unchanged.")
    staff.page.focus("form.task-form button[type=submit]")
    keys.press("Enter")
    staff.page.wait_for_selector("text=completed.")
    staff.page.wait_for_selector("#diagram[data-ready=true]")
    staff.check("instance")
    staff.page.click("button[aria-label='Zoom in']")
    staff.go("/protocols", "protocols")
    staff.go("/protocols/partnership_escalation/start", "start")
    staff.go("/notices", "notices")
    assert not staff.console, staff.console  # no favicon 404, no script error
    assert staff.problems == {}, json.dumps(staff.problems, indent=1)


def test_owner_editor_and_admin_land_on_their_pages_and_every_page_passes_axe(demo_server, browser):
    owner = Visit(browser, demo_server, "owner")
    assert owner.page.url.endswith("/reports")
    owner.check("dashboard")
    owner.go("/reports/partnership_escalation", "report")
    owner.go("/instances", "escalations")
    first = owner.page.locator("table.list tbody a").first.get_attribute("href")
    owner.go(first, "instance")
    owner.go(first + "/record", "record")
    editor = Visit(browser, demo_server, "editor")
    assert editor.page.url.endswith("/deployments")
    editor.check("diagrams")
    admin = Visit(browser, demo_server, "admin")
    assert admin.page.url.endswith("/admin/users")
    admin.check("users")
    admin.go("/admin/users/sam.patel", "user")
    problems = {**owner.problems, **editor.problems, **admin.problems}
    assert problems == {}, json.dumps(problems, indent=1)
