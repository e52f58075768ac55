"""Count the SQL statements an operation runs (a SQLAlchemy event listener on the app's engine).

    with counting(db.engine) as seen:
        do_something()
    seen.count, seen.statements  # how many, and their text (first line) in order
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event


@dataclass
class Statements:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def counting(engine):
    """Record every statement ``engine`` executes inside the block (commits are not statements)."""
    seen = Statements()

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        seen.statements.append(" ".join(statement.split())[:160])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
