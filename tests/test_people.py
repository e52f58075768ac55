"""People, roles and agencies: who sees and may do what, sign-in, tokens, CSRF and the login rate limit."""
from __future__ import annotations

import re

import pytest

from conftest import PASSWORD, Api, make_user
from test_partnership_escalation import PROTOCOL, START, record
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


def test_new_task_goes_to_whoever_raised_it_and_then_up_their_own_ladder(api, escalation):
    task = api.ready(escalation["id"])
    assert task["role"] == "Professional"
    assert api.request("GET", "/api/tasks?view=mine", user="sam.patel")[0]["id"] == task["id"]
    api.complete(task["id"], record("unresolved"), user="sam.patel")
    stage2 = api.ready(escalation["id"])
    # The line manager of the person who completed Stage 1.
    assert [t["id"] for t in api.request("GET", "/api/tasks?view=mine", user="head.school")] == [stage2["id"]]
    assert api.request("GET", "/api/tasks?view=mine", user="manager.csc") == []


def test_each_role_sees_exactly_its_tasks(api, escalation):
    task = api.ready(escalation["id"])
    api.request("POST", f"/api/tasks/{task['id']}/release", user="sam.patel")
    for username, expected in [("sam.patel", [task["id"]]), ("jo.reed", [task["id"]]), ("jo.colleague", [task["id"]]),
                               ("head.school", []), ("manager.csc", []), ("pc.lee", [])]:
        visible = [t["id"] for t in api.request("GET", "/api/tasks?view=available", user=username)]
        assert visible == expected, username


def test_completing_without_the_role_is_forbidden_and_changes_nothing(app, api, escalation):
    task = api.ready(escalation["id"])
    before = api.instance(escalation["id"])
    body = api.complete(task["id"], record("resolved"), expect=403, user="head.school")
    assert "role 'Professional'" in body["error"]
    body = api.complete(task["id"], record("resolved"), expect=403, user="jo.reed")  # right role, but Sam holds it
    assert "assigned to Sam Patel" in body["error"]
    assert api.instance(escalation["id"]) == before
    assert audit_count("complete task") == 2
    # The same through the page.
    client = app.test_client()
    client.post("/login", data={"username": "head.school", "password": PASSWORD})
    page = client.post(f"/tasks/{task['id']}", data=record("resolved"))
    assert page.status_code == 403 and "Not allowed" in page.get_data(as_text=True)
    assert api.instance(escalation["id"]) == before


def test_an_outside_agency_cannot_read_the_escalation(app, api, escalation):
    instance_id = escalation["id"]
    task = api.ready(instance_id)
    assert "do not take part" in api.request("GET", f"/api/instances/{instance_id}", 403, user="pc.lee")["error"]
    api.request("GET", f"/api/tasks/{task['id']}", 403, user="pc.lee")
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
    task_id = api.ready(escalation["id"])["id"]
    url = f"/api/tasks/{task_id}"
    api.request("POST", f"{url}/claim", 403, user="jo.reed")  # Sam holds it
    api.request("POST", f"{url}/release", 403, user="jo.reed")
    api.request("POST", f"{url}/release", user="sam.patel")
    assert api.request("POST", f"{url}/claim", user="jo.reed")["completed_by"] is None
    # Jo's supervisor moves it to a colleague; Sam's supervisor cannot, nor can Jo's peer.
    api.request("POST", f"{url}/reassign", 403, json={"assignee": "jo.colleague"}, user="head.school")
    api.request("POST", f"{url}/reassign", 403, json={"assignee": "jo.colleague"}, user="jo.colleague")
    body = api.request("POST", f"{url}/reassign", 400, json={"assignee": "pc.lee"}, user="manager.csc")
    assert "does not hold the role 'Professional' in the agencies of this escalation" in body["fields"]["assignee"]
    api.request("POST", f"{url}/reassign", json={"assignee": "jo.colleague"}, user="manager.csc")
    assert [t["id"] for t in api.request("GET", "/api/tasks?view=team", user="manager.csc")] == [task_id]
    api.complete(task_id, record("unresolved"), expect=403, user="jo.reed")
    api.complete(task_id, record("resolved"), user="jo.colleague")
    kinds = [h["kind"] for h in api.instance(escalation["id"])["history"]]
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


def test_partnership_wide_staff_without_an_agency_serve_every_agency(api, staff):
    from test_partnership_escalation import escalate_to
    make_user("strategic.lead", roles=["Partnership Business Office"])  # no agency
    make_user("pbo.other", roles=["Partnership Business Office"], agency=POLICE)
    instance_id = api.start(PROTOCOL, START)["id"]  # between the school and children's social care
    stage5 = escalate_to(api, instance_id, 5)
    api.request("POST", f"/api/tasks/{stage5['id']}/release")
    assert [t["id"] for t in api.request("GET", "/api/tasks?view=available", user="strategic.lead")] == [stage5["id"]]
    assert api.request("GET", "/api/tasks?view=available", user="pbo.other") == []
    assert api.complete(stage5["id"], record("resolved"), user="strategic.lead")["status"] == "resolved"
