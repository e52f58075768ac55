"""Notifications through a real SMTP server on loopback (aiosmtpd): each seed notification reaches the
right people with a link, an SMTP outage delays but loses nothing, and a worker crash does not lose mail."""
from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from conftest import PASSWORD, Api, london, make_user
from workflow_app import clock as app_clock
from workflow_app.extensions import db
from workflow_app.persistence.models import OutboxMessage
from workflow_app.services import notifications
from workflow_app.services import people as people_service

BASE_URL = "http://workflow.test"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"

    def received(self) -> list[tuple[str, str, str]]:
        """(recipient, subject, body) of every message received."""
        from email import message_from_bytes
        from email.policy import default
        out = []
        for envelope in self.messages:
            message = message_from_bytes(envelope.content, policy=default)
            out.append((envelope.rcpt_tos[0], str(message["Subject"]), message.get_content()))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def smtp(smtp_port):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def mail_app(app_factory, clock, smtp_port):
    app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port, BASE_URL=BASE_URL)
    with app.app_context():
        yield app


@pytest.fixture
def api(mail_app):
    return Api(mail_app.test_client())


def start_wsscp(api, **changes) -> int:
    """A WSSCP escalation raised by a Northfield Academy professional against a named Children's Social Care one."""
    from test_protocol_wsscp_escalation import START
    for username, agency in (("ws.rory", "Northfield Academy"), ("ws.cara", "Children's Social Care")):
        if people_service.get_user(username, required=False) is None:
            make_user(username, roles=["Professional"], agency=agency, email=email_of(username))
    return api.as_user("ws.rory").start("wsscp_escalation", {**START, "other_professional": "ws.cara",
                                                             **changes})["id"]


def email_of(username: str) -> str:
    return f"{username}@agency.test"


def person(username: str, role: str, **kwargs):
    return make_user(username, roles=[role], email=email_of(username), **kwargs)


def test_business_team_notice_arrives_with_a_link_to_its_task(mail_app, api, smtp):
    person("bt.clerk", "Business Team")
    from test_protocol_wsscp_escalation import escalate_to_stage_2
    instance_id = start_wsscp(api)
    escalate_to_stage_2(api, instance_id)  # to Stage 2: the Business Team is told
    queued = db.session.query(OutboxMessage).filter_by(status="pending").all()
    assert [m.recipient_email for m in queued] == [email_of("bt.clerk")]
    assert smtp.messages == []  # nothing is sent inside the request: the worker sends
    result = notifications.deliver_pending()
    assert len(result.sent) == 1
    [(to, subject, body)] = smtp.received()
    log_task = next(t for t in api.instance(instance_id)["ready_tasks"] if t["name"] == "log_ongoing")
    assert to == email_of("bt.clerk")
    assert subject == f"Business Team notified of the ongoing disagreement – escalation #{instance_id} (WS-1)"
    assert f"{BASE_URL}/tasks/" in body and "Stage: 2" in body
    history = api.instance(instance_id)["history"]
    sent = next(h for h in history if h["kind"] == "notification_sent")
    assert sent["data"]["sent_to"] == ["bt.clerk", "tester"] and sent["data"]["emailed"] == ["bt.clerk"]
    delivered = [h for h in history if h["kind"] == "notification_delivered"]
    assert [(d["data"]["to"], d["data"]["attempts"]) for d in delivered] == [(email_of("bt.clerk"), 1)]
    assert notifications.deliver_pending().sent == []  # nothing twice
    assert len(smtp.messages) == 1
    assert log_task["role"] == "Business Team"


