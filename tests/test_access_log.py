"""Every view of an escalation is recorded (who, when, what, from where) and the record cannot be altered."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from conftest import PASSWORD, TESTER, make_user
from test_partnership_escalation import PROTOCOL, people, start  # noqa: F401
from workflow_app.extensions import db
from workflow_app.persistence.models import AccessLogEntry, Notice
from workflow_app.services import access_log
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


def test_opening_a_task_page_is_a_view_of_its_escalation(app, api, people):
    """The task page shows the escalation's details and what both sides recorded before: it is logged."""
    instance_id = start(api)
    task_id = next(t["id"] for t in api.instance(instance_id)["ready_tasks"] if t["name"] == "stage1_discussion")
    before = rows(instance_id)
    page = signed_in(app, "sam.patel").get(f"/tasks/{task_id}", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert page.status_code == 200
    assert rows(instance_id)[len(before):] == [("sam.patel", "task", "10.9.8.7")]
    assert access_log.VIEW_KINDS["task"] == "task page"


def test_a_task_page_opened_by_an_e_mailed_link_is_logged_without_the_address(app, api, people):
    from workflow_app.persistence.models import ExternalLink
    from workflow_app.services import external_links
    instance_id = start(api, other_professional="", other_contact_name="Lee Moss",
                        other_contact_email="lee.moss@example.org")
    link = db.session.scalars(select(ExternalLink).where(ExternalLink.instance_id == instance_id)).one()
    before = rows(instance_id)
    page = app.test_client().get(f"/respond/{external_links.token_for(link)}", environ_base={"REMOTE_ADDR": "10.5.5.5"})
    assert page.status_code == 200
    assert rows(instance_id)[len(before):] == [(f"Lee Moss (e-mailed link {link.id})", "respond", "10.5.5.5")]
    assert "lee.moss" not in str(rows(instance_id))


def test_a_view_is_committed_and_the_connection_keeps_its_durability_setting(app, api, people):
    """The log row's commit does not wait for the disk on SQLite; every pooled connection is FULL again after."""
    instance_id = start(api)
    signed_in(app, "sam.patel").get(f"/instances/{instance_id}")
    with db.engine.connect() as other:  # another connection sees the row: it was committed
        assert other.execute(select(AccessLogEntry.what).where(AccessLogEntry.instance_id == instance_id)).all()
    if db.engine.dialect.name == "sqlite" and not os.environ.get("WORKFLOW_SQLITE_SYNCHRONOUS"):
        held = [db.engine.connect() for _ in range(3)]
        try:
            assert {c.exec_driver_sql("PRAGMA synchronous").scalar() for c in held} == {2}  # FULL
        finally:
            for connection in held:
                connection.close()


def test_the_json_api_lists_who_viewed_an_escalation_for_owners_and_officers(app, api, people):
    instance_id = start(api)
    api.as_user("jo.reed").request("GET", f"/api/instances/{instance_id}", environ_base={"REMOTE_ADDR": "10.7.7.7"})
    log = api.request("GET", f"/api/instances/{instance_id}/access-log")  # the tester owns every protocol
    assert log["instance"] == instance_id
    assert {"user": "jo.reed", "what": "API (instance)", "client": "10.7.7.7", "outside_agency": False,
            "instance": instance_id}.items() <= log["views"][-1].items()
    refused = api.as_user("jo.reed").request("GET", f"/api/instances/{instance_id}/access-log", expect=403)
    assert "data protection officers" in refused["error"]
    api.request("GET", "/api/instances/999999/access-log", expect=404)
