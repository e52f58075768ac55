"""Issue 13, findings 4-9: the API takes bearer tokens only, the login limit is shared and per client,
XML with a DOCTYPE is refused, huge ids and pages are not server errors, sessions end at logout and at a
password change, and every error under /api/ is JSON."""
from __future__ import annotations

import pytest

from conftest import PASSWORD, ROOT, make_user, token_for
from workflow_app.extensions import db
from workflow_app.services import deployments, people
from workflow_app.services.errors import DeploymentFailed

BIG = "99999999999999999999"  # beyond 64 bits
INT32_PLUS_ONE = "2147483648"  # beyond PostgreSQL's integer


def signed_in(app, username: str = "tester"):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


# -- 4: bearer tokens only ---------------------------------------------------------------------------------

def test_a_session_cookie_with_a_wrong_bearer_token_is_refused(app, api):
    client = signed_in(app)
    assert client.get("/inbox").status_code == 200  # the session itself works for pages
    for header in ("Bearer wrong", "Bearer ", "Bearer wfa_not-a-token"):
        response = client.get("/api/me", headers={"Authorization": header})
        assert response.status_code == 401 and response.is_json and "error" in response.get_json(), header
        response = client.get("/api/protocols", headers={"Authorization": header})
        assert response.status_code == 401 and response.is_json, header
    assert client.get("/api/me").status_code == 401  # no header at all


def test_the_token_decides_who_calls_the_api_not_the_session(app, api):
    make_user("jo.reed", roles=["Professional"], agency="Children's Social Care")
    client = signed_in(app, "tester")
    response = client.get("/api/me", headers={"Authorization": f"Bearer {token_for('jo.reed')}"})
    assert response.status_code == 200 and response.get_json()["username"] == "jo.reed"


# -- 5: login limit shared by processes, per username and client -------------------------------------------

def _attempt(client, password: str, address: str = "10.0.0.1", username: str = "tester") -> int:
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address}).status_code


def test_login_failures_are_counted_in_the_database_for_every_process(app_factory, clock):
    first = app_factory(LOGIN_RATE_LIMIT="3 per minute")
    with first.app_context():
        client = first.test_client()
        assert [_attempt(client, "nope") for _ in range(2)] == [401, 401]
    # Another process (a second app on the same database, with its own memory) sees the same count.
    second = app_factory(deploy=False, reset_db=False, LOGIN_RATE_LIMIT="3 per minute")
    with second.app_context():
        client = second.test_client()
        assert _attempt(client, "nope") == 401
        assert _attempt(client, "nope") == 429
        assert _attempt(client, PASSWORD) == 429  # this client is locked out, even with the right password
        clock.shift(seconds=61)
        assert _attempt(client, PASSWORD) == 302


