"""Demo people and escalations so a fresh installation can be tried at once (never use in production:
the passwords are published in the README)."""
from __future__ import annotations

import re

from workflow_app.extensions import db
from workflow_app.persistence.models import ProcessInstance, User  # noqa: F401 (User: type of create_demo_people)
from workflow_app.services import instances, people
from workflow_app.services.deployments import bundle_for, latest_deployment, latest_deployments

DEMO_PASSWORD = "demo-password"
SCHOOL, SOCIAL_CARE = "Northfield Academy", "Children's Social Care"

# The partnership protocol pairs a role in each agency, so it gets a person per role on each side,
# each reporting to the next rung up in their own agency.
PARTNERSHIP_PEOPLE = [
    # username, name, agency, role, line manager
    ("dir.school", "Dana Okafor", SCHOOL, "Director / Chief Executive", None),
    ("senior.school", "Ravi Mehta", SCHOOL, "Senior Manager", "dir.school"),
    ("manager.school", "Helen Walsh", SCHOOL, "Line Manager", "senior.school"),
    ("sam.patel", "Sam Patel", SCHOOL, "Professional", "manager.school"),
    ("dir.csc", "Morgan Hale", SOCIAL_CARE, "Director / Chief Executive", None),
    ("senior.csc", "Lee Carter", SOCIAL_CARE, "Senior Manager", "dir.csc"),
    ("manager.csc", "Dan Fox", SOCIAL_CARE, "Line Manager", "senior.csc"),
    ("jo.reed", "Jo Reed", SOCIAL_CARE, "Professional", "manager.csc"),
    # Partnership-wide staff belong to no agency: they serve every agency's escalations.
    ("strategic.lead", "Pat Quinn", None, "Partnership Business Office", None),
]

PARTNERSHIP_CASES = [
    {"case_reference": "DEMO-001", "raising_professional": "Sam Patel, school designated safeguarding lead",
     "raising_agency": SCHOOL, "other_professional": "Jo Reed, social worker", "other_agency": SOCIAL_CARE,
     "disagreement": "Referral closed with no further action although the child disclosed neglect at school.",
     "desired_outcome": "Strategy discussion and a child and family assessment."},
    {"case_reference": "DEMO-002", "raising_professional": "Sam Patel, school designated safeguarding lead",
     "raising_agency": SCHOOL, "other_professional": "Jo Reed, social worker", "other_agency": SOCIAL_CARE,
     "disagreement": "Step-down from child in need to early help while the home conditions have not improved.",
     "desired_outcome": "Keep the child in need plan for three more months."},
    {"case_reference": "DEMO-003", "raising_professional": "Sam Patel, school designated safeguarding lead",
     "raising_agency": SCHOOL, "other_professional": "Jo Reed, social worker", "other_agency": SOCIAL_CARE,
     "disagreement": "Disagreement about whether a joint visit is needed.", "desired_outcome": "A joint visit this week."},
]

STAGE_RECORD = {"date_held": "2026-11-20", "participants": "Sam Patel and Jo Reed", "outcome": "unresolved",
                "action_plan": "Refer to line managers within 5 working days.",
                "evidence_explored": "Two calls and one meeting; positions unchanged."}


def username_for_role(role: str) -> str:
    return re.sub(r"[^a-z0-9]+", ".", role.casefold()).strip(".")


def create_demo_people() -> list[User]:
    """Administrator, process owner, policy editor, and a person for every role of every deployed protocol."""
    created = []

    def add(username, name, password=DEMO_PASSWORD, **kwargs):
        if people.get_user(username, required=False) is None:
            created.append(people.create_user(username, password, display_name=name,
                                              email=f"{username}@demo.workflow-app.test", **kwargs))

    protocols = [d.protocol_key for d in latest_deployments()]
    add("admin", "Avery Admin", roles=[people.ADMINISTRATOR])
    add("owner", "Olu Owner", roles=[people.PROCESS_OWNER], protocols=protocols)
    add("editor", "Eden Editor", roles=[people.POLICY_EDITOR])
    for username, name, agency, role, manager in PARTNERSHIP_PEOPLE:
        add(username, name, agency=agency, roles=[role], line_manager=manager)
    taken = {role.casefold() for *_, role, _ in PARTNERSHIP_PEOPLE}
    for deployment in latest_deployments():
        for lane in bundle_for(deployment).lanes:
            if lane.casefold() not in taken:
                taken.add(lane.casefold())
                add(username_for_role(lane), f"Demo {lane}", roles=[lane])
    db.session.commit()
    return created


OTHER_PROTOCOLS = [
    # protocol, raised by, start form
    ("wsscp_escalation", "sam.patel", {
        "case_reference": "DEMO-WS-1", "raising_professional": "Sam Patel, school DSL", "raising_agency": SCHOOL,
        "other_professional": "Jo Reed, social worker", "other_agency": SOCIAL_CARE, "service_area": "child_in_need",
        "decision_challenged": "Case closed while home conditions are unchanged.", "desired_outcome": "Keep the plan open."}),
    ("cpa_iro_dispute_resolution", "cpa.iro", {
        "case_reference": "DEMO-CPA-1", "social_worker": "Kim Lowe", "manager_involved": "Pat Grey (PM)",
        "discussion_method": "telephone", "concern": "Care plan not updated after the review.",
        "desired_outcome": "Updated care plan within 10 days.", "informal_case_note": True}),
    ("wraparound_conflict_resolution", "care.coordinator", {
        "case_reference": "DEMO-WRAP-1", "care_coordinator": "Demo Care Coordinator", "track": "B",
        "counterpart_name": "DMCPS Case Manager", "issue": "Disagreement about the visiting schedule.",
        "violation": "none"}),
    ("case_manager_mediation", "case.manager", {
        "case_reference": "DEMO-CM-1", "client_name": "Jordan", "provider": "Riverside Supported Living",
        "cm_role": "mediator", "conflict_type": "miscommunication", "description": "Disagreement about curfew."}),
]


def create_demo_data() -> list[ProcessInstance]:
    create_demo_people()
    created = []
    if latest_deployment("partnership_escalation") is not None:
        raiser = people.get_user("sam.patel")
        partnership = [instances.start_instance("partnership_escalation", case, user=raiser) for case in PARTNERSHIP_CASES]
        # DEMO-002 has moved on to Stage 2, DEMO-003 to Stage 3.
        for instance, steps in ((partnership[1], 1), (partnership[2], 2)):
            for step in range(steps):
                task = next(t for t in instance.tasks if t.state == "ready")
                actor = people.get_user(("sam.patel", "manager.school")[step])
                instances.complete_task(task.id, STAGE_RECORD, user=actor)
        created += partnership
    for protocol, username, data in OTHER_PROTOCOLS:
        if latest_deployment(protocol) is not None:
            created.append(instances.start_instance(protocol, data, user=people.get_user(username)))
    return created
