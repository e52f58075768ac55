"""Moving an escalation back to a task it has already passed (services/operations.move_back, engine/rewind.py).

The protocol is a two-stage one written here: Stage 1 (the "Practitioner" lane, due at the end of the 2nd
working day) -> Stage 2 (the "Manager" lane, due at the end of the 3rd) -> resolved; a decision table between the
stages can be made to fail (``route``: only "a" has a rule). Every role is a different person.
"""
from __future__ import annotations

import pytest

from conftest import Api, PASSWORD, london, make_user
from workflow_app.extensions import db
from workflow_app.persistence.models import TaskRecord
from workflow_app.services import people

PROTOCOL = "two_stage_demo"

NODES = [("begin", 200, 160, 36, 36), ("stage_1", 280, 140, 120, 80), ("decide", 440, 140, 120, 80),
         ("stage_2", 600, 140, 120, 80), ("done", 780, 160, 36, 36), ("stage_1_deadline", 320, 202, 36, 36),
         ("stage_2_deadline", 640, 202, 36, 36), ("late_1", 320, 300, 36, 36), ("late_2", 640, 300, 36, 36)]
FLOWS = [("f1", "begin", "stage_1"), ("f2", "stage_1", "decide"), ("f3", "decide", "stage_2"),
         ("f4", "stage_2", "done"), ("f5", "stage_1_deadline", "late_1"), ("f6", "stage_2_deadline", "late_2")]
LANES = {"lane_practitioner": ("Practitioner", ["begin", "stage_1", "decide", "stage_1_deadline", "late_1"]),
         "lane_manager": ("Manager", ["stage_2", "done", "stage_2_deadline", "late_2"])}


def io(node: str) -> str:
    """The node's incoming and outgoing flows (the deploy checks want them written out)."""
    return "".join([*(f"<bpmn:incoming>{f}</bpmn:incoming>" for f, _s, t in FLOWS if t == node),
                    *(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f, s, _t in FLOWS if s == node)])


def _user_task(element_id: str, name: str, stage: str, days: int) -> str:
    return f"""
    <bpmn:userTask id="{element_id}" name="{name}">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="stage" value="{stage}" /></camunda:properties>
        <camunda:formData>
          <camunda:formField id="{element_id}_note" label="Note" type="string" />
        </camunda:formData>
      </bpmn:extensionElements>
      {io(element_id)}
    </bpmn:userTask>
    <bpmn:boundaryEvent id="{element_id}_deadline" name="Deadline" cancelActivity="false" attachedToRef="{element_id}">
      {io(element_id + "_deadline")}
      <bpmn:timerEventDefinition id="{element_id}_deadline_timer">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">end_of_working_day({days})</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>"""


def bpmn() -> str:
    lanes = "\n".join(f'      <bpmn:lane id="{lid}" name="{name}">'
                      + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes) + "</bpmn:lane>"
                      for lid, (name, nodes) in LANES.items())
    flows = "\n".join(f'    <bpmn:sequenceFlow id="{f}" sourceRef="{s}" targetRef="{t}" />' for f, s, t in FLOWS)
    shapes = "\n".join(f'      <bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{x}" y="{y}" '
                       f'width="{w}" height="{h}" /></bpmndi:BPMNShape>' for n, x, y, w, h in NODES)
    lane_shapes = "\n".join(f'      <bpmndi:BPMNShape id="{lid}_di" bpmnElement="{lid}" isHorizontal="true">'
                            f'<dc:Bounds x="130" y="{80 + 150 * i}" width="800" height="150" /></bpmndi:BPMNShape>'
                            for i, lid in enumerate(LANES))
    edges = "\n".join(f'      <bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="0" y="0" />'
                      f'<di:waypoint x="1" y="1" /></bpmndi:BPMNEdge>' for f, _s, _t in FLOWS)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_{PROTOCOL}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_{PROTOCOL}">
    <bpmn:participant id="Participant_{PROTOCOL}" name="Two stages" processRef="{PROTOCOL}" />
  </bpmn:collaboration>
  <bpmn:process id="{PROTOCOL}" name="Two stages" isExecutable="true">
    <bpmn:extensionElements>
      <camunda:properties>
        <camunda:property name="calendar" value="GB-ENG" />
        <camunda:property name="timezone" value="Europe/London" />
      </camunda:properties>
    </bpmn:extensionElements>
    <bpmn:laneSet id="LaneSet_{PROTOCOL}">
{lanes}
    </bpmn:laneSet>
    <bpmn:startEvent id="begin" name="Begin">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="case_reference" label="Case" type="string" />
          <camunda:formField id="route" label="Route" type="string" defaultValue="a" />
        </camunda:formData>
      </bpmn:extensionElements>
      {io("begin")}
    </bpmn:startEvent>
{_user_task("stage_1", "Stage 1: practitioners talk", "Stage 1", 2)}
    <bpmn:businessRuleTask id="decide" name="Decide the route" camunda:decisionRef="ops_route">{io("decide")}</bpmn:businessRuleTask>
{_user_task("stage_2", "Stage 2: managers meet", "Stage 2", 3)}
    <bpmn:endEvent id="late_1" name="Stage 1 late">{io("late_1")}</bpmn:endEvent>
    <bpmn:endEvent id="late_2" name="Stage 2 late">{io("late_2")}</bpmn:endEvent>
    <bpmn:endEvent id="done" name="Done">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="status" value="resolved" /></camunda:properties>
      </bpmn:extensionElements>
      {io("done")}
    </bpmn:endEvent>
{flows}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_{PROTOCOL}">
    <bpmndi:BPMNPlane id="BPMNPlane_{PROTOCOL}" bpmnElement="Collaboration_{PROTOCOL}">
      <bpmndi:BPMNShape id="Participant_{PROTOCOL}_di" bpmnElement="Participant_{PROTOCOL}" isHorizontal="true"><dc:Bounds x="100" y="80" width="830" height="300" /></bpmndi:BPMNShape>
{lane_shapes}
{shapes}
{edges}
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


