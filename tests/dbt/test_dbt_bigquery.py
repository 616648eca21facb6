"""The demo dbt project on BigQuery, emulated (crucible, tests/fixtures/bigquery.py): `dbt seed`, `dbt run`,
`dbt test` as `vanbulk`'s own build does (ledger monitoring tests excluded), the staging views' rows equal to the
DuckDB build of the same seeds, and every compiled model linted as GoogleSQL (the emulator runs DuckDB and
accepts functions BigQuery does not have). No model computes a row hash: the rows are compared value by value.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.catalog import load_catalog
from connector.dbt_runner import LEDGER_TESTS, dbt_executable
from connector.ledger import schema as ledger_schema
from tests.helpers.bigquery_lint import lint

from .conftest import DBT_PROJECT

pytestmark = pytest.mark.bigquery

DATASET = "vanbulk"  # the target dataset; seeds go to van_input, views to van_staging(_dropped)


def _dbt(emulator, tmp: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, list[dict], float]:
    env = {**os.environ, **emulator.dbt_env(DATASET), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs")}
    started = time.monotonic()
    proc = subprocess.run([dbt_executable(), *args, "--profiles-dir", str(DBT_PROJECT), "--target", "bigquery"],
                          cwd=DBT_PROJECT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    try:
        results = json.loads((tmp / "target" / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        results = []
    return proc, results, seconds


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        pytest.fail(f"dbt {what} on the BigQuery emulator failed (exit {proc.returncode}):\n{tail}")


@pytest.fixture(scope="module")
def bq_build(bigquery_emulator, tmp_path_factory):
    """seed + run + test on the emulator; returns (emulator, {step: (results, seconds)}, tmp dir)."""
    tmp = tmp_path_factory.mktemp("dbt_bigquery")
    steps = {}
    for name, args in [("seed", ["seed"]), ("run", ["run"]), ("test", ["test", "--exclude", LEDGER_TESTS])]:
        proc, results, seconds = _dbt(bigquery_emulator, tmp, args)
        _check(proc, name)
        steps[name] = (results, seconds)
    print(f"BigQuery emulator: venv build {bigquery_emulator.build_seconds:.1f}s (0 = cached), start "
          f"{bigquery_emulator.start_seconds:.1f}s; dbt seed {steps['seed'][1]:.1f}s, run {steps['run'][1]:.1f}s, "
          f"test {steps['test'][1]:.1f}s")
    return bigquery_emulator, steps, tmp


def _query(client, sql: str) -> tuple[list[str], list[tuple]]:
    result = client.query(sql).result()  # no job config: crucible refuses query parameters, even none
    return [f.name for f in result.schema], [tuple(r.values()) for r in result]


def test_seed_run_test_succeed_with_the_duckdb_node_set(bq_build):
    _, steps, _ = bq_build
    seeds, _ = steps["seed"]
    assert len(seeds) == 23 and {r["status"] for r in seeds} == {"success"}
    models, _ = steps["run"]
    views = {r["unique_id"].split(".")[-1] for r in models}
    catalog = load_catalog()
    assert views == ({mt.staging_view for mt in catalog} | {f"{mt.staging_view}__dropped" for mt in catalog}
                     | {"vanbulk_sync_status"})
    assert {r["status"] for r in models} == {"success"}
    tests, _ = steps["test"]
    assert len(tests) >= 42
    # as on DuckDB: only the fixed value-set tests (severity warn) meet the demo's deliberately bad values
    assert {r["status"] for r in tests} <= {"pass", "warn"}, [r for r in tests if r["status"] not in ("pass", "warn")]
    assert all(r["unique_id"].startswith("test.vanbulk.accepted_values_") for r in tests if r["status"] == "warn")


def test_staging_views_equal_the_duckdb_build(bq_build, duckdb_build):
    """Same seeds, same canonical strings, same rows (dedup tie-breaks included) as DuckDB."""
    emulator, _, _ = bq_build
    _, _, path, _ = duckdb_build
    client = emulator.client()
    duck = sa.create_engine(f"duckdb:///{path}", poolclass=sa.pool.NullPool)
    try:
        for mt in load_catalog():
            cols = mt.staging_columns
            bq_cols, bq_rows = _query(client, "select {} from `{}.van_staging.{}` order by source_row_key".format(
                ", ".join(f"`{c}`" for c in cols), emulator.project, mt.staging_view))
            assert bq_cols == cols, mt.name
            q = sa.text("select {} from van_staging.{} order by source_row_key".format(
                ", ".join(f'"{c}"' for c in cols), mt.staging_view))
            with duck.connect() as c:
                dk_rows = [tuple(r) for r in c.execute(q)]
            assert bq_rows == dk_rows, mt.name
            assert bq_rows, mt.name
    finally:
        duck.dispose()
        client.close()


def test_dropped_views_equal_the_duckdb_build(bq_build, duckdb_build):
    emulator, _, _ = bq_build
    _, _, path, _ = duckdb_build
    client = emulator.client()
    duck = sa.create_engine(f"duckdb:///{path}", poolclass=sa.pool.NullPool)
    cols = "source_row_key, drop_reason, duplicate_rank"
    try:
        for mt in load_catalog():
            view = f"{mt.staging_view}__dropped"
            _, bq_rows = _query(client, f"select {cols} from `{emulator.project}.van_staging_dropped.{view}` "
                                        "order by source_row_key, duplicate_rank")
            with duck.connect() as c:
                dk_rows = [tuple(r) for r in c.execute(sa.text(
                    f"select {cols} from van_staging_dropped.{view} order by source_row_key, duplicate_rank"))]
            assert bq_rows == dk_rows, mt.name
    finally:
        duck.dispose()
        client.close()


def test_staging_columns_are_all_strings(bq_build):
    emulator, _, _ = bq_build
    client = emulator.client()
    try:
        for mt in load_catalog():
            result = client.query(f"select * from `{emulator.project}.van_staging.{mt.staging_view}` limit 1").result()
            # crucible returns the column names of these views (CTEs, `select * from final`) in lower case;
            # BigQuery keeps the case of quoted aliases, and selecting them by name keeps it here too (above)
            assert [f.name.lower() for f in result.schema] == [c.lower() for c in mt.staging_columns], mt.name
            assert {f.field_type for f in result.schema} == {"STRING"}, (mt.name, result.schema)
    finally:
        client.close()


def test_sync_status_is_empty_before_the_first_run(bq_build):
    emulator, _, _ = bq_build
    client = emulator.client()
    try:
        cols, rows = _query(client, f"select * from `{emulator.project}.{DATASET}.vanbulk_sync_status`")
    finally:
        client.close()
    assert rows == [] and cols[:2] == ["mapping_type", "run_id"] and "jobs_in_flight" in cols


def _bq_type(sql_type) -> str:
    """The ledger column's type as the BigQuery engine creates it (connector/warehouse/engines/bigquery.py)."""
    from sqlalchemy_bigquery import BigQueryDialect

    from connector.warehouse.engines import BigQueryEngine

    return BigQueryEngine().column_type(sql_type, BigQueryDialect())


