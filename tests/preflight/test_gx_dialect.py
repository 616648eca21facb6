"""The duckdb_gx dialect: why it exists, that the entry point registers it, that GX leaves the file free."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from connector.preflight import run_preflight
from tests.preflight.probe import GOOD, PROBE


def _result_after_close(url: str):
    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:  # GX's pattern: execute inside the block, fetch after it
            result = c.execute(sa.text("select 42 as x union all select 43"))
        return result.fetchall()
    except Exception as exc:  # plain duckdb_engine: the result is gone
        return exc
    finally:
        eng.dispose()


def test_entry_point_dialect_keeps_results_after_the_connection_closes(tmp_path):
    url = f"duckdb_gx:///{tmp_path / 'a.duckdb'}"  # resolved through the sqlalchemy.dialects entry point
    assert sa.create_engine(url).dialect.name == "duckdb"
    assert _result_after_close(url) == [(42,), (43,)]


def test_plain_duckdb_engine_loses_them(tmp_path):
    # The premise of gx_dialect.py; if this starts to fail, duckdb_engine fixed it and the dialect can go.
    assert _result_after_close(f"duckdb:///{tmp_path / 'b.duckdb'}") != [(42,), (43,)]


def test_gx_run_leaves_the_duckdb_file_free_for_another_process(duck_env, probe_catalog):
    duck_env.make_view(probe_catalog, PROBE, [tuple({**GOOD, "source_row_key": "k"}.get(c)
                                                    for c in probe_catalog.get(PROBE).staging_columns)])
    report = run_preflight(duck_env.warehouse, probe_catalog, [PROBE], "run-lock", duck_env.settings)
    assert report.gx_success is not None
    path = duck_env.warehouse.duckdb_path
    code = f"import duckdb; c = duckdb.connect({path!r}); c.execute('create table lock_probe(i int)'); c.close()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_reflecting_tables_runs_no_statement_twice(tmp_path):
    """GX reflects the columns of each view's batch table: no catalogue query may repeat per table."""
    eng = sa.create_engine(f"duckdb_gx:///{tmp_path / 'r.duckdb'}")
    with eng.begin() as c:
        for t in ("a", "b", "c"):
            c.execute(sa.text(f"create table {t} (k varchar, v varchar)"))
    seen: list[str] = []
    sa.event.listen(eng, "before_cursor_execute", lambda conn, cur, stmt, *a: seen.append(stmt))
    try:
        cols = [[c["name"] for c in sa.inspect(eng).get_columns(t)] for t in ("a", "b", "c")]
    finally:
        eng.dispose()
    assert cols == [["k", "v"]] * 3
    assert [s for s in set(seen) if seen.count(s) > 1 and "pg_enum" in s] == []