@pytest.fixture
def two_stage_app(app_factory, clock, tmp_path):
    import ops_diagrams
    bpmn_dir, dmn_dir = tmp_path / "bpmn", tmp_path / "dmn"
    bpmn_dir.mkdir()
    dmn_dir.mkdir()
    (bpmn_dir / f"{PROTOCOL}.bpmn").write_text(bpmn())
    (dmn_dir / "ops_route.dmn").write_text(ops_diagrams.dmn(("a",)))
    return app_factory(BPMN_DIR=bpmn_dir, DMN_DIR=dmn_dir)


@pytest.fixture
def api(two_stage_app):
    with two_stage_app.app_context():
        make_user("pat.practitioner", roles=["Practitioner"], agency="Children's Social Care")
        make_user("max.manager", roles=["Manager"], agency="Children's Social Care")
        make_user("olive.owner", roles=[people.PROCESS_OWNER], agency="Children's Social Care",
                  protocols=[PROTOCOL])
        make_user("ada.admin", roles=[people.ADMINISTRATOR], agency="Children's Social Care")
        make_user("otto.other", roles=[people.PROCESS_OWNER], agency="Children's Social Care", protocols=[])
        yield Api(two_stage_app.test_client(), username="pat.practitioner")


def start(api, route: str = "a") -> int:
    return api.start(PROTOCOL, {"case_reference": "MB-1", "route": route})["id"]


def move_back(api, instance_id: int, to: str = "stage_1", reason: str = "Stage 1 meeting never took place",
              user: str = "olive.owner", expect: int = 200):
    return api.request("POST", f"/api/instances/{instance_id}/move-back", expect, json={"to": to, "reason": reason},
                       user=user)


def at_stage_2(api, clock) -> int:
    """An escalation raised Tue 1 Dec 09:00, Stage 1 done by the practitioner Wed 2 Dec 10:00."""
    instance_id = start(api)
    api.complete(api.ready(instance_id)["id"], {"stage_1_note": "met, no agreement"})
    return instance_id


