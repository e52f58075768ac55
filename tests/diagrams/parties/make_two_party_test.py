"""Generates tests/diagrams/parties/two_party_test.bpmn (a small two-party ladder for the mechanism tests)."""
from xml.sax.saxutils import escape

LANE_H = 110
W = {"userTask": 120, "scriptTask": 100}
H = {"userTask": 80, "scriptTask": 80}
lanes = [  # (id, name, party, children[(id, name)])
    ("lane_raising", "Raising agency", "raising", [("lane_r_prof", "Professional"), ("lane_r_lm", "Line Manager"), ("lane_r_sm", "Senior Manager")]),
    ("lane_other", "Other agency", "counterpart", [("lane_o_prof", "Professional"), ("lane_o_lm", "Line Manager"), ("lane_o_sm", "Senior Manager")]),
    ("lane_office", "Business Office", None, []),
]
rows = {}
y = 0
for lid, name, party, children in lanes:
    if children:
        for cid, cname in children:
            rows[cid] = y; y += LANE_H
    else:
        rows[lid] = y; y += LANE_H
TOTAL_H = y
nodes = []  # (id, type, name, lane, col, extra_xml, attrs)
flows = []
def node(id, type, name, lane, col, extra="", attrs=""):
    nodes.append((id, type, name, lane, col, extra, attrs))
def flow(a, b, cond=None, name=None):
    flows.append((f"f_{a}_to_{b}", a, b, cond, name))

def form(fields):
    out = ["<bpmn:extensionElements>", "<camunda:formData>"]
    out += fields
    out += ["</camunda:formData>"]
    return out
def field(id, label, type="string", required=False, props=None, values=None, default=None):
    s = f'<camunda:formField id="{id}" label="{escape(label)}" type="{type}"' + (f' defaultValue="{default}"' if default else "") + ">"
    if props:
        s += "<camunda:properties>" + "".join(f'<camunda:property id="{k}" value="{escape(v)}" />' for k, v in props.items()) + "</camunda:properties>"
    if required:
        s += '<camunda:validation><camunda:constraint name="required" /></camunda:validation>'
    for vid, vname in (values or []):
        s += f'<camunda:value id="{vid}" name="{escape(vname)}" />'
    return s + "</camunda:formField>"
def props(d):
    return "<camunda:properties>" + "".join(f'<camunda:property name="{k}" value="{escape(v)}" />' for k, v in d.items()) + "</camunda:properties>"

def stage_task(id, name, lane, col, stage, outcome_field, level=False, deadline=None):
    f = form([field("date_held", "Date of the discussion", "date", True),
              field(outcome_field, "Outcome", "enum", True, values=[("resolved", "Resolved – plan agreed"), ("unresolved", "Unresolved – refer up")] + ([("refer_higher", "Refer to the next level")] if level and outcome_field == "outcome" else [])),
              field("plan" if outcome_field == "outcome" else "counterpart_plan", "Plan", props={"multiline": "true"}),
              field("evidence" if outcome_field == "outcome" else "counterpart_evidence", "Evidence that all efforts were explored",
                    props={"multiline": "true", "required_when": f"{outcome_field}=unresolved" + ("|refer_higher" if level and outcome_field == "outcome" else "")})])
    p = {"stage": str(stage)}
    if level:
        p["level_from"] = "management_level"
    extra = "".join(f) + props(p) + "</bpmn:extensionElements>"
    node(id, "userTask", name, lane, col, extra)

