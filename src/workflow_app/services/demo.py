"""Demo escalations so a fresh installation has something in every inbox."""
from __future__ import annotations

from workflow_app.persistence.models import ProcessInstance
from workflow_app.services import instances
from workflow_app.services.deployments import latest_deployment

DEMO_ACTOR = "Demo data"

PARTNERSHIP_CASES = [
    {"case_reference": "DEMO-001", "raising_professional": "Sam Patel, school designated safeguarding lead",
     "raising_agency": "Northfield Academy", "other_professional": "Jo Reed, social worker",
     "other_agency": "Children's Social Care",
     "disagreement": "Referral closed with no further action although the child disclosed neglect at school.",
     "desired_outcome": "Strategy discussion and a child and family assessment."},
    {"case_reference": "DEMO-002", "raising_professional": "Alex Morgan, health visitor",
     "raising_agency": "Community Health Trust", "other_professional": "Chris Lee, early help worker",
     "other_agency": "Early Help Service",
     "disagreement": "Step-down from child in need to early help while the home conditions have not improved.",
     "desired_outcome": "Keep the child in need plan for three more months."},
    {"case_reference": "DEMO-003", "raising_professional": "Priya Shah, police public protection officer",
     "raising_agency": "Police", "other_professional": "Dan Fox, team manager", "other_agency": "Children's Social Care",
     "disagreement": "Disagreement about whether a joint visit is needed.", "desired_outcome": "A joint visit this week."},
]

STAGE_RECORD = {"date_held": "2026-11-20", "participants": "Both professionals (demo)", "outcome": "unresolved",
                "action_plan": "Refer to line managers within 5 working days.",
                "evidence_explored": "Two calls and one meeting; positions unchanged."}


def create_demo_data() -> list[ProcessInstance]:
    if latest_deployment("partnership_escalation") is None:
        return []
    created = [instances.start_instance("partnership_escalation", case, actor=DEMO_ACTOR)
               for case in PARTNERSHIP_CASES]
    # DEMO-002 has moved on to Stage 2, DEMO-003 to Stage 3.
    for instance, steps in ((created[1], 1), (created[2], 2)):
        for _ in range(steps):
            task = next(t for t in instance.tasks if t.state == "ready")
            instances.complete_task(task.id, STAGE_RECORD, actor=DEMO_ACTOR)
    return created
