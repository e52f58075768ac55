"""Functions that diagram expressions may call (timer expressions, scripts, conditions).

Each returns an ISO-8601 string with a UTC offset, the form SpiffWorkflow's timers accept (a
``datetime`` object is rejected, and a naive string would be read with a fixed offset).
"""
from __future__ import annotations

from typing import Callable

from workflow_app import clock
from workflow_app.services.calendar import WorkingCalendar


def diagram_functions(calendar: WorkingCalendar) -> dict[str, Callable]:
    def working_days(days: int) -> str:
        """Now plus ``days`` working days on this protocol's calendar, same time of day."""
        return calendar.add_working_days(clock.now(), int(days)).isoformat()

    return {"working_days": working_days}
