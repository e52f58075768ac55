"""Every seed protocol deploys at start-up and can be raised from the start page."""
from __future__ import annotations

import re

from conftest import PASSWORD, drop_everything

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


def test_every_lane_is_a_role_held_by_a_demo_user(app_factory, clock):
    """`flask setup` gives every role of every protocol a demo person, so each inbox can be tried."""
    app = app_factory(deploy=False)
    with app.app_context():
        from workflow_app.extensions import db
        drop_everything()
        result = app.test_cli_runner().invoke(args=["setup"])
        assert result.exit_code == 0, result.output
        from workflow_app.services.deployments import bundle_for, latest_deployments
        from workflow_app.services.people import list_users
        held = {role.name for user in list_users() for role in user.roles}
        lanes = {lane for d in latest_deployments() for lane in bundle_for(d).lanes}
        assert len(latest_deployments()) == 5
        assert lanes <= held
