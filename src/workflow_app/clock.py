"""The one place the application asks what time it is.

Everything time-dependent goes through :func:`now` (and SpiffWorkflow's own timer checks use
``datetime.now(timezone.utc)``), so tests move the clock with ``time-machine`` instead of sleeping.
"""
from __future__ import annotations

from datetime import datetime, timezone


def now() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC and convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
