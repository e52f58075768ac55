"""Camunda Forms (form-js JSON, as Camunda Modeler saves them) linked from a start event (camunda:formKey
"camunda-forms:deployment:request.form") and a user task (camunda:formRef): rendered as task forms, checked on the
server like camunda:formData forms (required, min/max, patterns, conditional fields), and refused at deploy when
the form is missing or asks for what the engine cannot do."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from conftest import PASSWORD, Api, make_user
from workflow_app.engine.forms import evaluate_condition, parse_condition
from workflow_app.services import deployments

FORMS = Path(__file__).parent / "diagrams" / "forms"
BPMN = (FORMS / "camunda_forms.bpmn").read_text()
REQUEST_FORM = (FORMS / "request.form").read_text()
REVIEW_FORM = (FORMS / "review.form").read_text()
START = {"case_reference": "ABC-1234", "request": "Two hours of support a week"}
VALID = {"decision": "approve", "hours": 4, "urgent": False}


@pytest.fixture
def forms_app(app_factory, clock):
    return app_factory(BPMN_DIR=FORMS, DMN_DIR=FORMS)  # the diagram's .form files sit beside it


@pytest.fixture
def api(forms_app):
    with forms_app.app_context():
        yield Api(forms_app.test_client())


@pytest.fixture
def browser(forms_app):
    """A signed-in HTML client (tester holds the Reviewer role of the test diagram's lane)."""
    with forms_app.app_context():
        client = forms_app.test_client()
        client.post("/login", data={"username": "tester", "password": PASSWORD})
        yield client


def review_task(api) -> str:
    instance = api.start("camunda_forms", START)
    return api.ready(instance["id"])["id"]


def test_the_task_form_shows_the_designed_fields_with_their_rules(api, browser):
    task_id = review_task(api)
    fields = {f["name"]: f for f in api.request("GET", f"/api/tasks/{task_id}")["form"]["fields"]}
    assert fields["decision"]["type"] == "enum" and fields["decision"]["required"] is True
    assert [c["value"] for c in fields["decision"]["choices"]] == ["approve", "refer", "reject"]
    assert fields["referral_reason"]["hide_when"] == '=decision != "refer"'
    assert fields["urgent_reason"]["hide_when"] == "=not(urgent)"  # the group's condition reaches its fields
    page = browser.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'type="number" step="any" name="hours"' in page and 'min="1"' in page and 'max="40"' in page
    assert 'name="notify--family"' in page and 'type="radio" name="channel" value="email" checked' in page
    assert "Decide on the request. A referral needs a reason." in page  # a text component
    assert 'data-hide="[&#34;cmp&#34;, &#34;!=&#34;' in page  # the condition, for static/app.js


def test_invalid_answers_are_refused_field_by_field(api):
    task_id = review_task(api)
    refused = api.complete(task_id, {"decision": "maybe", "hours": 41, "contact_email": "not an address",
                                     "notify": ["family", "police"]}, expect=400)
    assert refused["fields"] == {"decision": "Choose one of: approve, refer, reject", "hours": "Must be at most 40",
                                 "contact_email": "Enter an e-mail address",
                                 "notify": "Choose from: family, school"}


def test_a_hidden_field_is_not_required_and_not_stored(api):
    task_id = review_task(api)
    result = api.complete(task_id, {**VALID, "referral_reason": "sent anyway", "urgent_reason": "also sent"})
    assert result["status"] == "resolved"
    data = api.instance(result["id"])["data"]
    assert data["decision"] == "approve" and data["hours"] == 4 and data["channel"] == "email"
    assert "referral_reason" not in data and "urgent_reason" not in data


def test_a_shown_field_is_required_and_checked(api):
    task_id = review_task(api)
    refused = api.complete(task_id, {**VALID, "decision": "refer", "urgent": True, "referral_reason": "no"},
                           expect=400)
    assert refused["fields"] == {"referral_reason": "Must be at least 5 characters",
                                 "urgent_reason": "This field is required"}
    result = api.complete(task_id, {**VALID, "decision": "refer", "referral_reason": "Needs a manager's view",
                                    "urgent": True, "urgent_reason": "Court date", "respond_by": "2026-12-04",
                                    "notify": ["school"]})
    data = api.instance(result["id"])["data"]
    assert data["referral_reason"] == "Needs a manager's view" and data["respond_by"] == "2026-12-04"
    assert data["notify"] == ["school"]


def test_the_html_form_sends_checklists_and_drops_hidden_fields(api, browser):
    task_id = review_task(api)
    response = browser.post(f"/tasks/{task_id}", data={"decision": "approve", "hours": "2.5", "channel": "phone",
                                                       "notify--family": "true", "referral_reason": "ignored"})
    assert response.status_code == 302
    instance_id = api.request("GET", f"/api/tasks/{task_id}")["instance_id"]
    data = api.instance(instance_id)["data"]
    assert data["hours"] == 2.5 and data["notify"] == ["family"] and data["urgent"] is False
    assert "referral_reason" not in data


def test_the_start_form_checks_its_pattern(api):
    refused = api.start("camunda_forms", {**START, "case_reference": "abc-12"}, expect=400)
    assert refused["fields"] == {"case_reference": "This is not in the expected format"}


def upload(client, bpmn: str, forms: dict[str, str]):
    data = {"bpmn": (io.BytesIO(bpmn.encode()), "camunda_forms.bpmn"), "create_roles": "on",
            "form": [(io.BytesIO(text.encode()), name) for name, text in forms.items()]}
    return client.post("/deployments/new", data=data, content_type="multipart/form-data")


def test_a_form_ref_to_a_form_not_uploaded_is_refused_with_file_line_and_element(browser):
    response = upload(browser, BPMN, {"request.form": REQUEST_FORM})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    line = BPMN.splitlines().index(next(x for x in BPMN.splitlines() if 'camunda:formRef="review_form"' in x)) + 1
    assert (f"<code>camunda_forms.bpmn</code>, line {line}, element <code>review_request</code>: the element uses "
            "the Camunda form &#39;review_form&#39;, but no .form file uploaded with the diagram has that id") in page


@pytest.mark.parametrize("change,message", [
    (lambda c: c[1].update(type="filepicker"), "form component type &#39;filepicker&#39; is not supported"),
    (lambda c: c[2].update(conditional={"hide": "=date(decision) > 3"}),
     "&#39;date(...)&#39; calls a function"),
    (lambda c: c[2].update(conditional={"hide": "=someone_else = 1"}),
     "refers to &#39;someone_else&#39;, which is not a field of this form"),
    (lambda c: c[1].update(valuesKey="options_from_a_variable"),
     "come from &#39;options_from_a_variable&#39; (valuesKey), which this engine cannot supply"),
])
def test_a_form_asking_for_what_the_engine_cannot_do_is_refused_at_deploy(browser, change, message):
    schema = json.loads(REVIEW_FORM)
    change(schema["components"])
    response = upload(browser, BPMN, {"request.form": REQUEST_FORM, "review.form": json.dumps(schema, indent=2)})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<code>review.form</code>, line" in page and message in page


def test_uploaded_forms_are_deployed_with_the_diagram_and_reviewed(browser, api):
    changed = json.loads(REVIEW_FORM)
    changed["components"][3]["validate"]["max"] = 60
    page = upload(browser, BPMN, {"request.form": REQUEST_FORM, "review.form": json.dumps(changed)}).get_data(as_text=True)
    assert "<code>review.form</code> changed" in page
    deployment = deployments.latest_deployment("camunda_forms")
    assert sorted(deployment.dmn_files) == ["request.form", "review.form"]


@pytest.mark.parametrize("expression,data,hidden", [
    ('=decision != "refer"', {"decision": "approve"}, True),
    ('=decision != "refer"', {"decision": "refer"}, False),
    ('=decision != "refer"', {}, True),  # null != "refer"
    ("=not(urgent)", {"urgent": False}, True),
    ("=not(urgent)", {}, None),  # not(null) is null: shown
    ("=urgent", {"urgent": True}, True),
    ("=hours > 10 and urgent", {"hours": 12, "urgent": True}, True),
    ("=hours > 10 or urgent", {"hours": "12", "urgent": False}, None),  # "12" > 10 compares text with a number
    ('=decision = "reject" or (hours >= 5 and not(urgent))', {"decision": "approve", "hours": 5, "urgent": False}, True),
])
def test_hide_conditions_follow_feel(expression, data, hidden):
    assert evaluate_condition(parse_condition(expression), data) is hidden


def test_camunda_form_data_forms_gain_patterns(app):
    from workflow_app.engine import parse_bundle
    from workflow_app.services.errors import InvalidInput
    from workflow_app.services.form_validation import validate_submission
    source = (FORMS.parent / "timer_kinds.bpmn").read_text().replace(
        '<camunda:constraint name="required" />', '<camunda:constraint name="required" />'
        '<camunda:constraint name="pattern" config="T-[0-9]+" />', 1)
    bundle = parse_bundle(source, "timer_kinds.bpmn", {})
    with pytest.raises(InvalidInput) as refused:
        validate_submission(bundle.start_form, {"case_reference": "X-1"})
    assert refused.value.field_errors == {"case_reference": "This is not in the expected format"}
    assert validate_submission(bundle.start_form, {"case_reference": "T-1"})["case_reference"] == "T-1"


# -- the deployment review: what changed, element by element; a re-saved file is no new version ---------------

ROOT = FORMS.parents[2]
SEED = (ROOT / "bpmn" / "partnership_escalation.bpmn").read_text()


@pytest.fixture
def seed_editor(app):  # the repository's protocols deployed
    with app.app_context():
        client = app.test_client()
        client.post("/login", data={"username": "tester", "password": PASSWORD})
        yield client


def upload_seed(client, bpmn: str):
    data = {"bpmn": (io.BytesIO(bpmn.encode()), "partnership_escalation.bpmn"),
            "dmn": [(io.BytesIO((ROOT / "dmn" / "partnership_routing.dmn").read_bytes()), "partnership_routing.dmn")]}
    return client.post("/deployments/new", data=data, content_type="multipart/form-data").get_data(as_text=True)


def test_the_review_shows_before_and_after_for_each_changed_element(seed_editor):
    changed = SEED.replace('name="No response in 2 working days"', 'name="No response in 3 working days"', 1)
    page = upload_seed(seed_editor, changed)
    row = re.search(r'<tr data-element="stage1_ack_deadline">(.*?)</tr>', page, re.S).group(1)
    assert "<code>name</code>" in row and "<del>No response in 2 working days</del>" in row
    assert "<ins>No response in 3 working days</ins>" in row
    assert 'id="review-new"' in page and 'id="running-bpmn-xml"' in page  # drawn and marked by static/review.js


def test_a_file_saved_again_with_defaults_left_out_and_shapes_reordered_is_no_new_version(seed_editor, app):
    # what bpmn-js does on save: attributes at their default value (cancelActivity="true") are not written,
    # indentation changes, and the layout's shapes come in another order
    resaved = SEED.replace(' cancelActivity="true"', "").replace("    ", "  ")
    plane_start = resaved.index("<bpmndi:BPMNShape")
    plane_end = resaved.index("</bpmndi:BPMNPlane>")
    shapes = re.findall(r"<bpmndi:BPMN(?:Shape|Edge) .*?</bpmndi:BPMN(?:Shape|Edge)>", resaved[plane_start:plane_end], re.S)
    resaved = resaved[:plane_start] + "\n".join(reversed(shapes)) + resaved[plane_end:]
    page = upload_seed(seed_editor, resaved)
    assert "identical to version 1 (only their formatting differs)" in page and 'id="change-details"' not in page
    from test_policy import confirm_form
    seed_editor.post("/deployments/confirm", data=confirm_form(page))
    assert deployments.latest_deployment("partnership_escalation").version == 1
