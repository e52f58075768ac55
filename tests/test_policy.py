"""Policy teams: upload → validate → review changes → deploy a new version; running escalations keep theirs."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from conftest import PASSWORD, Api, make_user
from test_partnership_escalation import PROTOCOL, START, people  # noqa: F401  (people: a fixture)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (ROOT / "bpmn" / "partnership_escalation.bpmn").read_text()
ROUTING = (ROOT / "dmn" / "partnership_routing.dmn").read_text()


@pytest.fixture
def editor(app):
    with app.app_context():
        client = app.test_client()
        client.post("/login", data={"username": "tester", "password": PASSWORD})  # tester is a Policy Editor
        yield client


def upload(client, bpmn: str, dmn: str | None = ROUTING, **form):
    data = {"bpmn": (io.BytesIO(bpmn.encode()), "partnership_escalation.bpmn"), **form}
    if dmn is not None:
        data["dmn"] = [(io.BytesIO(dmn.encode()), "partnership_routing.dmn")]
    return client.post("/deployments/new", data=data, content_type="multipart/form-data")


def confirm_form(preview_html: str) -> dict:
    """The fields of the review page's deploy form, as the browser would send them."""
    import html
    form = {"bpmn_name": re.search(r'name="bpmn_name" value="([^"]+)"', preview_html).group(1),
            "bpmn_xml": html.unescape(re.search(r'<textarea name="bpmn_xml" hidden>(.*?)</textarea>', preview_html, re.S).group(1)),
            "dmn_name": re.findall(r'name="dmn_name" value="([^"]+)"', preview_html),
            "dmn_xml": [html.unescape(t) for t in re.findall(r'<textarea name="dmn_xml" hidden>(.*?)</textarea>', preview_html, re.S)],
            "comment": "Stage 1 now 3 working days"}
    return form


def due_dates(body: dict) -> dict[str, str]:
    return {t["name"]: t["due_at"] for t in body["ready_tasks"]}


def test_new_version_is_reviewed_then_deployed_and_running_escalations_keep_theirs(app, api, people, editor, clock):
    raiser = api.as_user("sam.patel")
    old = raiser.start(PROTOCOL, START)
    assert old["version"] == 1
    assert due_dates(old) == {"stage1_discussion": "2026-12-03T09:00:00+00:00",
                              "stage1_acknowledge": "2026-12-03T09:00:00+00:00"}
    # Both sides' Stage 1 deadlines (the first two timers of the file) become 3 working days.
    changed = SOURCE.replace("working_days(2)", "working_days(3)", 2)
    preview = upload(editor, changed)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "The diagram is valid" in page
    listed = re.search(r'<ul id="changed">(.*?)</ul>', page, re.S).group(1)
    assert sorted(re.findall(r"<code>([^<]+)</code>", listed)) == [  # each timer and its definition
        "stage1_ack_deadline", "stage1_ack_deadline_timer", "stage1_deadline", "stage1_deadline_timer"]
    assert '<ul id="added"></ul>' in page and '<ul id="removed"></ul>' in page
    done = editor.post("/deployments/confirm", data=confirm_form(page))
    assert done.status_code == 302
    assert {p["key"]: p["version"] for p in api.request("GET", "/api/protocols")}[PROTOCOL] == 2
    versions = editor.get("/deployments").get_data(as_text=True)
    assert "Stage 1 now 3 working days" in versions and "tester" in versions
    new = raiser.start(PROTOCOL, {**START, "case_reference": "CASE-43"})
    assert new["version"] == 2
    assert due_dates(new) == {"stage1_discussion": "2026-12-04T09:00:00+00:00",
                              "stage1_acknowledge": "2026-12-04T09:00:00+00:00"}
    # The escalation started on version 1 goes on with version 1's diagram and deadline.
    still_old = api.instance(old["id"])
    assert still_old["version"] == 1 and due_dates(still_old) == due_dates(old)
    assert "working_days(2)" in api.request("GET", f"/api/instances/{old['id']}/diagram")["xml"]


def test_identical_files_are_a_no_op(app, api, editor):
    page = upload(editor, SOURCE).get_data(as_text=True)
    assert "identical to version 1" in page
    editor.post("/deployments/confirm", data=confirm_form(page))
    assert {p["key"]: p["version"] for p in api.request("GET", "/api/protocols")}[PROTOCOL] == 1


