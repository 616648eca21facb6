"""End to end against the real HTTP simulator: run twice (second submits nothing), retry-failed, resume
after jobs were left in flight, a crash after POST, PostgreSQL as the warehouse, S3 hosting on moto.

Staging views are hand-made and pre-flight is a pass-through here, so these stay fast; the full path with
dbt and Great Expectations is ``test_full_demo_path`` (marked slow)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.api import retry_failed, status
from connector.config import Settings
from connector.run import run
from connector.simulator import SimulatorConfig
from connector.warehouse import Warehouse
from tests.connector.helpers import ACTIVIST_ROWS, CONTACT_ROWS, make_staging, passthrough_preflight

FAST = SimulatorConfig(pending_seconds=0.0, seconds_per_1000_rows=0.0, min_processing_seconds=0.0)
MTS = ["ActivistCode", "CreateOrUpdateContact"]


def settings_for(tmp_path, **kw) -> Settings:
    return Settings(project_dir=tmp_path, warehouse_url=kw.pop("warehouse_url", f"duckdb:///{tmp_path}/w.duckdb"),
                    poll_interval_seconds=0.05, **kw)


def go(s, **kw):
    return run(s, MTS, skip_dbt=True, preflight=passthrough_preflight, simulator_config=FAST, **kw)


def sim_jobs(tmp_path) -> int:
    import sqlite3
    db = Path(tmp_path) / ".vanbulk" / "simulator" / "simulator.sqlite3"
    with sqlite3.connect(db) as c:
        return c.execute("select count(*) from jobs").fetchone()[0]


def q(s, sql, **params):
    with Warehouse(s.warehouse_url) as wh:
        return [tuple(r) for r in wh.fetchall(sql, params)]


def test_run_accounts_for_every_row_and_second_run_submits_nothing(tmp_path):
    s = settings_for(tmp_path)
    make_staging(s.warehouse_url)
    first = go(s)
    assert first.ok and first.simulated
    ac, co = first.mapping_types["ActivistCode"], first.mapping_types["CreateOrUpdateContact"]
    assert (ac.sent, ac.processed, ac.failed, ac.not_in_results, ac.pending) == (5, 3, 1, 1, 0)
    assert (co.sent, co.processed) == (3, 3)
    rows = dict(((k, st) for k, st in q(s, "select source_row_key, row_status from van_bulk_row_results "
                                           "where mapping_type = 'ActivistCode'")))
    assert rows == {"ac-1": "processed", "ac-2": "processed", "ac-3": "processed", "ac-4": "failed",
                    "ac-5": "not_in_results"}
    assert q(s, "select first_error_message from van_bulk_row_results where source_row_key = 'ac-4'") == [
        ("Contact not found",)]
    # new contacts got VanIDs
    new = q(s, "select source_row_key, primary_key from van_bulk_row_results where mapping_type = "
               "'CreateOrUpdateContact' and source_row_key in ('c-2', 'c-3') order by 1")
    assert all(pk and int(pk) >= 200000001 for _, pk in new)
    jobs = q(s, "select van_status, local_state, chunk_no, chunk_count, file_sha256, storage_uri, "
                "hosted_deleted_at from van_bulk_jobs")
    assert {j[0] for j in jobs} == {"Completed", "CompletedWithErrors"}
    assert all(j[1] == "results_loaded" and j[2] == j[3] == 1 and len(j[4]) == 64 and "?" not in j[5] and j[6]
               for j in jobs)
    assert not any((tmp_path / ".vanbulk" / "hosted").rglob("*.zip"))  # hosted files removed
    raw = list((tmp_path / ".vanbulk" / "results").rglob("result-*.csv"))
    assert len(raw) == 2
    n_jobs = sim_jobs(tmp_path)

    # The second run sends only the two rows VAN failed or dropped (retry); processed rows are unchanged.
    second = go(s)
    ac2, co2 = second.mapping_types["ActivistCode"], second.mapping_types["CreateOrUpdateContact"]
    assert ac2.plan == {"unchanged": 3, "retry": 2} and ac2.sent == 2 and ac2.unchanged == 3
    assert co2.plan == {"unchanged": 3} and co2.sent == 0
    assert sim_jobs(tmp_path) == n_jobs + 1 == 3
    assert q(s, "select source_row_key from van_bulk_job_rows r join van_bulk_jobs j on j.job_key = r.job_key "
                "where j.run_id = :r order by 1", r=second.run_id) == [("ac-4",), ("ac-5",)]
    # max_row_tries (3) per row version: the third run tries once more, the fourth leaves them for retry-failed
    go(s)
    fourth = go(s)
    assert fourth.mapping_types["ActivistCode"].plan == {"unchanged": 3, "retry_exhausted": 2}
    assert sim_jobs(tmp_path) == 4
    assert q(s, "select source_row_key, outcome, tries from van_bulk_row_state where mapping_type = 'ActivistCode' "
                "and outcome <> 'processed' order by 1") == [("ac-4", "failed", 3), ("ac-5", "not_in_results", 3)]
    assert any("left for `vanbulk retry-failed`" in m for m in fourth.messages)
    assert q(s, "select count(*) from van_bulk_runs") == [(4,)]


def test_retry_failed_resubmits_exactly_the_failed_rows(tmp_path):
    s = settings_for(tmp_path)
    make_staging(s.warehouse_url)
    first = go(s)
    retry = retry_failed(s, first.run_id, simulator_config=FAST, preflight=passthrough_preflight)
    sent = q(s, "select r.source_row_key from van_bulk_job_rows r join van_bulk_jobs j on j.job_key = r.job_key "
                "where j.run_id = :r order by 1", r=retry.run_id)
    assert sent == [("ac-4",), ("ac-5",)]
    assert q(s, "select retry_of_run_id from van_bulk_jobs where run_id = :r", r=retry.run_id) == [(first.run_id,)]
    assert sim_jobs(tmp_path) == 3
    # still failing: asking again sends them again (a job whose rows all failed does not block its content)
    again = retry_failed(s, first.run_id, simulator_config=FAST, preflight=passthrough_preflight)
    assert again.mapping_types["ActivistCode"].plan == {"retry": 2} and sim_jobs(tmp_path) == 4
    # processed rows are never part of a retry
    assert "CreateOrUpdateContact" not in again.mapping_types or again.mapping_types["CreateOrUpdateContact"].sent == 0


def test_jobs_left_in_flight_are_resumed_without_double_submit(tmp_path):
    s = settings_for(tmp_path)
    make_staging(s.warehouse_url)
    first = go(s, wait=False)  # the process "dies" right after submitting
    assert first.mapping_types["ActivistCode"].pending == 5
    assert {st for (st,) in q(s, "select local_state from van_bulk_jobs")} == {"submitted"}
    resumed = go(s, resume=True)
    assert sim_jobs(tmp_path) == 3  # only the retry of ac-4 / ac-5 is new
    assert resumed.mapping_types["ActivistCode"].plan == {"unchanged": 3, "retry": 2}
    assert {st for (st,) in q(s, "select local_state from van_bulk_jobs")} == {"results_loaded"}
    assert q(s, "select count(*) from van_bulk_row_results") == [(10,)]


@pytest.mark.parametrize("simulator_config", [{"min_processing_seconds": 30.0}], indirect=True)
def test_status_looks_once_without_marking_jobs_timed_out(tmp_path, simulator):
    from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY

    s = settings_for(tmp_path, api_key=SIMULATOR_DEMO_KEY, application_name=SIMULATOR_DEMO_APPLICATION,
                     api_base_url=simulator.base_url)
    make_staging(s.warehouse_url)
    run(s, MTS, skip_dbt=True, preflight=passthrough_preflight, wait=False)
    jobs = status(s)
    assert {j["local_state"] for j in jobs} <= {"submitted", "polling"}  # still running at VAN: not timed out


def test_status_collects_jobs_in_flight(tmp_path):
    s = settings_for(tmp_path)
    make_staging(s.warehouse_url)
    go(s, wait=False)
    jobs = status(s, wait=True, simulator_config=FAST)
    assert {j["local_state"] for j in jobs} == {"results_loaded"} and sim_jobs(tmp_path) == 2


@pytest.mark.postgres
def test_same_run_on_postgres(tmp_path, pg_schema):
    url, schema = pg_schema
    stg = f"{schema}_stg"
    s = settings_for(tmp_path, warehouse_url=url, results_schema=schema, staging_schema=stg)
    make_staging(url, schema=stg, table_schema=schema)
    try:
        first = go(s)
        assert first.mapping_types["ActivistCode"].processed == 3
        with Warehouse(url) as wh:  # the SQL the summary prints runs on PostgreSQL as printed
            # a statement may continue on the next lines (the summary fits 100 columns): pasted whole, it runs
            text = first.render()
            statements = [text[i:text.index(";", i)] for i in
                          (m.start() for m in re.finditer(r"(?m)^\s*select ", text))]
            assert len(statements) >= 3, text
            for sql in statements:
                # (van_preflight_rejects is written by the real pre-flight; this test passes it by)
                if "van_preflight_rejects" not in sql:
                    wh.fetchall(" ".join(sql.split()))
        with Warehouse(url) as wh:
            counts = dict(wh.fetchall(f'select row_status, count(*) from "{schema}".van_bulk_row_results '
                                      "group by row_status"))
            assert counts == {"processed": 6, "failed": 1, "not_in_results": 1}
            assert wh.scalar(f'select count(*) from "{schema}".van_bulk_row_latest') == 8
        second = go(s)
        assert sim_jobs(tmp_path) == 3 and second.mapping_types["ActivistCode"].plan == {"unchanged": 3, "retry": 2}
        with Warehouse(url) as wh:
            assert wh.scalar(f'select count(*) from "{schema}".van_bulk_row_state') == 8
    finally:
        with Warehouse(url) as wh:
            wh.execute(f'drop schema if exists "{stg}" cascade')


@pytest.mark.s3
def test_run_with_s3_hosting_removes_objects(tmp_path, s3_bucket):
    bucket, options = s3_bucket
    s = settings_for(tmp_path, hosting=f"s3://{bucket}/vanbulk")
    make_staging(s.warehouse_url)
    summary = go(s, storage_options=options)
    assert summary.mapping_types["ActivistCode"].processed == 3
    import s3fs
    fs = s3fs.S3FileSystem(**options)
    fs.invalidate_cache()
    assert fs.find(bucket) == []
    uris = [u for (u,) in q(s, "select storage_uri from van_bulk_jobs")]
    assert all(u.startswith(f"s3://{bucket}/vanbulk/") and "?" not in u for u in uris)


@pytest.mark.slow
def test_full_demo_path_with_dbt_and_preflight(tmp_path):
    """The skeleton: dbt seeds + views, GX pre-flight, submit both mapping types, ledger rows for every row."""
    project = Path(__file__).resolve().parents[2]
    shutil.copytree(project / "dbt_project", tmp_path / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    s = settings_for(tmp_path)
    summary = run(s, MTS, simulator_config=FAST)
    for name in MTS:
        m = summary.mapping_types[name]
        assert m.rows_checked == m.rejected + m.sent
        assert m.sent == m.processed + m.failed + m.not_in_results > 0
    assert q(s, "select count(*) from van_preflight_rejects where run_id = :r", r=summary.run_id)[0][0] > 0