node("raised", "startEvent", "Disagreement raised", "lane_r_prof", 0, "".join(form([
    field("case_reference", "Case reference", required=True),
    field("raising_agency", "Your agency", required=True, props={"choices_from": "agencies", "party_agency": "raising"}),
    field("other_agency", "Other agency", required=True, props={"choices_from": "agencies", "party_agency": "counterpart"}),
    field("other_person", "Other professional", props={"choices_from": "people", "party_person": "counterpart"}),
    field("other_contact_name", "Other professional's name (no account)", props={"party_contact_name": "counterpart"}),
    field("other_contact_email", "Other professional's e-mail (no account)", props={"party_contact_email": "counterpart"}),
])) + "</bpmn:extensionElements>")
node("fork1", "parallelGateway", "", "lane_r_prof", 1)
stage_task("s1_raise", "Stage 1 – record the discussion", "lane_r_prof", 2, 1, "outcome")
stage_task("s1_ack", "Stage 1 – acknowledge and state your position", "lane_o_prof", 2, 1, "counterpart_outcome")
node("s1_ack_deadline", "boundaryEvent", "2 working days", "lane_o_prof", 2,
     '<bpmn:timerEventDefinition id="s1_ack_timer"><bpmn:timeDate xsi:type="bpmn:tFormalExpression">working_days(2)</bpmn:timeDate></bpmn:timerEventDefinition>',
     'cancelActivity="false" attachedToRef="s1_ack"')
node("s1_breach_end", "endEvent", "Breach recorded", "lane_o_prof", 3)
node("join1", "parallelGateway", "", "lane_r_prof", 3)
node("gw1", "exclusiveGateway", "Plan agreed by both sides?", "lane_r_prof", 4)
node("resolved1", "endEvent", "Resolved", "lane_r_prof", 5, "<bpmn:extensionElements>" + props({"status": "resolved"}) + "</bpmn:extensionElements>")
node("tell_managers", "intermediateThrowEvent", "Line managers told, with the evidence", "lane_r_lm", 5,
     "<bpmn:extensionElements>" + props({"history": "notification_sent", "recipients": "@raising_manager, @counterpart_manager", "history_fields": "evidence,counterpart_evidence"}) + "</bpmn:extensionElements>")
node("fork2", "parallelGateway", "", "lane_r_lm", 6)
stage_task("s2_raise", "Stage 2 – managers discuss (raising side)", "lane_r_lm", 7, 2, "outcome")
stage_task("s2_ack", "Stage 2 – managers discuss (other side)", "lane_o_lm", 7, 2, "counterpart_outcome")
node("join2", "parallelGateway", "", "lane_r_lm", 8)
node("gw2", "exclusiveGateway", "Plan agreed by both sides?", "lane_r_lm", 9)
node("resolved2", "endEvent", "Resolved", "lane_r_lm", 10, "<bpmn:extensionElements>" + props({"status": "resolved"}) + "</bpmn:extensionElements>")
node("open_stage3", "scriptTask", "Open Stage 3", "lane_r_sm", 10, "", 'scriptFormat="python"')
node("merge3", "exclusiveGateway", "", "lane_r_sm", 11)
node("fork3", "parallelGateway", "", "lane_r_sm", 12)
stage_task("s3_raise", "Stage 3 – senior managers discuss (raising side)", "lane_r_sm", 13, 3, "outcome", level=True)
stage_task("s3_ack", "Stage 3 – senior managers discuss (other side)", "lane_o_sm", 13, 3, "counterpart_outcome", level=True)
node("join3", "parallelGateway", "", "lane_r_sm", 14)
node("gw3", "exclusiveGateway", "Outcome?", "lane_r_sm", 15)
node("resolved3", "endEvent", "Resolved", "lane_r_lm", 16, "<bpmn:extensionElements>" + props({"status": "resolved"}) + "</bpmn:extensionElements>")
node("next_level", "scriptTask", "Next management level", "lane_r_sm", 16, "", 'scriptFormat="python"')
node("mediation", "userTask", "Mediation", "lane_office", 16, "".join(form([field("outcome", "Outcome", "enum", True, values=[("resolved", "Resolved"), ("unresolved", "Unresolved")])])) + "</bpmn:extensionElements>")
node("closed", "endEvent", "Closed", "lane_office", 17, "<bpmn:extensionElements>" + props({"status": "closed"}) + "</bpmn:extensionElements>")