def test_cpa_iro_email_alert_goes_to_each_named_role(mail_app, api, smtp):
    """'CPA/IRO E-MAIL ALERT to Team Manager/Principal Officer/ Embedded Co-ordinator to confirm date of formal
    process' arrives as e-mail to each of them, with the date."""
    import test_protocol_cpa_iro_dispute_resolution as cpa
    from workflow_app.services import people
    for name in (cpa.IRO, cpa.SWT):
        people.get_or_create_agency(name)
    db.session.commit()
    from conftest import make_chain
    make_chain(cpa.IRO, cpa.RAISING_CHAIN)
    make_chain(cpa.SWT, cpa.COUNTER_CHAIN)
    make_user("iro.coordinator", roles=["Embedded Co-ordinator"], agency=cpa.IRO, email="iro.coordinator@example.org")
    iro = api.as_user("cpa.iro")
    instance_id = iro.start(cpa.PROTOCOL, cpa.START)["id"]
    tasks = cpa.ready(iro, instance_id)
    iro.complete(tasks["informal_resolution"]["id"], cpa.informal("unresolved"))
    iro.as_user("sw.kim").complete(tasks["informal_response"]["id"], cpa.response("unresolved"))
    iro.complete(cpa.ready(iro, instance_id)["confirm_formal_date"]["id"], cpa.FORMAL_DATE)
    notifications.deliver_pending()
    alert = [m for m in smtp.received() if "E-MAIL ALERT" in m[1]]
    assert sorted(to for to, _, _ in alert) == ["iro.coordinator@example.org", "iro.principal@example.org",
                                                "iro.tm@example.org"]
    assert all(f"{BASE_URL}/" in body and "Formal process date: 2026-12-07" in body for _, _, body in alert)


def test_wraparound_violation_report_reaches_the_department(mail_app, api, smtp):
    person("qa.reviewer", "Quality Assurance Department")
    person("network.reviewer", "Provider Network")
    from test_protocol_wraparound_conflict_resolution import START, create_agencies
    create_agencies()
    make_user("wrap.cc", roles=["Care Coordinator"], agency="Wraparound Milwaukee")
    instance_id = api.as_user("wrap.cc").start("wraparound_conflict_resolution", {**START, "track": "C", "violation": "licensing",
                                                               "counterpart_agency": "Network Provider X"})["id"]
    notifications.deliver_pending()
    received = [(to, subject.split(" – ")[0]) for to, subject, _ in smtp.received()]
    assert (email_of("network.reviewer"), "Violation reported for review") in received
    assert email_of("qa.reviewer") not in [to for to, _ in received]
    review = api.ready(instance_id, "network_review")
    body = next(b for to, _, b in smtp.received() if to == email_of("network.reviewer"))
    assert f"{BASE_URL}/tasks/{review['id']}" in body


def test_smtp_outage_delays_mail_and_loses_none(mail_app, api, smtp_port, clock):
    person("bt.clerk", "Business Team")
    from test_protocol_wsscp_escalation import escalate_to_stage_2
    for n in range(3):
        instance_id = start_wsscp(api, case_reference=f"WS-{n}")
        escalate_to_stage_2(api, instance_id)
    down = notifications.deliver_pending()  # nothing listens on the SMTP port
    assert len(down.retrying) == 3 and down.sent == []
    message = db.session.query(OutboxMessage).first()
    assert message.attempts == 1 and "ConnectionRefusedError" in message.last_error
    assert message.next_attempt_at == app_clock.now() + timedelta(seconds=30)
    assert notifications.deliver_pending().retrying == []  # backing off: not due yet
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        clock.shift(seconds=31)
        assert len(notifications.deliver_pending().sent) == 3
        assert notifications.deliver_pending().sent == []
        assert sorted(e.rcpt_tos[0] for e in inbox.messages) == [email_of("bt.clerk")] * 3
    finally:
        controller.stop()
    assert {m.status for m in db.session.query(OutboxMessage)} == {"sent"}


