"""Shared set-up for the benchmarks: the start form and a professional allowed to raise escalations."""
from __future__ import annotations

from workflow_app.extensions import db
from workflow_app.services import people

START = {"case_reference": "BENCH", "raising_professional": "A", "raising_agency": "School",
         "other_professional": "B", "other_agency": "Social care", "disagreement": "x", "desired_outcome": "y"}
FAST_HASHING = {"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


def bench_user():
    """A professional in one of the two agencies the bench escalations are between."""
    for agency in ("School", "Social care"):
        people.get_or_create_agency(agency)
    user = people.create_user("bench", "bench-password", roles=["Professional"], agency="School")
    db.session.commit()
    return user
