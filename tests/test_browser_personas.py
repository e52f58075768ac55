"""Each persona's main job in a real browser (Playwright driving the Debian Chromium), with axe-core (npm, pinned in
package.json, injected from node_modules) run on every page visited: no violations at any impact. The staff member
completes a task form with the keyboard only. Screenshots of each page go to test-artifacts/personas/, named
<username>-<page>.png; the README's screenshots (docs/screenshots/) are copies of the ones README_SHOTS names."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, serving

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ARTIFACTS / "personas"
# The screenshots the README shows: each test also saves these pages as test-artifacts/personas/readme-<name>.png,
# the top of the page at a readable size, which docs/screenshots/<name>.png copies (the dashboard's comes from
# tests/test_browser_dashboard.py).
README_HEIGHTS = {"inbox": 700, "task-dispute-so-far": 2000, "instance": 2000}
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


def tab_to(page, selector: str, most: int = 80) -> None:
    """Press Tab (only Tab: no mouse, no programmatic focus) until the element ``selector`` names has the focus."""
    for _ in range(most):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus after {most} presses of Tab")


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

    def readme_shot(self, name: str) -> None:
        """The top of the page as the README shows it (a full-page screenshot of a long history is unreadable)."""
        height = min(README_HEIGHTS[name], self.page.evaluate("document.documentElement.scrollHeight"))
        self.page.screenshot(path=str(SHOTS / f"readme-{name}.png"), full_page=True,
                             clip={"x": 0, "y": 0, "width": 1280, "height": height})

    def go(self, path: str, name: str) -> None:
        self.page.goto(self.base + path)
        self.check(name)


def test_staff_completes_a_task_with_the_keyboard_only_and_every_page_passes_axe(demo_server, browser):
    staff = Visit(browser, demo_server, "sam.patel")
    assert staff.page.url.endswith("/inbox")  # staff land on their inbox
    staff.check("inbox")
    staff.readme_shot("inbox")
    staff.page.locator("tr", has_text="DEMO-001").locator("a", has_text="Stage 1").first.click()
    staff.page.wait_for_load_state()
    staff.check("task")
    # Keyboard only: Tab moves from field to field (in page order, from the top), keys fill them in, Enter submits.
    keys = staff.page.keyboard
    tab_to(staff.page, "#f-date_held")
    keys.type("11202026")  # a date input takes the digits of mm/dd/yyyy (en-US, Chromium's default)
    tab_to(staff.page, "#f-discussion_method")
    keys.press("ArrowDown")  # the first discussion method
    tab_to(staff.page, "#f-participants")
    keys.type("Sam Patel and Jo Reed")
    tab_to(staff.page, "#f-outcome")
    keys.press("ArrowDown")
    keys.press("ArrowDown")  # Unresolved
    assert staff.page.input_value("#f-outcome") == "unresolved"
    tab_to(staff.page, "#f-action_plan")
    keys.type("Refer to line managers.")
    tab_to(staff.page, "form.task-form button[type=submit]")
    keys.press("Enter")  # evidence is missing: the error summary takes the focus
    staff.page.wait_for_selector("#error-summary")
    # GOV.UK Frontend's error summary takes the focus once its module script has run (after the page has loaded).
    staff.page.wait_for_function("document.activeElement && document.activeElement.id === 'error-summary'",
                                 timeout=5000)
    assert staff.page.locator("#error-summary a").all_inner_texts() == [
        "Evidence that all efforts at this stage were explored: Required when Outcome is "
        "'Unresolved – refer to both line managers (Stage 2)'"]
    staff.check("task-errors")
    keys.press("Tab")  # to the summary's link to the missing field
    keys.press("Enter")
    assert staff.page.evaluate("document.activeElement.id") == "f-evidence_explored"
    keys.type("Two meetings, positions unchanged.")
    tab_to(staff.page, "form.task-form button[type=submit]")
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
    # MOJ Frontend's sortable table: a column's button sorts the rows of the page and says how they are sorted.
    owner.page.click("#instances thead button:text-is('Case')")
    assert owner.page.get_attribute("#instances thead th:nth-child(2)", "aria-sort") == "ascending"
    cases = owner.page.locator("#instances tbody td:nth-child(2)").all_inner_texts()
    assert cases == sorted(cases)
    first = owner.page.locator("#instances tbody a").first.get_attribute("href")
    owner.go(first, "instance")
    owner.readme_shot("instance")
    owner.go(first + "/record", "record")
    editor = Visit(browser, demo_server, "editor")
    assert editor.page.url.endswith("/deployments")
    editor.check("diagrams")
    admin = Visit(browser, demo_server, "admin")
    assert admin.page.url.endswith("/admin/users")
    admin.check("users")
    admin.go("/admin/users/sam.patel", "user")
    dpo = Visit(browser, demo_server, "dpo")  # the data protection officer
    dpo.go("/governance", "data-protection")
    dpo.go("/governance/subject-access?kind=case&q=DEMO-001", "subject-search")
    problems = {**owner.problems, **editor.problems, **admin.problems, **dpo.problems}
    assert problems == {}, json.dumps(problems, indent=1)


def test_a_line_manager_reads_the_dispute_so_far_above_the_stage_two_form(demo_server, browser):
    manager = Visit(browser, demo_server, "manager.school")  # Sam Patel's line manager (Helen Walsh)
    assert manager.page.url.endswith("/inbox")
    manager.check("inbox")
    manager.page.locator("tr", has_text="DEMO-002").locator("a", has_text="Stage 2").first.click()
    manager.page.wait_for_load_state()
    manager.check("task")
    manager.readme_shot("task-dispute-so-far")
    so_far = manager.page.locator("section.dispute")
    assert so_far.locator("h2").inner_text() == "The dispute so far"
    # Both sides' Stage 1 records, each by name, role and agency, above the form.
    text = so_far.inner_text()
    assert "Sam Patel (Professional, Northfield Academy)" in text and "Jo Reed (Professional, Children's Social Care)" in text
    assert so_far.locator(".moj-timeline__item").count() >= 2
    assert manager.page.evaluate("document.querySelector('section.dispute').compareDocumentPosition("
                                 "document.querySelector('form.task-form')) & Node.DOCUMENT_POSITION_FOLLOWING")
    assert not manager.console, manager.console
    assert manager.problems == {}, json.dumps(manager.problems, indent=1)
