"""Rectification: a corrected value shows everywhere; the old one only to the data protection officer."""
from __future__ import annotations

import html

from conftest import PASSWORD, make_user
from test_partnership_escalation import PROTOCOL, complete, other, people, raising, ready, start  # noqa: F401
from workflow_app.services import people as people_service

OFFICER = "dpo"
OLD, NEW = "Referral closed with no further action.", "Referral closed after a strategy discussion."


def signed_in(app, username):
    client = app.test_client()
    client.post("/login", data={"username": username, "password": PASSWORD})
    return client


def test_a_rectified_value_shows_everywhere_and_the_old_one_only_to_the_officer(app, api, people):
    instance_id = start(api)
    started = next(h for h in api.instance(instance_id)["history"] if h["kind"] == "started")
    make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
    officer = signed_in(app, OFFICER)
    entry_id = officer_entry_id(officer, instance_id)
    response = officer.post(f"/governance/instances/{instance_id}/rectify", data={
        "entry": entry_id, "field": "disagreement", "value": NEW, "reason": "The school asked: wrong summary."})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert started["data"]["disagreement"] == OLD

    # Everywhere people look: the API, the instance page, the exports, the printable record.
    view = api.instance(instance_id)
    assert view["data"]["disagreement"] == NEW
    rectified = [h for h in view["history"] if h["kind"] == "rectified"]
    assert rectified and rectified[0]["data"]["value"] == NEW and rectified[0]["data"]["reason"]
    owner = signed_in(app, "tester")
    for url in (f"/instances/{instance_id}", f"/instances/{instance_id}/history.csv",
                f"/instances/{instance_id}/history.json", f"/instances/{instance_id}/record"):
        body = html.unescape(owner.get(url).get_data(as_text=True))
        assert NEW in body and OLD not in body, url
    assert OLD not in str(view)
    # The process goes on with the corrected value (the engine's state holds it too).
    tasks = ready(api, instance_id)
    complete(api, tasks["stage1_discussion"], raising("resolved"))
    assert api.instance(instance_id)["data"]["disagreement"] == NEW

    # Only the data protection officer sees the value it replaced.
    page = html.unescape(officer.get(f"/governance/instances/{instance_id}/rectify").get_data(as_text=True))
    assert OLD in page and NEW in page
    assert owner.get(f"/governance/instances/{instance_id}/rectify").status_code == 403


def test_a_correction_needs_a_reason_and_a_field_the_form_had(app, api, people):
    instance_id = start(api)
    make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
    officer = signed_in(app, OFFICER)
    entry_id = officer_entry_id(officer, instance_id)
    url = f"/governance/instances/{instance_id}/rectify"
    page = officer.post(url, data={"entry": entry_id, "field": "disagreement", "value": NEW, "reason": " "})
    assert page.status_code == 400 and "Say why the value is corrected" in page.get_data(as_text=True)
    page = officer.post(url, data={"entry": entry_id, "field": "no_such_field", "value": NEW, "reason": "x"})
    assert page.status_code == 400 and "has no field" in html.unescape(page.get_data(as_text=True))
    assert api.instance(instance_id)["data"]["disagreement"] == OLD


def officer_entry_id(client, instance_id: int) -> int:
    """The history entry of the start form, as the rectification page offers it."""
    import re
    page = client.get(f"/governance/instances/{instance_id}/rectify").get_data(as_text=True)
    return int(re.search(r'<option value="(\d+)"', page).group(1))
