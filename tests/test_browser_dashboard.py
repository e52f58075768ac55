"""The process owner's dashboard in a real browser (Playwright driving the Debian Chromium) on the demo year: the
owner lands on it, sees the trend chart, the heat map with a figure overlay on every task escalations reached
and its minimap, switches the colouring to breach rates, and axe-core finds no violation at any impact. The
instance page's diagram has its minimap too. Screenshot: test-artifacts/owner-dashboard.png (the README's)."""
from __future__ import annotations

import json
import re

import pytest

from test_browser import ARTIFACTS
from test_browser_personas import accessibility_problems, browser, demo_server, pytestmark  # noqa: F401

SHOT = ARTIFACTS / "owner-dashboard.png"


@pytest.fixture
def owner_page(demo_server, browser):  # noqa: F811
    # bypass_csp: only so axe-core can be injected; the app's own pages run under its CSP as usual
    page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{demo_server}/login")
    page.fill("#username", "owner")
    page.fill("#password", "demo-password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    yield page, errors
    page.context.close()


def test_owner_lands_on_the_dashboard_with_the_heat_map_and_minimap(demo_server, owner_page):
    page, errors = owner_page
    assert page.url.endswith("/reports")
    page.wait_for_selector("#heatmap[data-ready=true]")
    page.wait_for_selector("canvas.chart[data-ready=true]")
    page.wait_for_load_state("networkidle")
    assert int(page.inner_text("#figure-total .app-figure__number")) > 0  # the demo year's escalations
    view = page.evaluate("async (src) => (await fetch(src)).json()", page.get_attribute("#heatmap", "data-src"))
    drawn = page.evaluate("Array.from(document.querySelectorAll('#heatmap [data-element-id]'))"
                          ".map((e) => e.dataset.elementId)")
    reached = [e for e in view["elements"] if e["id"] in drawn]
    overlays = page.locator("#heatmap .heat-overlay:not(.heat-overlay--none)")
    assert reached and overlays.count() == len(reached)
    # Every other user task of the diagram says that no escalation reached it.
    user_tasks = set(re.findall(r'<(?:bpmn:)?userTask id="([^"]+)"', view["xml"]))
    assert page.locator("#heatmap .heat-overlay--none").count() == len(user_tasks - {e["id"] for e in reached})
    # Numbers, not colour alone: the busiest task's overlay says how often it was reached.
    busiest = max(reached, key=lambda e: e["reached"])
    busiest_overlay = page.locator(f".djs-overlays[data-container-id='{busiest['id']}'] .heat-overlay")
    assert busiest_overlay.inner_text().splitlines()[0] == f"{busiest['reached']} reached"
    assert "heat-step-4" in busiest_overlay.get_attribute("class")  # the darkest step of the reach scale
    assert page.locator("#heatmap-legend li").count() >= 1
    # The minimap is open from the start, and the zoom buttons of the instance viewer are there too.
    assert page.locator("#heatmap .djs-minimap.open").count() == 1
    page.click("button[aria-label='Zoom in']")
    # Colour by breach rate: the legend follows.
    page.check("#heat-breach")
    assert page.get_attribute("#heatmap-legend", "data-kind") == "breach"
    assert page.locator("#heatmap-legend li").count() == 5
    problems = accessibility_problems(page)
    assert problems == [], json.dumps(problems, indent=1)
    page.check("#heat-reach")
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOT), full_page=True)
    assert not errors, errors


def test_instance_diagram_has_a_minimap_and_zoom_buttons(demo_server, owner_page):
    page, errors = owner_page
    page.goto(f"{demo_server}/instances?protocol=partnership_escalation&status=running")
    page.locator("main table tbody a[href^='/instances/']").first.click()
    page.wait_for_selector("#diagram[data-ready=true]")
    assert page.locator("#diagram .djs-minimap.open").count() == 1
    for label in ("Zoom in", "Zoom out", "Fit the whole diagram", "100% (actual size)"):
        assert page.locator(f"button[aria-label='{label}']").count() == 1
    # Readable at first sight: never fitted below 85 % (11 px labels stay legible).
    assert page.evaluate("document.querySelector('#diagram .viewport').transform.baseVal.consolidate().matrix.a") >= 0.85
    assert not errors, errors
