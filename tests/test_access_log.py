"""Every view of an escalation is recorded (who, when, what, from where) and the record cannot be altered."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from conftest import PASSWORD, TESTER, make_user
from test_partnership_escalation import PROTOCOL, people, start  # noqa: F401
from workflow_app.extensions import db
from workflow_app.persistence.models import AccessLogEntry, Notice
from workflow_app.services import people as people_service

OFFICER = "dpo"


def rows(instance_id: int) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(e.username, e.what, e.client) for e in db.session.scalars(
        select(AccessLogEntry).where(AccessLogEntry.instance_id == instance_id).order_by(AccessLogEntry.id))]


def signed_in(app, username: str):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


VIEWS = [  # (what is logged, how the view is opened: by the API helper or a signed-in browser)
    ("api", "api", "/api/instances/{id}"),
    ("api_diagram", "api", "/api/instances/{id}/diagram"),
    ("page", "web", "/instances/{id}"),
    ("diagram", "web", "/instances/{id}/diagram.json"),
    ("history_csv", "web", "/instances/{id}/history.csv"),
    ("history_json", "web", "/instances/{id}/history.json"),
    ("record", "web", "/instances/{id}/record"),
]


@pytest.mark.parametrize("what,how,url", VIEWS)
def test_each_kind_of_view_writes_one_row(app, api, people, what, how, url):
    instance_id = start(api)
    before = rows(instance_id)
    if how == "api":
        api.as_user("sam.patel").request("GET", url.format(id=instance_id),
                                         environ_base={"REMOTE_ADDR": "10.1.2.3"})
    else:
        response = signed_in(app, "sam.patel").get(url.format(id=instance_id), environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert response.status_code == 200
    assert rows(instance_id)[len(before):] == [("sam.patel", what, "10.1.2.3")]


def test_a_refused_view_is_not_logged_as_a_view(app, api, people):
    instance_id = start(api)
    make_user("outsider", roles=["Professional"], agency="Elsewhere School")
    before = rows(instance_id)
    api.as_user("outsider").request("GET", f"/api/instances/{instance_id}", expect=403)
    assert rows(instance_id) == before


def test_owner_and_officer_see_who_viewed_an_escalation_others_do_not(app, api, people):
    instance_id = start(api)
    api.as_user("jo.reed").request("GET", f"/api/instances/{instance_id}")
    make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
    for username in (OFFICER, TESTER):  # the tester owns every protocol
        page = signed_in(app, username).get(f"/governance/instances/{instance_id}/access").get_data(as_text=True)
        assert "jo.reed" in page and "API (instance)" in page
    assert signed_in(app, "jo.reed").get(f"/governance/instances/{instance_id}/access").status_code == 403


def test_the_log_cannot_be_changed_through_the_app(app, api, people):
    instance_id = start(api)
    api.as_user("jo.reed").request("GET", f"/api/instances/{instance_id}")
    before = rows(instance_id)
    make_user("root", roles=[people_service.ADMINISTRATOR, people_service.DATA_PROTECTION_OFFICER])
    client = signed_in(app, "root")
    # No route edits or deletes a row: every method other than GET on the log's pages is refused.
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert client.open(f"/governance/instances/{instance_id}/access", method=method).status_code == 405
    assert not [rule.rule for rule in app.url_map.iter_rules()
                if "access" in rule.rule and (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}]
    assert rows(instance_id) == before


def test_postgresql_refuses_to_update_or_delete_a_logged_view(app, api, people):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    instance_id = start(api)
    api.as_user("jo.reed").request("GET", f"/api/instances/{instance_id}")
    from sqlalchemy.exc import DBAPIError
    for statement in ("UPDATE access_log SET username = 'someone else'", "DELETE FROM access_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(db.text(statement))
        db.session.rollback()
    assert ("jo.reed", "api", "127.0.0.1") in rows(instance_id)


def test_many_escalations_opened_outside_ones_agency_alert_the_officer(app_factory, clock):
    app = app_factory(ACCESS_ALERT_THRESHOLD=3, ACCESS_ALERT_MINUTES=60)
    with app.app_context():
        from conftest import Api, make_chain
        from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
        officer = make_user(OFFICER, roles=[people_service.DATA_PROTECTION_OFFICER])
        # An administrator of a third agency may see everything; looking at three disputes between other
        # agencies within the hour is what the officer is told about.
        make_user("curious", roles=[people_service.ADMINISTRATOR], agency="Elsewhere School")
        api = Api(app.test_client())
        ids = [start(api, case_reference=f"CASE-{n}") for n in range(4)]
        viewer = api.as_user("curious")
        for instance_id in ids[:2]:
            viewer.request("GET", f"/api/instances/{instance_id}")
        viewer.request("GET", f"/api/instances/{ids[0]}")  # the same escalation again does not count twice
        assert officer_notices(officer) == []
        clock.shift(minutes=61)  # views older than the window do not count
        for instance_id in ids[:2]:
            viewer.request("GET", f"/api/instances/{instance_id}")
        assert officer_notices(officer) == []
        viewer.request("GET", f"/api/instances/{ids[2]}")
        assert officer_notices(officer) == [
            "Curious (curious) opened 3 escalations outside their own agency within 60 minutes."]
        viewer.request("GET", f"/api/instances/{ids[3]}")  # one alert per window, not one per view
        assert len(officer_notices(officer)) == 1
        # Staff of the escalation's own agencies never count.
        for instance_id in ids:
            api.as_user("sam.patel").request("GET", f"/api/instances/{instance_id}")
        assert len(officer_notices(officer)) == 1


def officer_notices(officer) -> list[str]:
    db.session.expire_all()
    return [n.text for n in db.session.scalars(select(Notice).where(Notice.user_id == officer.id))]
