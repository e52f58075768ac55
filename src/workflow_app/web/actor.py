"""Who is acting. Until sign-in lands (people issue), staff state their name once per browser
session and API clients send ``X-Actor``; history records that name."""
from __future__ import annotations

from flask import request, session


def current_actor() -> str:
    if request.blueprint == "api":
        return (request.headers.get("X-Actor") or "api client").strip()[:200]
    return session.get("actor") or "anonymous"
