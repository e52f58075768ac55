"""People, roles and agencies: who sees and may do what, sign-in, tokens, CSRF and the login rate limit."""
from __future__ import annotations

import re

import pytest

from conftest import PASSWORD, Api, make_user
from test_partnership_escalation import PROTOCOL, START, other, people, record  # noqa: F401
from workflow_app.extensions import db
from workflow_app.persistence.models import AuditEntry

SCHOOL, CSC, POLICE = "Northfield Academy", "Children's Social Care", "Police"


@pytest.fixture
def staff(app):
    """Two agencies' ladders (as in the demo data) plus an outsider agency."""
    with app.app_context():
        make_user("head.school", roles=["Line Manager"], agency=SCHOOL)
        make_user("sam.patel", roles=["Professional"], agency=SCHOOL, line_manager="head.school")
        make_user("manager.csc", roles=["Line Manager"], agency=CSC)
        make_user("jo.reed", roles=["Professional"], agency=CSC, line_manager="manager.csc")
        make_user("jo.colleague", roles=["Professional"], agency=CSC, line_manager="manager.csc")
        make_user("pc.lee", roles=["Professional"], agency=POLICE)
        make_user("owner", roles=["Process Owner"], protocols=[PROTOCOL])
        make_user("other.owner", roles=["Process Owner"], protocols=["some_other_protocol"])
        make_user("admin", roles=["Administrator"])
        yield


@pytest.fixture
def escalation(api, staff):
    """An escalation raised by Sam (school) against Jo (children's social care)."""
    return api.start(PROTOCOL, START, user="sam.patel")


def audit_count(action: str) -> int:
    return db.session.query(AuditEntry).filter_by(action=action, outcome="forbidden").count()


def both_tasks(api, instance_id: int) -> tuple[dict, dict]:
    """The raising side's and the other side's ready task of the current stage."""
    tasks = {t["party"]: t for t in api.instance(instance_id)["ready_tasks"]}
    assert len(tasks) == 2, tasks
    return tasks["raising"], tasks["counterpart"]


def mine(api, username: str) -> list[str]:
    return [t["id"] for t in api.request("GET", "/api/tasks?view=mine", user=username)]


def test_new_task_goes_to_whoever_raised_it_and_then_up_their_own_ladder(api, escalation):
    ours, theirs = both_tasks(api, escalation["id"])
    assert (ours["name"], ours["role"], ours["agency"]) == ("stage1_discussion", "Professional", SCHOOL)
    assert (theirs["name"], theirs["role"], theirs["agency"]) == ("stage1_acknowledge", "Professional", CSC)
    # The raiser gets the raising side's task; the professional named on the start form gets the other side's.
    assert mine(api, "sam.patel") == [ours["id"]]
    assert mine(api, "jo.reed") == [theirs["id"]]
    assert mine(api, "jo.colleague") == [] and mine(api, "head.school") == [] and mine(api, "manager.csc") == []
    api.complete(ours["id"], record("unresolved"), user="sam.patel")
    api.complete(theirs["id"], other("resolved"), user="jo.reed")
    ours2, theirs2 = both_tasks(api, escalation["id"])
    # Each side climbs its own ladder: the line manager of whoever held Stage 1 on that side.
    assert mine(api, "head.school") == [ours2["id"]]
    assert mine(api, "manager.csc") == [theirs2["id"]]
    assert mine(api, "sam.patel") == [] and mine(api, "jo.reed") == []


def test_each_role_sees_exactly_its_tasks(api, escalation):
    ours, theirs = both_tasks(api, escalation["id"])
    api.request("POST", f"/api/tasks/{ours['id']}/release", user="sam.patel")
    api.request("POST", f"/api/tasks/{theirs['id']}/release", user="jo.reed")
    # A released side's task is available to the holders of its role in that side's own agency only.
    for username, expected in [("sam.patel", [ours["id"]]), ("jo.reed", [theirs["id"]]),
                               ("jo.colleague", [theirs["id"]]), ("head.school", []), ("manager.csc", []),
                               ("pc.lee", [])]:
        visible = [t["id"] for t in api.request("GET", "/api/tasks?view=available", user=username)]
        assert visible == expected, username


def test_completing_without_the_role_is_forbidden_and_changes_nothing(app, api, escalation):
    ours, theirs = both_tasks(api, escalation["id"])
    before = api.instance(escalation["id"])
    body = api.complete(ours["id"], record("resolved"), expect=403, user="head.school")
    assert "as 'Professional'" in body["error"] and "assigned to Sam Patel" in body["error"]
    # Right role, but the raising side's task: the other agency's professional cannot answer for it.
    body = api.complete(ours["id"], record("resolved"), expect=403, user="jo.reed")
    assert "for the raising side of the dispute (Northfield Academy)" in body["error"]
    body = api.complete(theirs["id"], other("resolved"), expect=403, user="jo.colleague")  # Jo holds it
    assert "assigned to Jo Reed" in body["error"]
    assert api.instance(escalation["id"]) == before
    assert audit_count("complete task") == 3
    # The same through the page.
    client = app.test_client()
    client.post("/login", data={"username": "head.school", "password": PASSWORD})
    page = client.post(f"/tasks/{ours['id']}", data=record("resolved"))
    assert page.status_code == 403 and "Not allowed" in page.get_data(as_text=True)
    assert api.instance(escalation["id"]) == before