flow("raised", "fork1"); flow("fork1", "s1_raise"); flow("fork1", "s1_ack"); flow("s1_raise", "join1"); flow("s1_ack", "join1")
flow("s1_ack_deadline", "s1_breach_end"); flow("join1", "gw1")
both = 'outcome == "resolved" and counterpart_outcome == "resolved"'
flow("gw1", "resolved1", both, "yes"); flow("gw1", "tell_managers", f"not ({both})", "no")
flow("tell_managers", "fork2"); flow("fork2", "s2_raise"); flow("fork2", "s2_ack"); flow("s2_raise", "join2"); flow("s2_ack", "join2"); flow("join2", "gw2")
flow("gw2", "resolved2", both, "yes"); flow("gw2", "open_stage3", f"not ({both})", "no")
flow("open_stage3", "merge3"); flow("merge3", "fork3"); flow("fork3", "s3_raise"); flow("fork3", "s3_ack"); flow("s3_raise", "join3"); flow("s3_ack", "join3"); flow("join3", "gw3")
flow("gw3", "resolved3", both, "resolved"); flow("gw3", "next_level", 'outcome == "refer_higher"', "next level")
flow("gw3", "mediation", f'outcome != "refer_higher" and not ({both})', "unresolved")
flow("next_level", "merge3"); flow("mediation", "closed")
scripts = {"open_stage3": "management_level = 1", "next_level": "management_level = management_level + 1"}

def lane_of_rows(lid):
    return rows[lid]
def pos(n):
    id, type, name, lane, col, extra, attrs = n
    w = W.get(type, 36 if "Event" in type else 50); h = H.get(type, 36 if "Event" in type else 50)
    x = 200 + col * 150 + (150 - w) / 2
    yy = rows[lane] + (LANE_H - h) / 2
    if type == "boundaryEvent":
        host = next(m for m in nodes if m[0] == attrs.split('attachedToRef="')[1].split('"')[0])
        hx, hy, hw, hh = pos(host)
        return hx + hw - 30, hy + hh - 18, 36, 36
    return x, yy, w, h

out = ['<?xml version="1.0" encoding="UTF-8"?>',
       '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_two_party_test" targetNamespace="http://bpmn.io/schema/bpmn">',
       '<bpmn:collaboration id="Collaboration_two_party_test"><bpmn:participant id="Participant_two_party_test" name="Two-party ladder (test diagram)" processRef="two_party_test" /></bpmn:collaboration>',
       '<bpmn:process id="two_party_test" name="Two-party ladder (test diagram)" isExecutable="true">',
       '<bpmn:documentation>Test fixture for the party mechanism: both sides act at each stage; Stage 3 repeats per management level.</bpmn:documentation>',
       '<bpmn:extensionElements>' + props({"calendar": "GB-ENG", "timezone": "Europe/London", "scope_message": "This policy applies between external agencies only."}) + '</bpmn:extensionElements>',
       '<bpmn:laneSet id="LaneSet_two_party_test">']
for lid, name, party, children in lanes:
    members = [n[0] for n in nodes if n[3] == lid or n[3] in [c[0] for c in children]]
    ext = f"<bpmn:extensionElements>{props({'party': party})}</bpmn:extensionElements>" if party else ""
    out.append(f'<bpmn:lane id="{lid}" name="{escape(name)}">{ext}' + "".join(f"<bpmn:flowNodeRef>{m}</bpmn:flowNodeRef>" for m in members))
    if children:
        out.append(f'<bpmn:childLaneSet id="{lid}_roles">')
        for cid, cname in children:
            cm = [n[0] for n in nodes if n[3] == cid]
            out.append(f'<bpmn:lane id="{cid}" name="{cname}">' + "".join(f"<bpmn:flowNodeRef>{m}</bpmn:flowNodeRef>" for m in cm) + "</bpmn:lane>")
        out.append("</bpmn:childLaneSet>")
    out.append("</bpmn:lane>")
