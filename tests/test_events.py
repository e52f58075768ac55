"""One stream of domain events: a state change publishes what happened once; the history, the notices, the
e-mail and the webhooks are its consumers, written in the change's own transaction, so a change that is rolled
back tells no one and a change that commits tells everyone."""
from __future__ import annotations

from sqlalchemy import func, select

from conftest import Api, make_chain, make_user
from test_partnership_escalation import CSC, OTHER, RAISING, SCHOOL, complete, other, raising, ready, start
from workflow_app.extensions import db
from workflow_app.persistence.models import HistoryEntry, Notice, OutboxMessage, User
from workflow_app.services import events, instances

RECEIVER = "http://127.0.0.1:9/hooks"  # never contacted: these tests only look at what was queued


def counts(instance_id: int) -> tuple[int, int, int, int]:
    """(history entries, notices, e-mails, webhook deliveries) held for one escalation."""
    def count(model, *where):
        return db.session.scalar(select(func.count()).select_from(model).where(model.instance_id == instance_id,
                                                                               *where))
    return (count(HistoryEntry), count(Notice), count(OutboxMessage, OutboxMessage.kind != "webhook"),
            count(OutboxMessage, OutboxMessage.kind == "webhook"))


def test_a_committed_change_reaches_every_consumer_once(app_factory, clock):
    app = app_factory(WEBHOOK_URLS=(RECEIVER,))
    with app.app_context():
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
        api = Api(app.test_client())
        instance_id = start(api)
        before = counts(instance_id)
        # Stage 1 ends unresolved: the escalation climbs to Stage 2 and both line managers are told.
        tasks = ready(api, instance_id)
        complete(api, tasks["stage1_discussion"], raising("unresolved"))
        complete(api, tasks["stage1_acknowledge"], other("resolved"))
        db.session.expire_all()
        history = db.session.scalars(select(HistoryEntry).where(HistoryEntry.instance_id == instance_id)
                                     .order_by(HistoryEntry.id)).all()
        told = [h for h in history if h.data.get("sent_to") and h.task == "Both line managers told of the referral"]
        assert len(told) == 1 and sorted(told[0].data["sent_to"]) == ["max.lm", "mia.lm"]
        assert sum(h.kind == "escalated" for h in history) == 1
        # Each notice links to the task the same change opened for its reader (written once the change was done).
        stage2 = {t["assigned_to"]: t["id"] for t in ready(api, instance_id).values()}
        notices = db.session.scalars(select(Notice).where(Notice.instance_id == instance_id,
                                                          Notice.text.startswith("Both line managers"))).all()
        assert sorted((n.user_id, n.link) for n in notices) == sorted(
            (db.session.scalar(select(User.id).where(User.username == name)), f"/tasks/{stage2[name]}")
            for name in ("mia.lm", "max.lm"))
        hooks = db.session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id,
                                                               OutboxMessage.kind == "webhook")).all()
        assert sum(m.subject.startswith("escalated ") for m in hooks) == 1
        assert [c > b for c, b in zip(counts(instance_id), before)] == [True, True, True, True]


def test_a_change_rolled_back_tells_no_one(app_factory, clock):
    app = app_factory(WEBHOOK_URLS=(RECEIVER,))
    with app.app_context():
        make_chain(SCHOOL, RAISING)
        make_chain(CSC, OTHER)
        bt_lead = make_user("bt.lead", roles=["Partnership Business Office"], email="bt.lead@example.org")
        api = Api(app.test_client())
        instance_id = start(api)
        before = counts(instance_id)
        instance = instances.get_instance(instance_id)
        # A change that fails after publishing: its history entry, notice, e-mail and webhook all go with it ...
        events.publish(instance, "escalated", task="Stage 2", data={"recipients": "Partnership Business Office"})
        db.session.rollback()
        # ... and the next change that commits in the same session does not carry them along.
        instance = instances.get_instance(instance_id)
        events.publish(instance, "suspended", actor="someone", data={"reason": "checking"})
        db.session.commit()
        db.session.expire_all()
        after = counts(instance_id)
        assert after == (before[0] + 1, before[1], before[2], before[3])
        assert not db.session.scalars(select(Notice).where(Notice.instance_id == instance_id,
                                                           Notice.user_id == bt_lead.id)).all()
