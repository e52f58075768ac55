"""Issue 13: the JSON API is described by an OpenAPI 3.1 document generated from the code's own request and
response models, and schemathesis finds no server error and no response outside that description."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from conftest import make_chain, token_for
from workflow_app.extensions import db

EXAMPLES = 25  # per operation and generation mode
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def _open_escalation(api) -> dict:
    """A real two-party escalation, so the generated calls meet real instances and tasks."""
    make_chain("Northfield Academy", [("sam.patel", ["Professional"]), ("helen.walsh", ["Line Manager"])])
    make_chain("Children's Social Care", [("jo.reed", ["Professional"]), ("dan.fox", ["Line Manager"])])
    return api.as_user("sam.patel").start("partnership_escalation", {
        "case_reference": "CASE-42", "raising_agency": "Northfield Academy", "other_agency": "Children's Social Care",
        "other_professional": "jo.reed", "disagreement": "Referral closed with no further action.",
        "desired_outcome": "A child and family assessment."})


def test_the_description_is_openapi_3_1_and_covers_every_api_route(app, api):
    document = app.test_client().get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint != "api.openapi":
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == documented
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    start = document["paths"]["/api/instances"]["post"]
    assert start["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("StartInstanceBody")


def test_a_body_that_does_not_match_its_model_gets_a_message_per_field(api):
    response = api.client.post("/api/instances", json={"data": []},
                               headers={"Authorization": f"Bearer {token_for('tester')}"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] and set(body["fields"]) == {"protocol", "data"}
    response = api.client.post("/api/tasks/x/reassign", json=["not", "an", "object"],
                               headers={"Authorization": f"Bearer {token_for('tester')}"})
    assert response.status_code == 400
    assert response.get_json()["fields"] == {"body": "Send a JSON object as the request body"}


def test_a_response_that_drifts_from_its_model_is_caught(app, api, monkeypatch):
    """A presenter that grows an undocumented field cannot publish it silently: the response check fails."""
    from workflow_app.web import api as api_module
    monkeypatch.setattr(api_module, "protocol_dict", lambda d: {"key": d.protocol_key, "secret": "x",
                                                                "name": d.name, "version": d.version})
    response = api.client.get("/api/protocols", headers={"Authorization": f"Bearer {token_for('tester')}"})
    assert response.status_code == 500


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(app, api, mode):
    """Every operation, with bounded generated examples (valid requests, then invalid ones), as a signed-in
    professional of a real escalation. Failures are collected over all operations and reported together."""
    _open_escalation(api)
    token = token_for("sam.patel")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def call(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:  # an operation with no parameters or body has no invalid request to send
            assert mode is GenerationMode.NEGATIVE
        except Exception as exc:  # noqa: BLE001 - one operation's failure must not hide the others'
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)


def test_a_protocols_start_form_is_published_so_an_integration_need_not_guess(api):
    protocol = api.request("GET", "/api/protocols/partnership_escalation")
    fields = {f["name"]: f for f in protocol["start_form"]["fields"]}
    assert protocol["key"] == "partnership_escalation" and protocol["version"] == 1
    assert fields["case_reference"]["required"] is True
    assert {"raising_agency", "other_agency", "disagreement"} <= set(fields)
    assert api.request("GET", "/api/protocols/no_such_protocol", expect=404)["error"]