def test_a_locked_out_client_does_not_lock_out_the_right_password_elsewhere(app_factory, clock):
    app = app_factory(LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        assert [_attempt(client, "nope") for _ in range(4)] == [401, 401, 401, 429]
        blocked = client.post("/login", data={"username": "tester", "password": PASSWORD},
                              environ_base={"REMOTE_ADDR": "10.0.0.1"})
        assert blocked.status_code == 429 and "Too many sign-in attempts" in blocked.get_data(as_text=True)
        # The account's owner, from another address, signs in.
        assert _attempt(app.test_client(), PASSWORD, address="10.0.0.2") == 302
        # Another user from the locked-out address is not affected either.
        make_user("jo.reed", roles=["Professional"], agency="Children's Social Care")
        assert _attempt(app.test_client(), PASSWORD, username="jo.reed") == 302


# -- 6: XML with a DOCTYPE -----------------------------------------------------------------------------------

XXE = ('<?xml version="1.0" encoding="UTF-8"?>\n'
       '<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')


def _with_doctype(text: str) -> str:
    body = text.split("?>", 1)[1] if text.lstrip().startswith("<?xml") else text
    return XXE + body.lstrip()


def test_bpmn_and_dmn_with_a_doctype_are_refused_before_parsing(app, api):
    bpmn = (ROOT / "bpmn" / "partnership_escalation.bpmn").read_text()
    dmn = {p.name: p.read_text() for p in (ROOT / "dmn").glob("partnership*.dmn")}
    with pytest.raises(DeploymentFailed) as refused:
        deployments.validate("evil.bpmn", _with_doctype(bpmn), dmn)
    assert refused.value.status_code == 422 and "evil.bpmn" in refused.value.message
    assert "DOCTYPE" in refused.value.message and refused.value.problems[0]["file"] == "evil.bpmn"
    name = next(iter(dmn))
    with pytest.raises(DeploymentFailed) as refused:
        deployments.validate("partnership_escalation.bpmn", bpmn, {**dmn, name: _with_doctype(dmn[name])})
    assert name in refused.value.message and refused.value.problems[0]["file"] == name

    client = signed_in(app)  # the tester is a policy editor
    from io import BytesIO
    response = client.post("/deployments/new", data={"bpmn": (BytesIO(_with_doctype(bpmn).encode()), "evil.bpmn")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "evil.bpmn" in page and "DOCTYPE" in page


# -- 7: ids and pages beyond 32 bits ---------------------------------------------------------------------------

def test_huge_ids_and_page_numbers_are_not_server_errors(app, api):
    for number in (INT32_PLUS_ONE, BIG):
        for path in (f"/api/instances/{number}", f"/api/instances/{number}/diagram"):
            response = api.client.get(path, headers={"Authorization": f"Bearer {api._token('tester')}"})
            assert response.status_code == 404 and response.is_json, (path, response.status_code)
        response = api.client.post(f"/api/instances/{number}/cancel", json={"reason": "x"},
                                   headers={"Authorization": f"Bearer {api._token('tester')}"})
        assert response.status_code == 404 and response.is_json
        response = api.client.get(f"/api/instances?page={number}",
                                  headers={"Authorization": f"Bearer {api._token('tester')}"})
        assert response.status_code == 400 and response.is_json and "page" in response.get_json()["fields"]
    token = {"Authorization": f"Bearer {api._token('tester')}"}
    for page in ("9" * 5000, "\u00b2", "\u0663"):  # too long for int(); digits int() cannot read or SQL must not see
        response = api.client.get(f"/api/instances?page={page}", headers=token)
        assert response.status_code == 400 and response.is_json, page
    assert api.client.get(f"/api/instances/{'9' * 5000}", headers=token).status_code == 404
    assert api.request("GET", "/api/instances?page=3") == []  # an ordinary page past the end is just empty

    client = signed_in(app)
    for number in (INT32_PLUS_ONE, BIG):
        for path in (f"/instances/{number}", f"/instances/{number}/record", f"/instances/{number}/history.csv",
                     f"/instances/{number}/diagram.json"):
            assert client.get(path).status_code == 404, path
        assert client.get(f"/instances?page={number}").status_code == 400
    assert client.get(f"/instances?page={'9' * 5000}").status_code == 400
    assert client.post(f"/admin/tokens/{BIG}/revoke").status_code in (403, 404)
    assert client.get("/instances?page=2").status_code == 200


# -- 8: sessions end at logout and at a password change ----------------------------------------------------

def test_a_copied_session_cookie_stops_working_after_logout(app, api):
    client = signed_in(app)
    stolen = client.get_cookie("session").value
    assert client.get("/inbox").status_code == 200
    client.post("/logout")
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/inbox")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Signing in again works, and a new session is good.
    again = signed_in(app)
    assert again.get("/inbox").status_code == 200


def test_a_password_change_ends_every_session(app, api):
    client = signed_in(app)
    other_device = signed_in(app)
    assert client.get("/inbox").status_code == 200
    people.set_password(people.get_user("tester"), "a brand new password")
    db.session.commit()
    for session in (client, other_device):
        response = session.get("/inbox")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    ok = app.test_client().post("/login", data={"username": "tester", "password": "a brand new password"})
    assert ok.status_code == 302


# -- 9: every /api/ error is JSON ---------------------------------------------------------------------------

def test_every_api_error_is_json(app_factory, clock):
    app = app_factory(MAX_CONTENT_LENGTH=10_000)
    with app.app_context():
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token_for('tester')}"}
        cases = [("DELETE", "/api/instances/1", 405), ("PUT", "/api/health", 405), ("PATCH", "/api/tasks", 405),
                 ("GET", "/api/no-such-thing", 404), ("GET", "/api/instances/abc", 404),
                 ("POST", "/api/instances", 413)]
        for with_token in (True, False):
            for method, path, status in cases:
                kwargs = {"data": "x" * 20_000, "content_type": "application/json"} if status == 413 else {}
                response = client.open(path, method=method, headers=headers if with_token else {}, **kwargs)
                expected = status if with_token or status in (404, 405) else 401
                assert response.status_code == expected, (method, path, with_token, response.status_code)
                assert response.is_json and response.get_json()["error"], (method, path, response.data[:100])
        # Pages keep their HTML errors.
        page = client.delete("/login")
        assert page.status_code == 405 and not page.is_json