def test_a_worker_dying_mid_delivery_loses_nothing(mail_app, api, smtp, clock):
    person("bt.clerk", "Business Team")
    from test_protocol_wsscp_escalation import escalate_to_stage_2
    instance_id = start_wsscp(api)
    escalate_to_stage_2(api, instance_id)
    # A worker claimed the message and died before sending: the row keeps its lease.
    message = db.session.query(OutboxMessage).one()
    message.status, message.lease_until = "sending", app_clock.now() + notifications.LEASE
    db.session.commit()
    assert notifications.deliver_pending().sent == []  # another worker leaves it alone while the lease runs
    clock.shift(minutes=3)
    assert len(notifications.deliver_pending().sent) == 1
    assert len(smtp.messages) == 1


def test_failing_for_good_is_recorded_in_history(mail_app, api, clock):
    person("bt.clerk", "Business Team")
    from test_protocol_wsscp_escalation import escalate_to_stage_2
    instance_id = start_wsscp(api)
    escalate_to_stage_2(api, instance_id)
    for _ in range(notifications.MAX_ATTEMPTS):
        notifications.deliver_pending()
        clock.shift(hours=2)
    assert db.session.query(OutboxMessage).one().status == "failed"
    failed = [h for h in api.instance(instance_id)["history"] if h["kind"] == "notification_failed"]
    assert len(failed) == 1 and failed[0]["data"]["attempts"] == notifications.MAX_ATTEMPTS


def test_in_app_notices_and_the_bell(mail_app, api):
    person("bt.clerk", "Business Team")
    from test_protocol_wsscp_escalation import escalate_to_stage_2
    instance_id = start_wsscp(api)
    escalate_to_stage_2(api, instance_id)
    client = mail_app.test_client()
    client.post("/login", data={"username": "bt.clerk", "password": PASSWORD})
    assert 'aria-label="Notices: 1 unread"' in client.get("/inbox").get_data(as_text=True)
    page = client.get("/notices").get_data(as_text=True)
    assert f"Business Team notified of the ongoing disagreement: escalation #{instance_id}" in page
    assert 'aria-label="Notices: 0 unread"' in client.get("/inbox").get_data(as_text=True)


def partnership_people() -> None:
    """The partnership escalation's two management chains (its ``people`` fixture), e-mail name@example.org."""
    from conftest import make_chain
    from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)


def test_daily_digest_lists_tasks_due_in_two_working_days(mail_app, api, smtp, clock):
    from test_partnership_escalation import start
    partnership_people()
    instance_id = start(api)  # Stage 1: both professionals' tasks due Thursday 09:00
    notifications.deliver_pending()  # the Stage 1 notice
    smtp.messages.clear()
    assert mail_app.test_cli_runner().invoke(args=["notifications", "digest"]).output == "digests queued: 2\n"
    assert "sent 2" in mail_app.test_cli_runner().invoke(args=["notifications", "send-once"]).output
    digests = {to: (subject, body) for to, subject, body in smtp.received()}
    assert sorted(digests) == ["jo.reed@example.org", "sam.patel@example.org"]  # each side; nobody else has a task
    tasks = {t["assigned_to"]: t for t in api.instance(instance_id)["ready_tasks"]}
    for username, other_username in (("sam.patel", "jo.reed"), ("jo.reed", "sam.patel")):
        subject, body = digests[f"{username}@example.org"]
        assert subject == "1 task(s) due in the next 2 working days"
        assert tasks[username]["title"] in body and "Thu 03 Dec 2026, 09:00 GMT" in body
        assert f"{BASE_URL}/tasks/{tasks[username]['id']}" in body
        assert tasks[other_username]["title"] not in body  # the other side's task is not theirs


