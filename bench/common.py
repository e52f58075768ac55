"""Shared set-up for the benchmarks: two agencies' management chains (every role a different person), the
partnership start form, and the forms each side submits at a stage.

The partnership escalation (seed 001) is a two-party ladder: at each stage the raising side records the
discussion (``stageN_discussion``) and the other side acknowledges and records its position
(``stageN_acknowledge``); each side's task goes to one person, found by climbing that agency's own
line-manager chain. The chains and forms mirror the scenario tests (tests/test_partnership_escalation.py).
"""
from __future__ import annotations

from workflow_app.extensions import db
from workflow_app.services import people

PROTOCOL = "partnership_escalation"
RAISING_AGENCY, OTHER_AGENCY = "Northfield Academy", "Children's Social Care"
PASSWORD = "bench-password"
# Each side's management chain, bottom up: (username, roles).
RAISING_CHAIN = [("sam.patel", ["Professional"]), ("mia.lm", ["Line Manager"]), ("sue.senior", ["Senior Manager"]),
                 ("hal.head", ["Senior Manager"]), ("dan.director", ["Director / Chief Executive"])]
OTHER_CHAIN = [("jo.reed", ["Professional"]), ("max.lm", ["Line Manager"]), ("ann.senior", ["Senior Manager"]),
               ("ken.head", ["Senior Manager"]), ("cara.director", ["Director / Chief Executive"])]
RAISER, OTHER_PROFESSIONAL = RAISING_CHAIN[0][0], OTHER_CHAIN[0][0]
# Who holds Stage 2 on each side: the line manager of each side's professional (one rung up each chain).
STAGE2_HOLDERS = (RAISING_CHAIN[1][0], OTHER_CHAIN[1][0])

START = {"case_reference": "BENCH", "raising_agency": RAISING_AGENCY, "other_agency": OTHER_AGENCY,
         "other_professional": OTHER_PROFESSIONAL, "disagreement": "Referral closed with no further action.",
         "desired_outcome": "A child and family assessment."}
FAST_HASHING = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


def raising_form(outcome: str = "unresolved") -> dict:
    """The raising side's discussion record (``stageN_discussion``); 'unresolved' refers it up, with evidence."""
    data = {"date_held": "2026-12-01", "discussion_method": "telephone", "participants": "Both parties",
            "outcome": outcome, "action_plan": "Joint visit by Friday; review in 5 working days."}
    if outcome != "resolved":
        data["evidence_explored"] = "Two calls and a meeting held; positions unchanged."
    return data


def other_form(outcome: str = "resolved") -> dict:
    """The other side's acknowledgement and position (``stageN_acknowledge``)."""
    data = {"counterpart_position": "The threshold for assessment is not met.", "counterpart_outcome": outcome}
    if outcome == "resolved":
        data["counterpart_plan"] = "Joint visit by Friday; review in 5 working days."
    else:
        data["counterpart_evidence"] = "Case discussed twice with the school; new information reviewed."
    return data


def _chain(agency: str, bottom_up: list[tuple[str, list[str]]], **kwargs) -> None:
    manager = None
    for username, roles in reversed(bottom_up):
        people.create_user(username, PASSWORD, display_name=username.replace(".", " ").title(), agency=agency,
                           roles=roles, line_manager=manager, email=f"{username}@example.org", **kwargs)
        manager = username


def bench_people(**kwargs) -> dict[str, object]:
    """Both agencies' chains (each role held by a different person, with real line managers); returns the
    users by username. ``kwargs`` go to every ``create_user`` (e.g. ``protocols``)."""
    _chain(RAISING_AGENCY, RAISING_CHAIN, **kwargs)
    _chain(OTHER_AGENCY, OTHER_CHAIN, **kwargs)
    db.session.commit()
    return {name: people.get_user(name) for name, _ in RAISING_CHAIN + OTHER_CHAIN}


def bench_user():
    """Both chains; returns the raising professional (who raises every bench escalation)."""
    return bench_people()[RAISER]


def stage1_tasks(instance) -> tuple[object, object]:
    """(raising side's, other side's) ready Stage 1 task records of an instance."""
    ready = {t.element_id: t for t in instance.tasks if t.state == "ready"}
    return ready["stage1_discussion"], ready["stage1_acknowledge"]


def ensure_postgres_database(url: str) -> bool:
    """Create the bench database on the server when missing; False when no PostgreSQL answers."""
    import psycopg
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    try:
        with psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname="postgres",
                             autocommit=True, connect_timeout=3) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{parsed.database}"')
        return True
    except psycopg.OperationalError:
        return False