out.append("</bpmn:laneSet>")
for id, type, name, lane, col, extra, attrs in nodes:
    inc = "".join(f"<bpmn:incoming>{f[0]}</bpmn:incoming>" for f in flows if f[2] == id)
    outg = "".join(f"<bpmn:outgoing>{f[0]}</bpmn:outgoing>" for f in flows if f[1] == id)
    body = extra + inc + outg
    if type == "scriptTask":
        body += f"<bpmn:script>{scripts[id]}</bpmn:script>"
    if type == "boundaryEvent":
        body = outg + extra
    nm = f' name="{escape(name)}"' if name else ""
    out.append(f'<bpmn:{type} id="{id}"{nm} {attrs}>{body}</bpmn:{type}>')
for fid, a, b, cond, name in flows:
    nm = f' name="{escape(name)}"' if name else ""
    c = f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(cond)}</bpmn:conditionExpression>' if cond else ""
    out.append(f'<bpmn:sequenceFlow id="{fid}"{nm} sourceRef="{a}" targetRef="{b}">{c}</bpmn:sequenceFlow>')
out.append("</bpmn:process>")
out.append('<bpmndi:BPMNDiagram id="BPMNDiagram_two_party_test"><bpmndi:BPMNPlane id="BPMNPlane_two_party_test" bpmnElement="Collaboration_two_party_test">')
width = 200 + 18 * 150
out.append(f'<bpmndi:BPMNShape id="Participant_two_party_test_di" bpmnElement="Participant_two_party_test" isHorizontal="true"><dc:Bounds x="100" y="0" width="{width}" height="{TOTAL_H}" /></bpmndi:BPMNShape>')
for lid, name, party, children in lanes:
    if children:
        top = rows[children[0][0]]; h = LANE_H * len(children)
        out.append(f'<bpmndi:BPMNShape id="{lid}_di" bpmnElement="{lid}" isHorizontal="true"><dc:Bounds x="130" y="{top}" width="{width-30}" height="{h}" /></bpmndi:BPMNShape>')
        for cid, cname in children:
            out.append(f'<bpmndi:BPMNShape id="{cid}_di" bpmnElement="{cid}" isHorizontal="true"><dc:Bounds x="160" y="{rows[cid]}" width="{width-60}" height="{LANE_H}" /></bpmndi:BPMNShape>')
    else:
        out.append(f'<bpmndi:BPMNShape id="{lid}_di" bpmnElement="{lid}" isHorizontal="true"><dc:Bounds x="130" y="{rows[lid]}" width="{width-30}" height="{LANE_H}" /></bpmndi:BPMNShape>')
P = {}
for n in nodes:
    x, yy, w, h = pos(n); P[n[0]] = (x, yy, w, h)
    out.append(f'<bpmndi:BPMNShape id="{n[0]}_di" bpmnElement="{n[0]}"><dc:Bounds x="{x:.0f}" y="{yy:.0f}" width="{w}" height="{h}" /></bpmndi:BPMNShape>')
for fid, a, b, cond, name in flows:
    ax, ay, aw, ah = P[a]; bx, by, bw, bh = P[b]
    pts = [(ax + aw, ay + ah / 2), (bx, by + bh / 2)]
    if abs(pts[0][1] - pts[1][1]) > 1:
        mx = (pts[0][0] + pts[1][0]) / 2
        pts = [pts[0], (mx, pts[0][1]), (mx, pts[1][1]), pts[1]]
    out.append(f'<bpmndi:BPMNEdge id="{fid}_di" bpmnElement="{fid}">' + "".join(f'<di:waypoint x="{x:.0f}" y="{yy:.0f}" />' for x, yy in pts) + "</bpmndi:BPMNEdge>")
out.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>")
open("/work/main/tests/diagrams/parties/two_party_test.bpmn", "w").write("\n".join(out))