def test_owner_moves_stage_2_back_to_stage_1_with_fresh_deadline_and_same_assignee(api, clock):
    instance_id = start(api)
    first = api.ready(instance_id)
    assert first["due_at"] == "2026-12-03T17:00:00+00:00"
    clock.move_to(london(2026, 12, 2, 10, 0))
    api.complete(first["id"], {"stage_1_note": "met, no agreement"})
    stage_2 = api.ready(instance_id)
    assert stage_2["name"] == "stage_2"
    assert api.request("GET", f"/api/instances/{instance_id}/earlier-tasks", user="olive.owner")["tasks"] == [
        {"element_id": "stage_1", "title": "Stage 1: practitioners talk"}]

    clock.move_to(london(2026, 12, 7, 11, 0))  # Monday
    state = move_back(api, instance_id)
    assert state["status"] == "running"
    result = api.instance(instance_id)
    again = api.ready(instance_id)
    assert again["name"] == "stage_1" and again["id"] != first["id"]
    # Deadline counted from the move (Mon 7 Dec + 2 working days), not the original Thu 3 Dec.
    assert again["due_at"] == "2026-12-09T17:00:00+00:00" and again["overdue"] is False
    assert result["next_deadline_at"] == "2026-12-09T17:00:00+00:00"
    assert again["assigned_to"] == "pat.practitioner"
    moved = next(h for h in result["history"] if h["kind"] == "moved_back")
    assert moved["actor"] == "olive.owner" and moved["data"]["reason"] == "Stage 1 meeting never took place"
    assert moved["data"]["to"] == "stage_1"
    assert moved["data"]["from"] == [{"element_id": "stage_2", "title": "Stage 2: managers meet"}]
    records = {r.id: r.state for r in db.session.query(TaskRecord).filter_by(instance_id=instance_id)}
    assert records[first["id"]] == "completed" and records[stage_2["id"]] == "cancelled"

    # The old Stage 2 deadline (Fri 4 Dec... counted from Wed) no longer fires; the new Stage 1 one does.
    clock.move_to(london(2026, 12, 9, 17, 1))
    api.sweep()
    breaches = [h for h in api.instance(instance_id)["history"] if h["kind"] == "deadline_breached"]
    assert [b["element_id"] for b in breaches] == ["stage_1"]
    api.complete(again["id"], {"stage_1_note": "agreed to meet managers"})
    api.complete(api.ready(instance_id)["id"], {"stage_2_note": "resolved"}, user="max.manager")
    assert api.instance(instance_id)["status"] == "resolved"


def test_only_owner_of_the_protocol_or_administrator_moves_back_and_must_say_why(api, clock):
    instance_id = at_stage_2(api, clock)
    for who in ("pat.practitioner", "max.manager"):  # they take part, but do not operate the protocol
        refused = move_back(api, instance_id, user=who, expect=403)
        assert "process owner" in refused["error"]
    move_back(api, instance_id, user="otto.other", expect=403)  # owns other protocols only
    assert "Say why" in move_back(api, instance_id, reason="  ", expect=400)["error"]
    wrong = move_back(api, instance_id, to="stage_2", expect=400)
    assert "stage_1 ('Stage 1: practitioners talk')" in wrong["fields"]["to"]
    assert api.ready(instance_id)["name"] == "stage_2"  # nothing changed
    move_back(api, instance_id, user="ada.admin")
    assert api.ready(instance_id)["name"] == "stage_1"


def test_errored_escalation_moved_back_runs_again(api, clock):
    instance_id = start(api, route="b")  # no rule for "b": stops after Stage 1
    api.complete(api.ready(instance_id)["id"], {"stage_1_note": "x"})
    assert api.instance(instance_id)["status"] == "error"
    move_back(api, instance_id, user="ada.admin", reason="route was typed wrongly")
    result = api.instance(instance_id)
    assert result["status"] == "running"
    moved = next(h for h in result["history"] if h["kind"] == "moved_back")
    assert "No rule in decision table" in moved["data"]["previous_error"]
    assert api.ready(instance_id)["name"] == "stage_1"


def test_ended_or_suspended_escalation_is_not_moved_back(api, clock):
    instance_id = at_stage_2(api, clock)
    api.request("POST", f"/api/instances/{instance_id}/suspend", json={"reason": "court"}, user="olive.owner")
    assert "resume it" in move_back(api, instance_id, expect=409)["error"]
    api.request("POST", f"/api/instances/{instance_id}/resume", json={"deadlines": "fire"}, user="olive.owner")
    api.complete(api.ready(instance_id)["id"], {"stage_2_note": "done"}, user="max.manager")
    assert "resolved" in move_back(api, instance_id, expect=409)["error"]


def test_cli_moves_back(api, two_stage_app, clock):
    instance_id = at_stage_2(api, clock)
    runner = two_stage_app.test_cli_runner()
    out = runner.invoke(args=["escalations", "move-back", str(instance_id), "--to", "stage_1",
                              "--reason", "redo", "--by", "ada.admin"])
    assert out.exit_code == 0, out.output
    assert "now at Stage 1: practitioners talk" in out.output
    refused = runner.invoke(args=["escalations", "move-back", str(instance_id), "--to", "stage_2",
                                  "--reason", "redo", "--by", "ada.admin"])
    assert refused.exit_code != 0 and "has not passed" in refused.output


