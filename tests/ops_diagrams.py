"""A small protocol for the operations tests (suspend, retry, migrate), written out as BPMN and DMN files.

``ops_demo``: a start form (case reference, route) -> a routing table (``ops_route``) -> one review task of the
"Reviewer" lane with a non-interrupting deadline at the end of the 2nd working day -> resolved. The review
task's element id and the table's rules are parameters, so a test can deploy a version that renames the task
or fixes a table with no matching rule.
"""
from __future__ import annotations

from pathlib import Path

import pytest

PROTOCOL = "ops_demo"


def bpmn(review_id: str = "review", review_name: str = "Review the case") -> str:
    nodes = [("begin", 282, 162, 36, 36), ("decide", 380, 140, 120, 80), (review_id, 560, 140, 140, 80),
             ("done", 762, 162, 36, 36), (f"{review_id}_deadline", 612, 202, 36, 36),
             ("breach_noted", 612, 290, 36, 36)]
    flows = [("flow_begin_decide", "begin", "decide"), ("flow_decide_review", "decide", review_id),
             ("flow_review_done", review_id, "done"),
             ("flow_deadline_noted", f"{review_id}_deadline", "breach_noted")]
    shapes = "\n".join(
        f'      <bpmndi:BPMNShape id="{n}_di" bpmnElement="{n}"><dc:Bounds x="{x}" y="{y}" width="{w}" '
        f'height="{h}" /></bpmndi:BPMNShape>' for n, x, y, w, h in nodes)
    edges = "\n".join(
        f'      <bpmndi:BPMNEdge id="{f}_di" bpmnElement="{f}"><di:waypoint x="0" y="0" /><di:waypoint x="1" '
        f'y="1" /></bpmndi:BPMNEdge>' for f, _s, _t in flows)
    sequence = "\n".join(f'    <bpmn:sequenceFlow id="{f}" sourceRef="{s}" targetRef="{t}" />' for f, s, t in flows)
    refs = "\n".join(f"        <bpmn:flowNodeRef>{n[0]}</bpmn:flowNodeRef>" for n in nodes)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_ops_demo" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_ops_demo">
    <bpmn:participant id="Participant_ops_demo" name="Operations demo" processRef="{PROTOCOL}" />
  </bpmn:collaboration>
  <bpmn:process id="{PROTOCOL}" name="Operations demo" isExecutable="true">
    <bpmn:extensionElements>
      <camunda:properties>
        <camunda:property name="calendar" value="GB-ENG" />
        <camunda:property name="timezone" value="Europe/London" />
      </camunda:properties>
    </bpmn:extensionElements>
    <bpmn:laneSet id="LaneSet_ops_demo">
      <bpmn:lane id="lane_reviewer" name="Reviewer">
{refs}
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="begin" name="Begin">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="case_reference" label="Case" type="string">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="route" label="Route" type="string" defaultValue="a" />
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:outgoing>flow_begin_decide</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:businessRuleTask id="decide" name="Decide the route" camunda:decisionRef="ops_route">
      <bpmn:incoming>flow_begin_decide</bpmn:incoming>
      <bpmn:outgoing>flow_decide_review</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:userTask id="{review_id}" name="{review_name}">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="outcome" label="Outcome" type="enum">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
            <camunda:value id="resolved" name="Resolved" />
            <camunda:value id="unresolved" name="Unresolved" />
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_decide_review</bpmn:incoming>
      <bpmn:outgoing>flow_review_done</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="{review_id}_deadline" name="End of the 2nd working day" cancelActivity="false" attachedToRef="{review_id}">
      <bpmn:outgoing>flow_deadline_noted</bpmn:outgoing>
      <bpmn:timerEventDefinition id="{review_id}_deadline_timer">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">end_of_working_day(2)</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="breach_noted" name="Breach noted">
      <bpmn:incoming>flow_deadline_noted</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:endEvent id="done" name="Done">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="status" value="resolved" /></camunda:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_review_done</bpmn:incoming>
    </bpmn:endEvent>
{sequence}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_ops_demo">
    <bpmndi:BPMNPlane id="BPMNPlane_ops_demo" bpmnElement="Collaboration_ops_demo">
      <bpmndi:BPMNShape id="Participant_ops_demo_di" bpmnElement="Participant_ops_demo" isHorizontal="true"><dc:Bounds x="160" y="80" width="900" height="300" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_reviewer_di" bpmnElement="lane_reviewer" isHorizontal="true"><dc:Bounds x="190" y="80" width="870" height="300" /></bpmndi:BPMNShape>
{shapes}
{edges}
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def dmn(routes: tuple[str, ...] = ("a",)) -> str:
    """The routing table with one rule per route in ``routes`` (``"-"`` matches any route)."""
    rules = "\n".join(
        f'      <rule id="rule_{i}"><inputEntry id="rule_{i}_in"><text>{"-" if r == "-" else chr(34) + r + chr(34)}'
        f'</text></inputEntry><outputEntry id="rule_{i}_out"><text>"{r}"</text></outputEntry></rule>'
        for i, r in enumerate(routes))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_ops_route" name="Ops route" namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="ops_route" name="Ops route">
    <decisionTable id="ops_route_table" hitPolicy="UNIQUE">
      <input id="input_route" label="Route">
        <inputExpression id="input_route_expr" typeRef="string"><text>route</text></inputExpression>
      </input>
      <output id="output_step" label="Step" name="next_step" typeRef="string" />
{rules}
    </decisionTable>
  </decision>
</definitions>
"""


def write(bpmn_dir: Path, dmn_dir: Path, *, review_id: str = "review", routes: tuple[str, ...] = ("a",)) -> None:
    """(Over)write the protocol's files: the next ``flask deploy`` makes a new version of them."""
    bpmn_dir.mkdir(parents=True, exist_ok=True)
    dmn_dir.mkdir(parents=True, exist_ok=True)
    (bpmn_dir / f"{PROTOCOL}.bpmn").write_text(bpmn(review_id))
    (dmn_dir / "ops_route.dmn").write_text(dmn(routes))


@pytest.fixture
def dirs(tmp_path):
    """The test protocol's BPMN and DMN written to their own folders."""
    bpmn_dir, dmn_dir = tmp_path / "bpmn", tmp_path / "dmn"
    write(bpmn_dir, dmn_dir)
    return bpmn_dir, dmn_dir


@pytest.fixture
def ops_app(app_factory, clock, dirs):
    """An app with only the test protocol deployed."""
    bpmn_dir, dmn_dir = dirs
    return app_factory(BPMN_DIR=bpmn_dir, DMN_DIR=dmn_dir)
