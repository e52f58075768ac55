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

    def working_hours(hours: float) -> str:
        """Now plus ``hours`` of office time (office hours on working days)."""
        return calendar.add_working_hours(clock.now(), float(hours)).isoformat()

    def end_of_working_day(days: int = 0) -> str:
        """Closing time on the ``days``-th working day from today (0: today, or the next working day)."""
        return calendar.end_of_working_day(clock.now(), int(days)).isoformat()

    def working_day_cycle(days: int, times: int | None = None) -> str:
        """A repeating timer (timeCycle): every ``days`` working days, ``times`` times or until the task ends.

        The engine re-evaluates this after each firing, so every repetition is counted in working days.
        """
        first = calendar.add_working_days(clock.now(), int(days)).isoformat()
        repeat = "" if times is None else str(int(times))
        return f"R{repeat}/{first}/P{int(days)}D"

    return {"working_days": working_days, "working_hours": working_hours,
            "end_of_working_day": end_of_working_day, "working_day_cycle": working_day_cycle}