@pytest.mark.parametrize("bpmn,dmn,message", [
    (SOURCE.replace("<bpmn:process", "<bpmn:process oops", 1), ROUTING, "not well-formed XML"),
    # A decision already deployed need not be uploaded again; one deployed nowhere is refused.
    (SOURCE.replace('camunda:decisionRef="partnership_routing"', 'camunda:decisionRef="partnership_routing_v9"', 1),
     None, "refers to decision 'partnership_routing_v9', which no DMN file defines"),
    (SOURCE.replace('name="Line Manager"', 'name="Area Manager"'), ROUTING,
     "lane 'Area Manager' names a role nobody can hold yet"),
])
def test_bad_uploads_are_refused_with_the_reason_and_deploy_nothing(app, api, editor, bpmn, dmn, message):
    response = upload(editor, bpmn, dmn)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was deployed." in page
    assert message.replace("'", "&#39;") in page
    assert {p["key"]: p["version"] for p in api.request("GET", "/api/protocols")}[PROTOCOL] == 1


def test_a_new_role_can_be_created_on_purpose(app, api, editor):
    renamed = SOURCE.replace('name="Line Manager"', 'name="Area Manager"')
    page = upload(editor, renamed, create_roles="on").get_data(as_text=True)
    assert "The diagram is valid" in page
    editor.post("/deployments/confirm", data={**confirm_form(page), "create_roles": "on"})
    from workflow_app.services.people import find_role
    assert find_role("Area Manager") is not None


def test_only_policy_editors_deploy(app, api):
    make_user("jo.reed", roles=["Professional"], agency="Children's Social Care")
    client = app.test_client()
    client.post("/login", data={"username": "jo.reed", "password": PASSWORD})
    assert client.get("/deployments").status_code == 403
    assert upload(client, SOURCE.replace("working_days(2)", "working_days(9)", 1)).status_code == 403
    assert {p["key"]: p["version"] for p in api.request("GET", "/api/protocols")}[PROTOCOL] == 1


CAMUNDA_MODELER_FILE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_1x2" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler" exporterVersion="5.31.0" modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.22.0">
  <bpmn:process id="camunda_style" name="Camunda style" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:laneSet id="LaneSet_1"><bpmn:lane id="Lane_1" name="Professional"><bpmn:flowNodeRef>StartEvent_1</bpmn:flowNodeRef><bpmn:flowNodeRef>Activity_0abc</bpmn:flowNodeRef><bpmn:flowNodeRef>Event_0end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Activity_0abc" name="Record the discussion" camunda:assignee="${initiator}">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="outcome" label="Outcome" type="enum">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
            <camunda:value id="resolved" name="Resolved" />
            <camunda:value id="unresolved" name="Unresolved" />
          </camunda:formField>
          <camunda:formField id="held_on" label="Held on" type="date" />
          <camunda:formField id="minutes" label="Minutes" type="long" defaultValue="30" />
        </camunda:formData>
        <camunda:inputOutput><camunda:inputParameter name="x">1</camunda:inputParameter></camunda:inputOutput>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_1</bpmn:incoming><bpmn:outgoing>Flow_2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="Event_0end"><bpmn:incoming>Flow_2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Activity_0abc" />
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Activity_0abc" targetRef="Event_0end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1"><bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="camunda_style">
    <bpmndi:BPMNShape id="Lane_1_di" bpmnElement="Lane_1" isHorizontal="true"><dc:Bounds x="150" y="60" width="400" height="120" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="_BPMNShape_StartEvent_2" bpmnElement="StartEvent_1"><dc:Bounds x="179" y="99" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="Activity_0abc_di" bpmnElement="Activity_0abc"><dc:Bounds x="270" y="77" width="100" height="80" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="Event_0end_di" bpmnElement="Event_0end"><dc:Bounds x="432" y="99" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="Flow_1_di" bpmnElement="Flow_1"><di:waypoint x="215" y="117" /><di:waypoint x="270" y="117" /></bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="Flow_2_di" bpmnElement="Flow_2"><di:waypoint x="370" y="117" /><di:waypoint x="432" y="117" /></bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_a_file_written_by_camunda_modeler_deploys_unchanged_and_renders_its_form(app, api, editor):
    data = {"bpmn": (io.BytesIO(CAMUNDA_MODELER_FILE.encode()), "camunda_style.bpmn")}
    page = editor.post("/deployments/new", data=data, content_type="multipart/form-data").get_data(as_text=True)
    assert "The diagram is valid" in page and "This is a new protocol" in page
    assert editor.post("/deployments/confirm", data=confirm_form(page)).status_code == 302
    instance = api.start("camunda_style", {})
    task = api.request("GET", f"/api/tasks/{instance['ready_tasks'][0]['id']}")
    fields = {f["name"]: (f["type"], f["required"], f["default"]) for f in task["form"]["fields"]}
    assert fields == {"outcome": ("enum", True, None), "held_on": ("date", False, None), "minutes": ("long", False, "30")}
    form_page = editor.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'name="outcome"' in form_page and 'type="date" name="held_on"' in form_page and 'value="30"' in form_page
    result = api.complete(task["id"], {"outcome": "resolved", "held_on": "2026-12-01"})
    assert result["status"] == "closed"  # its end event states no outcome: closed, with the reason in history