def test_instance_page_offers_the_earlier_tasks_to_an_operator(api, two_stage_app, clock):
    instance_id = at_stage_2(api, clock)
    client = two_stage_app.test_client()
    client.post("/login", data={"username": "olive.owner", "password": PASSWORD})
    page = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert 'id="move-back"' in page and 'value="stage_1"' in page
    response = client.post(f"/instances/{instance_id}/move-back",
                           data={"to": "stage_1", "reason": "meeting not held"}, follow_redirects=True)
    assert response.status_code == 200
    assert "Moved back to" in response.get_data(as_text=True)
    assert api.ready(instance_id)["name"] == "stage_1"
    practitioner = two_stage_app.test_client()
    practitioner.post("/login", data={"username": "pat.practitioner", "password": PASSWORD})
    assert 'id="move-back"' not in practitioner.get(f"/instances/{instance_id}").get_data(as_text=True)


@pytest.fixture
def partnership(app_factory, clock):
    """The partnership escalation raised by sam.patel: both agencies' management chains (every role a different
    person) and an administrator, ada.admin. Yields the API helper and the escalation's id."""
    from conftest import make_chain
    from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL
    from test_partnership_escalation import start as start_partnership
    app = app_factory()
    with app.app_context():
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
        make_user("ada.admin", roles=[people.ADMINISTRATOR])
        api = Api(app.test_client())
        yield api, start_partnership(api)


def test_partnership_stage_2_back_to_stage_1_reopens_both_sides_for_their_own_people(partnership, clock):
    """Both agencies' Stage 1 tasks run in parallel and join before Stage 2: going back reopens both, each
    for the person of its own side (as the protocol routes them), not for the administrator who moved it."""
    from test_partnership_escalation import complete, other, raising, ready
    api, instance_id = partnership
    tasks = ready(api, instance_id)
    complete(api, tasks["stage1_discussion"], raising("unresolved"))
    complete(api, tasks["stage1_acknowledge"], other("unresolved"))
    assert set(ready(api, instance_id)) == {"stage2_discussion", "stage2_acknowledge"}
    offered = api.request("GET", f"/api/instances/{instance_id}/earlier-tasks", user="ada.admin")["tasks"]
    assert [t["element_id"] for t in offered] == ["stage1_discussion"]  # one choice: Stage 1, both sides
    clock.move_to(london(2026, 12, 8, 10, 0))
    api.request("POST", f"/api/instances/{instance_id}/move-back", user="ada.admin",
                json={"to": "stage1_acknowledge", "reason": "Stage 1 meeting was with the wrong school"})
    again = ready(api, instance_id)
    assert {name: t["assigned_to"] for name, t in again.items()} == {
        "stage1_discussion": "sam.patel", "stage1_acknowledge": "jo.reed"}
    assert all(t["id"] not in (tasks["stage1_discussion"]["id"], tasks["stage1_acknowledge"]["id"])
               for t in again.values())
    assert all(t["due_at"] > "2026-12-08" for t in again.values())  # counted from the move
    moved = next(h for h in api.instance(instance_id)["history"] if h["kind"] == "moved_back")
    assert sorted(r["element_id"] for r in moved["data"]["reopened"]) == ["stage1_acknowledge",
                                                                           "stage1_discussion"]
    assert sorted(f["element_id"] for f in moved["data"]["from"]) == ["stage2_acknowledge", "stage2_discussion"]
    complete(api, again["stage1_discussion"], raising("unresolved"))
    complete(api, again["stage1_acknowledge"], other("unresolved"))
    assert set(ready(api, instance_id)) == {"stage2_discussion", "stage2_acknowledge"}


def test_back_to_a_stage_its_missed_deadline_escalated_from(partnership, clock):
    """The other side let its Stage 1 deadline pass (interrupting: its task closed, the escalation went on to
    Stage 2 along the deadline's path): an administrator moves it back and Stage 1 opens again for both sides."""
    from test_partnership_escalation import complete, raising, ready
    api, instance_id = partnership
    complete(api, ready(api, instance_id)["stage1_discussion"], raising("unresolved"))
    clock.move_to(london(2026, 12, 3, 9, 1))
    api.sweep()
    assert set(ready(api, instance_id)) == {"stage2_discussion", "stage2_acknowledge"}
    offered = api.request("GET", f"/api/instances/{instance_id}/earlier-tasks", user="ada.admin")["tasks"]
    assert len(offered) == 1 and "stage1" in offered[0]["element_id"]
    api.request("POST", f"/api/instances/{instance_id}/move-back", user="ada.admin",
                json={"to": "stage1_acknowledge", "reason": "the deadline fell in a school closure"})
    again = ready(api, instance_id)
    assert {name: t["assigned_to"] for name, t in again.items()} == {
        "stage1_discussion": "sam.patel", "stage1_acknowledge": "jo.reed"}
    assert all(t["overdue"] is False for t in again.values())