@pytest.fixture(scope="module")
def bq_ledger(bq_build):
    """The ledger tables (BigQuery types: UTC timestamps as TIMESTAMP) with one run, two open jobs and two
    results, then vanbulk_sync_status rebuilt on them and the ledger monitoring tests run."""
    emulator, _, tmp = bq_build
    client = emulator.client()
    ds = f"`{emulator.project}.{DATASET}"
    try:
        for table, columns in ledger_schema.TABLES.items():
            cols = ", ".join(f"{name} {_bq_type(t)}" for name, t in columns)
            client.query(f"create table {ds}.{table}` ({cols})").result()
        for sql in [
            f"insert into {ds}.van_bulk_runs` (run_id, invoked_at, finished_at, dry_run, status) values "
            "('r1', timestamp_sub(current_timestamp(), interval 2 hour), current_timestamp(), false, 'success')",
            f"insert into {ds}.van_bulk_plan_counts` (run_id, mapping_type, category, row_count) values "
            "('r1', 'ActivistCode', 'new', 3), ('r1', 'ActivistCode', 'unchanged', 2)",
            # j1 open for an hour (not stuck), j2 open since January (stuck)
            f"insert into {ds}.van_bulk_jobs` (job_key, run_id, mapping_types, local_state, created_at) values "
            "('j1', 'r1', 'ActivistCode', 'completed', timestamp_sub(current_timestamp(), interval 1 hour)), "
            "('j2', 'r1', 'ActivistCode', 'polling', timestamp '2026-01-01 00:00:00')",
            f"insert into {ds}.van_bulk_row_results` (job_key, run_id, mapping_type, source_row_key, row_status, "
            "loaded_at) values ('j1', 'r1', 'ActivistCode', 'k1', 'processed', current_timestamp()), "
            "('j1', 'r1', 'ActivistCode', 'k2', 'failed', current_timestamp())",
        ]:
            client.query(sql).result()
    finally:
        client.close()
    proc, _, _ = _dbt(emulator, tmp, ["run", "--select", "vanbulk_sync_status"])
    _check(proc, "run --select vanbulk_sync_status")
    proc, tests, _ = _dbt(emulator, tmp, ["test", "--select", LEDGER_TESTS, "--vars", "{vanbulk_ledger_tests: true}"])
    return emulator, tests


