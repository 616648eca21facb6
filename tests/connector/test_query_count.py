"""Statements a small run sends to the warehouse (issue 20 item 3; the demo-sized figures: bench/bench_queries.py).

Counted with SQLAlchemy's ``before_cursor_execute`` on every engine in the process (the run's own Warehouse
included), plus PostgreSQL's raw ``COPY`` cursor; no timing. Each test pins one reduction: a plan with nothing
to send exports nothing, the views are looked up once per schema per run, and the accounting stays the same."""

from __future__ import annotations

import functools
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.preflight import run_preflight
from connector.run import run
from connector.simulator import SimulatorConfig
from tests.connector.test_accounting import _ac_rows, make_view, settings_for

FAST = SimulatorConfig(pending_seconds=0.0, seconds_per_1000_rows=0.0, min_processing_seconds=0.0)
NO_GX = functools.partial(run_preflight, gx=False)
CF_ROWS = [{"source_row_key": f"cf-{i}", "VanID": str(100000 + i), "CF103": "Driving"} for i in (1, 2)]
TYPES = ["ActivistCode", "ApplyContactCustomFields"]


@contextmanager
def counting():
    sent: list[str] = []

    def on_execute(conn, cursor, statement, *a):
        sent.append(" ".join(statement.split()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", on_execute)
    try:
        yield sent
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", on_execute)


def _views(s) -> None:
    make_view(s.warehouse_url, "ActivistCode", _ac_rows())
    make_view(s.warehouse_url, "ApplyContactCustomFields", CF_ROWS)


def _run(s):
    return run(s, TYPES, skip_dbt=True, preflight=NO_GX, simulator_config=FAST,
               static_values={"ApplyContactCustomFields": {"CustomFieldGroupID": "501"}})


def _copies(sent: list[str]) -> list[str]:
    return [q for q in sent if re.match(r"copy \(", q, re.I)]


def test_a_run_with_nothing_to_send_exports_nothing(tmp_path):
    s = settings_for(tmp_path)
    _views(s)
    first = _run(s)
    assert [first.mapping_types[n].sent for n in TYPES] == [2, 2], first.render()
    with counting() as sent:
        second = _run(s)
    assert second.ok and second.status == "success", second.render()
    for n in TYPES:  # every row accounted the same way: unchanged, nothing sent, no chunk
        m = second.mapping_types[n]
        assert (m.rows_checked, m.unchanged, m.to_send, m.sent, m.chunks, m.rejected) == (2, 2, 0, 0, 0, 0), n
    assert _copies(sent) == []  # was one COPY (and DuckDB's settings around it) per mapping type
    assert not (Path(s.state_dir) / "exports" / second.run_id).exists()

