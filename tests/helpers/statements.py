"""Counting the SQL statements code sends (a whole-process listener, or one engine's): for tests that a step
sends the statements it should, exactly, without timing anything."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa

__all__ = ["counting_statements"]


@contextmanager
def counting_statements(target=sa.engine.Engine) -> Iterator[list[str]]:
    """Every statement sent on ``target`` (an ``Engine``, or the class: every engine of the process) while the
    block runs, whitespace collapsed, in order."""
    sent: list[str] = []

    def on_execute(conn, cursor, statement, *a):
        sent.append(" ".join(statement.split()))

    sa.event.listen(target, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        sa.event.remove(target, "before_cursor_execute", on_execute)
