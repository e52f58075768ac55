"""In a real browser (Playwright driving the Debian Chromium): a policy editor designs a task's Camunda Form in the
modeller's form editor (form-js), deploys it, and a reviewer completes the task with the designed form, its
conditional field appearing only when it applies. And the round trip: a seed diagram opened in the modeller and
saved without edits shows no change in the review. Screenshots are saved in test-artifacts/."""
from __future__ import annotations

import subprocess

import pytest

from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FLASK, ROOT, api_call, serving

FORMS = ROOT / "tests" / "diagrams" / "forms"
pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not (ROOT / "src/workflow_app/static/vendor/form-js").exists(),
                                 reason="browser assets missing: bash scripts/vendor_assets.sh")]


def flask(env: dict, *args: str) -> None:
    subprocess.run([*FLASK, *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=180)


@pytest.fixture
def forms_server(tmp_path):
    """The app with the Camunda Forms test diagram (and its .form files) deployed, an editor and a reviewer."""
    import os
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'forms.db'}", "WORKFLOW_SECRET_KEY": "browser",
           "WORKFLOW_TIMER_SWEEP_SECONDS": "0", "WORKFLOW_BPMN_DIR": str(FORMS), "WORKFLOW_DMN_DIR": str(FORMS)}
    flask(env, "setup", "--no-demo")
    flask(env, "users", "create", "pat.editor", "--password", "forms-password", "--role", "Policy Editor",
          "--role", "Reviewer")
    with serving(env) as base:
        yield base, env


@pytest.fixture
def seed_server(tmp_path):
    import os
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'seed.db'}", "WORKFLOW_SECRET_KEY": "browser",
           "WORKFLOW_TIMER_SWEEP_SECONDS": "0"}
    flask(env, "setup", "--no-demo")
    flask(env, "users", "create", "pat.editor", "--password", "forms-password", "--role", "Policy Editor")
    with serving(env) as base:
        yield base, env


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", "pat.editor")
    page.fill("#password", "forms-password")
    page.click("button[type=submit]")


def test_a_form_designed_in_the_modeller_is_deployed_and_used_to_complete_the_task(forms_server):
    from playwright.sync_api import sync_playwright
    base, env = forms_server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        sign_in(page, base)
        page.goto(f"{base}/deployments/camunda_forms/model")
        page.wait_for_selector("#modeller-form[data-ready=true]", timeout=30000)
        page.click('g[data-element-id="review_request"]', force=True)
        page.wait_for_selector("#form-designer-editor[data-form='review.form']", timeout=10000)
        assert page.locator("#form-designer-editor .fjs-form-field").count() >= 8  # review.form's fields, drawn
        # Design: a new text field from the palette (keyboard: Enter on a palette entry adds it at the end),
        # then its label, key and "required" in the form editor's properties panel.
        page.focus(".fjs-palette-field[data-field-type='textfield']")
        page.keyboard.press("Enter")
        page.locator("#form-designer-editor .fjs-form-field-textfield").last.click()  # select it
        page.click("#form-designer-editor .bio-properties-panel-group-header-title:text-is('General')")
        page.fill("#bio-properties-panel-label", "The family's view")
        key = page.locator("#bio-properties-panel-key")
        key.fill("family_view")
        key.press("Tab")
        page.click("#form-designer-editor .bio-properties-panel-group-header-title:text-is('Validation')")
        page.check("#bio-properties-panel-required")
        page.screenshot(path=str(ARTIFACTS / "form-designer.png"), full_page=True)
        page.fill("#comment", "Ask for the family's view")
        page.click("#save-and-review")
        page.wait_for_selector("text=The diagram is valid")
        assert "review.form changed" in page.inner_text("#file-changes")
        page.click("text=Deploy version 2")
        page.wait_for_selector("text=version 2 deployed")

        instance = api_call(base, env, "/api/instances", token_user="pat.editor", body={
            "protocol": "camunda_forms", "data": {"case_reference": "ABC-1234", "request": "Support at home, please"}})
        assert instance["version"] == 2
        page.goto(f"{base}/tasks/{instance['ready_tasks'][0]['id']}")
        assert page.is_hidden("#f-referral_reason")  # shown only for a referral
        page.select_option("#f-decision", "refer")
        assert page.is_visible("#f-referral_reason")
        page.fill("#f-referral_reason", "Needs a manager's decision")
        page.fill("#f-hours", "6")
        page.click("form.task-form button[type=submit]")
        assert page.evaluate("document.querySelector('#f-family_view').validity.valueMissing")  # required, in the browser
        page.fill("#f-family_view", "They agree with the plan")
        page.screenshot(path=str(ARTIFACTS / "designed-form-task.png"), full_page=True)
        page.click("form.task-form button[type=submit]")
        page.wait_for_selector("text=completed.")
        browser.close()
    data = api_call(base, env, f"/api/instances/{instance['id']}", token_user="pat.editor")["data"]
    assert data["family_view"] == "They agree with the plan" and data["referral_reason"] == "Needs a manager's decision"
    assert "urgent_reason" not in data


def test_opening_and_saving_a_seed_diagram_in_the_modeller_shows_no_change(seed_server):
    from playwright.sync_api import sync_playwright
    base, _env = seed_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        sign_in(page, base)
        page.goto(f"{base}/deployments/partnership_escalation/model")  # its boundary events say cancelActivity="true"
        page.wait_for_selector("#modeller-form[data-ready=true]", timeout=30000)
        page.click("#save-and-review")
        page.wait_for_selector("text=The diagram is valid")
        assert "identical to version 1" in page.inner_text("#no-change")
        assert page.inner_text("#changed").strip() == "" and page.locator("#change-details").count() == 0
        page.wait_for_selector("#review-new[data-ready=true]", timeout=30000)
        marked = page.evaluate("""() => [document.getElementById('review-new').dataset.added,
            document.getElementById('review-new').dataset.changed, document.getElementById('review-old').dataset.removed]""")
        assert marked == ["", "", ""]
        assert page.locator(".diff-added, .diff-changed, .diff-removed").count() == 3  # only the legend
        browser.close()