def test_repository_diagrams_pass_bpmnlint_with_the_project_rules():
    import subprocess
    binary = ROOT / "node_modules" / ".bin" / "bpmnlint"
    result = subprocess.run([str(binary), *sorted(str(p) for p in (ROOT / "bpmn").glob("*.bpmn"))], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 errors" in result.stdout or "error" not in result.stdout


def test_bpmnlint_errors_stop_an_upload(app, api, editor):
    # A second, identical flow from the start event: the engine would accept it, the lint rules do not.
    duplicate = '<bpmn:sequenceFlow id="flow_again" sourceRef="disagreement_raised" targetRef="open_stage_1" />'
    broken = SOURCE.replace("</bpmn:process>", duplicate + "\n  </bpmn:process>", 1)
    response = upload(editor, broken)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "bpmnlint rule no-duplicate-sequence-flows" in page


BREACH_TOLD = '<camunda:property name="recipients" value="@raising,@counterpart" />'  # first: stage1_breach_notified


def test_a_notification_that_names_nobody_is_refused_with_file_line_and_element(app, api, editor):
    """A policy officer who types a recipient nobody holds is told where, before anything is deployed."""
    assert SOURCE.index(BREACH_TOLD) > SOURCE.index('id="stage1_breach_notified"')
    broken = SOURCE.replace(BREACH_TOLD, '<camunda:property name="recipients" value="@raising,Chief Wizard" />', 1)
    response = upload(editor, broken)
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was deployed." in page
    line = SOURCE[:SOURCE.index('id="stage1_breach_notified"')].count("\n") + 1
    assert (f"<code>partnership_escalation.bpmn</code>, line {line}, element <code>stage1_breach_notified</code>: "
            "recipients names &#39;Chief Wizard&#39;, which is neither a lane of this diagram nor a role anyone can "
            "hold, so nobody would be told") in page
    assert {p["key"]: p["version"] for p in api.request("GET", "/api/protocols")}[PROTOCOL] == 1
    # Ticking "create roles named by new lanes" does not make a recipient out of a name: still refused.
    assert upload(editor, broken, create_roles="on").status_code == 422
    from workflow_app.services.people import find_role
    assert find_role("Chief Wizard") is None


def test_the_review_says_which_modeller_settings_this_engine_will_not_use(app, api, editor):
    """Settings entered in Camunda Modeler's properties panel that the engine does not act on are listed before
    deploying, each with its line, element and what happens instead; the diagram still deploys."""
    with_settings = SOURCE.replace(
        '<bpmn:userTask id="stage1_discussion"',
        '<bpmn:userTask id="stage1_discussion" camunda:asyncBefore="true" camunda:candidateGroups="managers"', 1)
    assert with_settings != SOURCE
    page = upload(editor, with_settings).get_data(as_text=True)
    assert "The diagram is valid" in page and 'id="ignored-settings"' in page
    line = next(n for n, text in enumerate(with_settings.splitlines(), 1) if 'id="stage1_discussion"' in text)
    assert f"line {line}, element &#39;stage1_discussion&#39;: camunda:asyncBefore is not used" in page
    assert "camunda:candidateGroups is not used — tasks go to people by their lane (role)" in page
    assert 'id="ignored-settings"' not in upload(editor, SOURCE).get_data(as_text=True)