def test_an_outside_agency_cannot_read_the_escalation(app, api, escalation):
    instance_id = escalation["id"]
    ours, theirs = both_tasks(api, instance_id)
    assert "do not take part" in api.request("GET", f"/api/instances/{instance_id}", 403, user="pc.lee")["error"]
    api.request("GET", f"/api/tasks/{ours['id']}", 403, user="pc.lee")
    assert api.request("GET", "/api/instances", user="pc.lee") == []
    api.request("GET", f"/api/instances/{instance_id}", 403, user="other.owner")
    assert audit_count("read instance") == 3
    # Both agencies' staff, the protocol's owner and administrators can.
    for username in ("sam.patel", "jo.reed", "owner", "admin"):
        assert api.request("GET", f"/api/instances/{instance_id}", user=username)["id"] == instance_id
        assert [i["id"] for i in api.request("GET", "/api/instances", user=username)] == [instance_id]
    client = app.test_client()
    client.post("/login", data={"username": "pc.lee", "password": PASSWORD})
    assert client.get(f"/instances/{instance_id}").status_code == 403


def test_claim_release_and_reassign_rules(api, escalation):
    ours, theirs = both_tasks(api, escalation["id"])
    url = f"/api/tasks/{theirs['id']}"  # the other side's acknowledgement, held by Jo
    api.request("POST", f"{url}/claim", 403, user="jo.colleague")  # Jo holds it
    api.request("POST", f"{url}/release", 403, user="jo.colleague")
    api.request("POST", f"{url}/release", user="jo.reed")
    api.request("POST", f"{url}/claim", 403, user="sam.patel")  # the raising side cannot take the other side's task
    assert api.request("POST", f"{url}/claim", user="jo.reed")["completed_by"] is None
    # Jo's supervisor moves it to a colleague; Sam's supervisor cannot, nor can Jo's peer.
    api.request("POST", f"{url}/reassign", 403, json={"assignee": "jo.colleague"}, user="head.school")
    api.request("POST", f"{url}/reassign", 403, json={"assignee": "jo.colleague"}, user="jo.colleague")
    body = api.request("POST", f"{url}/reassign", 400, json={"assignee": "pc.lee"}, user="manager.csc")
    assert "does not hold the role 'Professional' in the agencies of this escalation" in body["fields"]["assignee"]
    body = api.request("POST", f"{url}/reassign", 400, json={"assignee": "sam.patel"}, user="manager.csc")
    assert "does not hold the role 'Professional'" in body["fields"]["assignee"]  # not in the other side's agency
    api.request("POST", f"{url}/reassign", json={"assignee": "jo.colleague"}, user="manager.csc")
    assert [t["id"] for t in api.request("GET", "/api/tasks?view=team", user="manager.csc")] == [theirs["id"]]
    api.complete(theirs["id"], other("unresolved"), expect=403, user="jo.reed")
    api.complete(theirs["id"], other("resolved"), user="jo.colleague")
    api.complete(ours["id"], record("resolved"), user="sam.patel")
    result = api.instance(escalation["id"])
    assert result["status"] == "resolved"
    completed = [(h["party"], h["actor"]) for h in result["history"] if h["kind"] == "task_completed"]
    assert completed == [("counterpart", "jo.colleague"), ("raising", "sam.patel")]
    kinds = [h["kind"] for h in result["history"]]
    assert kinds.count("task_released") == 1 and kinds.count("task_claimed") == 1 and kinds.count("task_reassigned") == 1


def test_api_needs_a_token_and_tokens_can_be_revoked(app, api, staff):
    client = app.test_client()
    assert client.get("/api/tasks").status_code == 401
    assert client.get("/api/tasks", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    result = app.test_cli_runner().invoke(args=["users", "token", "jo.reed", "--label", "case system"])
    token = result.output.strip()
    assert token.startswith("wfa_")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=headers).get_json()["username"] == "jo.reed"
    from workflow_app.persistence.models import ApiToken
    token_id = db.session.query(ApiToken).filter_by(label="case system").one().id
    assert app.test_cli_runner().invoke(args=["users", "revoke-token", str(token_id)]).exit_code == 0
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401 and "error" in response.get_json()


def test_a_token_brings_every_role_of_its_holder(app, api, staff):
    """The token check loads the person and their roles in one query (one row per role): none may be lost."""
    make_user("many.hats", roles=["Line Manager", "Professional", "Senior Manager"], agency=SCHOOL)
    me = api.request("GET", "/api/me", user="many.hats")
    assert sorted(me["roles"]) == ["Line Manager", "Professional", "Senior Manager"]