def test_partnership_escalation_notice_reaches_both_agencies_line_managers(mail_app, api, smtp):
    """'referred to each professionals' own line manager': the line manager of each Stage 1 professional is told
    by e-mail, with the evidence, and nobody else holding the role (another line manager in either agency, or in
    an agency outside the dispute)."""
    from test_partnership_escalation import CSC, SCHOOL, complete, other, raising, ready, start
    partnership_people()
    person("other.lm.school", "Line Manager", agency=SCHOOL)
    person("other.lm.csc", "Line Manager", agency=CSC)
    person("manager.police", "Line Manager", agency="Police")
    instance_id = start(api)
    notifications.deliver_pending()  # the Stage 1 notice to both professionals
    smtp.messages.clear()
    tasks = ready(api, instance_id)
    complete(api, tasks["stage1_discussion"], raising("unresolved"))
    complete(api, tasks["stage1_acknowledge"], other("resolved"))
    notifications.deliver_pending()
    received = sorted((to, subject.split(" – ")[0]) for to, subject, _ in smtp.received())
    assert received == [("max.lm@example.org", "Both line managers told of the referral"),
                        ("mia.lm@example.org", "Both line managers told of the referral")]
    stage2 = {t["assigned_to"]: t for t in api.instance(instance_id)["ready_tasks"]}
    for to, _, body in smtp.received():
        assert "Stage: 2" in body and "Evidence explored: Two calls and a meeting held; positions unchanged." in body
        manager = to.removesuffix("@example.org")
        assert f"A task is waiting for you: {stage2[manager]['title']}" in body  # each finds their own task
        assert f"{BASE_URL}/tasks/{stage2[manager]['id']}" in body


def test_recipient_tokens_name_the_raiser_and_the_senders_line_manager(mail_app, api):
    from workflow_app.persistence.models import ProcessInstance
    from workflow_app.services.people import get_user
    from test_partnership_escalation import start
    partnership_people()
    instance = db.session.get(ProcessInstance, start(api))  # raised by sam.patel, other side jo.reed
    tokens = "@raiser, @line_manager, Chief Wizard"
    # Sent by the raising professional: their own line manager.
    people, unresolved, _contacts = notifications.resolve_recipients(instance, tokens, get_user("sam.patel"))
    assert sorted(p.username for p in people) == ["mia.lm", "sam.patel"]
    assert unresolved == ["Chief Wizard"]
    # Sent by the other side's professional: @raiser is still who raised it; @line_manager is the sender's.
    people, unresolved, _contacts = notifications.resolve_recipients(instance, tokens, get_user("jo.reed"))
    assert sorted(p.username for p in people) == ["max.lm", "sam.patel"]
    assert unresolved == ["Chief Wizard"]
    # The party tokens: whoever holds each side's current rung, and that person's line manager.
    people, unresolved, _contacts = notifications.resolve_recipients(
        instance, "@raising, @counterpart, @raising_manager, @counterpart_manager", None)
    assert sorted(p.username for p in people) == ["jo.reed", "max.lm", "mia.lm", "sam.patel"]
    assert unresolved == []


def test_the_instance_page_keeps_deliveries_out_of_the_dispute_history_until_asked(mail_app, api, smtp):
    """Issue 17: a history that was half "E-mail delivered" entries. Successful deliveries are counted, not
    listed, until the reader asks for them; what happened to the dispute stays in view."""
    from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL, start
    from conftest import PASSWORD, make_chain
    make_chain(SCHOOL, RAISING)
    make_chain(CSC, OTHER)
    instance_id = start(api)
    assert notifications.deliver_pending().sent  # the people Stage 1 concerns are told
    from workflow_app.persistence.models import HistoryEntry
    delivered = db.session.query(HistoryEntry).filter_by(instance_id=instance_id, kind="notification_delivered").count()
    assert delivered >= 1
    client = mail_app.test_client()
    client.post("/login", data={"username": "sam.patel", "password": PASSWORD})
    page = client.get(f"/instances/{instance_id}").get_data(as_text=True)
    history = page[page.index('id="history"'):]
    assert "E-mail delivered" not in history and "Escalation raised" in history
    assert f"{delivered} e-mail and webhook deliver" in page
    shown = client.get(f"/instances/{instance_id}?deliveries=show").get_data(as_text=True)
    assert shown[shown.index('id="history"'):].count("E-mail delivered") == delivered
    assert "Hide e-mail and webhook deliveries" in shown