def test_sync_status_and_ledger_tests_on_bigquery(bq_ledger):
    emulator, tests = bq_ledger
    client = emulator.client()
    try:
        cols, rows = _query(client, f"select * from `{emulator.project}.{DATASET}.vanbulk_sync_status`")
    finally:
        client.close()
    got = dict(zip(cols, rows[0])) if len(rows) == 1 else rows
    assert {k: got[k] for k in ("mapping_type", "run_id", "run_status", "rows_planned", "rows_sent", "rows_unchanged",
                                "rows_rejected", "rows_processed", "rows_failed", "rows_awaiting_result",
                                "failure_rate", "jobs_in_flight")} == {
        "mapping_type": "ActivistCode", "run_id": "r1", "run_status": "success", "rows_planned": 5, "rows_sent": 3,
        "rows_unchanged": 2, "rows_rejected": 0, "rows_processed": 1, "rows_failed": 1, "rows_awaiting_result": 1,
        "failure_rate": 0.5, "jobs_in_flight": 2}
    by_name = {r["unique_id"]: r for r in tests}
    stuck = [r for uid, r in by_name.items() if "no_stuck_jobs" in uid]
    rate = [r for uid, r in by_name.items() if "failure_rate_below" in uid]
    assert [(r["status"], r["failures"]) for r in stuck] == [("fail", 1)]  # j2 only: the interval arithmetic
    assert [(r["status"], r["failures"]) for r in rate] == [("fail", 1)]  # 0.5 > 0.05
    # the plain column tests on the tables created above (others, e.g. van_preflight_rejects, do not exist here)
    others = [(uid, r["status"], r.get("message")) for uid, r in by_name.items() if r not in stuck + rate
              and any(f"vanbulk_ledger_{t}_" in uid for t in ledger_schema.TABLES)]
    assert others and all(status == "pass" for _, status, _ in others), [o for o in others if o[1] != "pass"]


def test_compiled_project_is_bigquery_sql(bq_build, bq_ledger):
    """Every compiled model and test (ledger tests included; sync status in its branch for an existing ledger)
    parses as GoogleSQL, with no function BigQuery lacks: the emulator would run try_strptime, regexp_matches,
    now() ... and hide them."""
    emulator, _, tmp = bq_build
    proc, _, _ = _dbt(emulator, tmp, ["compile", "--vars", "{vanbulk_ledger_tests: true}"])
    _check(proc, "compile")
    compiled = sorted((tmp / "target" / "compiled").rglob("*.sql"))
    assert len(compiled) >= 42 + 43, len(compiled)  # 21 views, 21 dropped, sync status; plus the tests
    problems = {}
    for path in compiled:
        found = lint(path.read_text())
        if found:
            problems[str(path.relative_to(tmp / "target" / "compiled"))] = found
    assert not problems, "\n".join(f"{p}: {found}" for p, found in problems.items())


@pytest.mark.parametrize("sql, expected", [
    ("select try_strptime(a, '%Y-%m-%d') from t", "try_strptime"),
    ("select regexp_full_match(a, '[0-9]+') from t", "regexp_full_match"),
    ("select regexp_matches(a, '^x$') from t", "regexp_matches"),
    ("select now()", "now"),
    ("select split_part(a, '/', 2) from t", "split_part"),
    ("select a::int64 from t", "::"),
    ("select regexp_replace(a, 'x', 'y', 'g') from t", "regexp_replace"),
    ("select cast(null as string) as a where 1 = 0", "no FROM"),
    ("select a from t union select a from u", "DISTINCT or ALL"),
])
def test_lint_catches_what_the_emulator_lets_through(sql, expected):
    problems = lint(sql)
    assert problems and any(expected in p for p in problems), problems


def test_lint_accepts_googlesql():
    sql = ("select strpos(a, '@'), chr(9), translate(a, 'x', 'y'), ltrim(a, ' '), right(a, 2), substr(a, 2), "
           "lpad(a, 2, '0'), split(a, '/')[safe_ordinal(3)], regexp_contains(a, r'^[0-9]{5}$'), "
           "regexp_replace(a, r'[^0-9]', ''), trim(a, ' '), cast(a as bytes), "
           "timestamp_sub(current_timestamp(), interval 3600 second) from t "
           "union distinct select 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 from u")
    assert lint(sql) == []


def test_emulator_fixture_gives_a_fresh_dataset(bq_dataset):
    """The fixture's helpers as other tests use them: a fresh dataset, a load with an explicit schema (crucible
    refuses one without), a query with no job config."""
    import io

    from google.cloud import bigquery

    emulator, dataset = bq_dataset
    client = emulator.client()
    try:
        assert list(client.list_tables(dataset)) == []
        table = f"{emulator.project}.{dataset}.t"
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.CSV, skip_leading_rows=1, schema=[
            bigquery.SchemaField("source_row_key", "STRING"), bigquery.SchemaField("n", "INT64")])
        client.load_table_from_file(io.BytesIO(b"source_row_key,n\na,1\nb,2\n"), table, job_config=config).result()
        assert _query(client, f"select source_row_key, n from `{table}` order by n") == (
            ["source_row_key", "n"], [("a", 1), ("b", 2)])
    finally:
        client.close()
    assert emulator.new_dataset_name() != dataset
