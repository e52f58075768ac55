"""Every seed protocol deploys at start-up and can be raised from the start page."""
from __future__ import annotations

import re

from conftest import PASSWORD

PROTOCOLS = {
    "wraparound_conflict_resolution": "Wraparound Milwaukee system and provider conflict resolution (#010)",
    "partnership_escalation": "Safeguarding Children Partnership escalation",
    "wsscp_escalation": "WSSCP escalation policy (between external agencies)",
    "cpa_iro_dispute_resolution": "CPA/IRO dispute resolution",
    "case_manager_mediation": "Case manager conflict resolution: mediator and advocate",
}


def test_all_five_protocols_are_deployed_and_listed(app, api):
    listed = {p["key"]: (p["name"], p["version"]) for p in api.request("GET", "/api/protocols")}
    assert listed == {key: (name, 1) for key, name in PROTOCOLS.items()}
    client = app.test_client()
    client.post("/login", data={"username": "tester", "password": PASSWORD})
    page = client.get("/protocols").get_data(as_text=True)
    for key, name in PROTOCOLS.items():
        assert f'href="/protocols/{key}/start"' in page
        assert name.replace("&", "&amp;") in page
        form = client.get(f"/protocols/{key}/start").get_data(as_text=True)
        assert re.search(r'name="case_reference"', form), key