def test_a_signed_in_browser_session_cannot_drive_the_api(app, staff):
    client = app.test_client()
    client.post("/login", data={"username": "jo.reed", "password": PASSWORD})
    assert client.get("/inbox").status_code == 200
    assert client.get("/api/tasks").status_code == 401


def test_pages_need_sign_in_and_bad_passwords_are_refused(app, staff):
    client = app.test_client()
    response = client.get("/inbox")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    bad = client.post("/login", data={"username": "jo.reed", "password": "wrong password"})
    assert bad.status_code == 401 and "do not match" in bad.get_data(as_text=True)
    good = client.post("/login?next=/instances", data={"username": "jo.reed", "password": PASSWORD})
    assert good.headers["Location"].endswith("/instances")
    outside = client.post("/login?next=https://evil.example/", data={"username": "jo.reed", "password": PASSWORD})
    assert outside.headers["Location"].endswith("/inbox")


def test_login_rate_limit(app_factory, clock, staff):
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        statuses = [client.post("/login", data={"username": "tester", "password": "nope"}).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        blocked = client.post("/login", data={"username": "tester", "password": PASSWORD})
        assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.get_data(as_text=True)
        clock.shift(seconds=61)
        assert client.post("/login", data={"username": "tester", "password": PASSWORD}).status_code == 302


def test_every_post_form_requires_a_csrf_token(app_factory, clock):
    """Every POST route of the pages (not the token-only API) refuses a request without a CSRF token."""
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        login_page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        client.post("/login", data={"username": "tester", "password": PASSWORD, "csrf_token": token})
        post_rules = [r for r in app.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")]
        assert len(post_rules) >= 10
        for rule in post_rules:
            url = rule.rule
            for arg in rule.arguments:
                url = url.replace(f"<{arg}>", "1").replace(f"<int:{arg}>", "1")
            url = re.sub(r"<[^>]+>", "1", url)
            response = client.post(url, data={"x": "y"})
            assert response.status_code == 400, (rule.rule, response.status_code)
            assert "This form has expired" in response.get_data(as_text=True), rule.rule


def test_admin_pages_are_for_administrators(app, api, staff):
    client = app.test_client()
    client.post("/login", data={"username": "jo.reed", "password": PASSWORD})
    assert client.get("/admin/users").status_code == 403
    assert audit_count("open administration") == 1
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": PASSWORD})
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "jo.reed" in page and "Children&#39;s Social Care" in page
    created = admin.post("/admin/users/new", data={"username": "new.worker", "password": "short", "roles": ["Professional"]})
    assert created.status_code == 400 and "Use at least 10 characters" in created.get_data(as_text=True)
    created = admin.post("/admin/users/new", data={"username": "new.worker", "password": "a long password",
                                                   "display_name": "New Worker", "agency": CSC,
                                                   "roles": ["Professional"], "line_manager": "manager.csc"})
    assert created.status_code == 302
    worker = app.test_client()
    assert worker.post("/login", data={"username": "new.worker", "password": "a long password"}).status_code == 302
    assert "New Worker" in worker.get("/inbox").get_data(as_text=True)


def test_partnership_wide_staff_without_an_agency_serve_every_agency(api, people):
    from test_partnership_escalation import escalate_to, ready, start
    make_user("pbo.other", roles=["Partnership Business Office"], agency=POLICE)
    instance_id = start(api)  # between the school and children's social care
    escalate_to(api, instance_id, 5)
    offer = ready(api, instance_id)["stage5_offer_mediation"]
    assert offer["party"] is None and offer["assigned_to"] is None  # the Business Office's, not a side's
    # The Strategic Lead (no agency) may take it; Business Office staff of an agency outside the dispute may not.
    assert [t["id"] for t in api.request("GET", "/api/tasks?view=available", user="strategic.lead")] == [offer["id"]]
    assert api.request("GET", "/api/tasks?view=available", user="pbo.other") == []
    api.request("POST", f"/api/tasks/{offer['id']}/claim", 403, user="pbo.other")
    api.request("POST", f"/api/tasks/{offer['id']}/claim", user="strategic.lead")
    api.complete(offer["id"], {"mediation_offered_on": "2026-12-02", "strategic_lead": "Pat Lee",
                               "mediation_date": "2026-12-04"}, user="strategic.lead")
    mediation = ready(api, instance_id)["stage5_mediation"]
    assert mediation["assigned_to"] == "strategic.lead"
    result = api.complete(mediation["id"], {"date_held": "2026-12-04", "participants": "Both Directors, Pat Lee",
                                            "outcome": "unresolved", "action_plan": "None agreed.",
                                            "evidence_explored": "Two mediation sessions."}, user="strategic.lead")
    assert result["status"] == "closed"
