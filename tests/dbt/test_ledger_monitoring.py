"""Monitoring the connector with dbt and SQL (docs/dbt.md, "Monitoring"): after a real demo run, `dbt source
freshness`, the ledger tests and the vanbulk_sync_status model run in the demo project on DuckDB and
PostgreSQL, agree with the SQL printed in the docs, and fail when the ledger says something is wrong."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import yaml

from connector.dbt_runner import DbtError, run_dbt
from connector.run import run
from tests.fixtures.demo import FAST

from .conftest import REPO

pytestmark = pytest.mark.slow
DOC_SQL = re.findall(r"```sql\n(-- latest run per mapping type.*?|-- jobs stuck in flight.*?)```",
                     (REPO / "docs" / "dbt.md").read_text(), re.S)
STATUS_COLUMNS = "mapping_type, run_id, run_status, rows_processed, rows_failed, failure_rate"
# Every invocation gets the same vars (they change nothing but the ledger tests' being enabled), so dbt's partial
# parsing holds: a change of vars makes dbt parse the whole project again (about 5 s a time here).
LEDGER_TESTS = {"vanbulk_ledger_tests": True}


def _doc_query(title: str) -> str:
    (sql,) = [q for q in DOC_SQL if q.startswith(f"-- {title}")]
    return sql.strip().rstrip(";")


def _eng(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)


def _ago(hours: float) -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=hours)


def _check_monitoring(s, url: str, schema: str) -> None:
    fresh = run_dbt(s, ["source", "freshness"], vars=LEDGER_TESTS)
    assert "PASS freshness of vanbulk_ledger.van_bulk_runs" in fresh.stdout, fresh.stdout
    tested = run_dbt(s, ["test", "--select", "source:vanbulk_ledger"], vars=LEDGER_TESTS)
    assert len(tested.results) >= 20 and not tested.failed_nodes and not tested.warned_nodes
    run_dbt(s, ["build", "--select", "vanbulk_sync_status"], vars=LEDGER_TESTS)
    eng = _eng(url)
    try:
        with eng.begin() as c:
            if url.startswith("postgresql"):
                c.execute(sa.text(f'set search_path to "{schema}"'))
            model = [tuple(r) for r in c.execute(sa.text(
                f"select {STATUS_COLUMNS} from {schema}.vanbulk_sync_status order by mapping_type"))]
            doc = [(r.mapping_type, r.run_id, r.status, r.processed, r.failed, r.failure_rate)
                   for r in c.execute(sa.text(_doc_query("latest run per mapping type")))]
            # 20 mapping types sent (Suppressions is blocked: rejected, no results), nothing failed at VAN
            assert len(model) == 21 and model == doc, (model, doc)
            assert {r[3] > 0 for r in model if r[0] != "Suppressions"} == {True} and {r[5] for r in model} <= {0.0, None}
            assert c.execute(sa.text(_doc_query("jobs stuck in flight"))).all() == []

            # now the ledger reports trouble: a job stuck for two days, a run whose Email rows VAN failed
            c.execute(sa.text("insert into van_bulk_jobs (job_key, run_id, mapping_types, local_state, created_at) "
                              "values ('stuck-job', 'r-old', 'Phones', 'polling', :t)"), {"t": _ago(48)})
            c.execute(sa.text("insert into van_bulk_runs (run_id, invoked_at, status, dry_run) "
                              "values ('r-bad', :t, 'success', false)"), {"t": _ago(0)})
            for i in range(4):
                c.execute(sa.text(
                    "insert into van_bulk_row_results (job_key, run_id, mapping_type, source_row_key, row_status, "
                    "loaded_at) values ('j-bad', 'r-bad', 'Email', :k, :st, :t)"),
                    {"k": f"em-{i}", "st": "processed" if i == 0 else "failed", "t": _ago(0)})
            c.execute(sa.text("insert into van_bulk_plan_counts (run_id, mapping_type, category, row_count) "
                              "values ('r-bad', 'Email', 'changed', 4)"))
            # then a run interrupted during pre-flight (it planned Email, sent nothing): issue 22 #3, it hid the
            # failures above as the "latest" run; it is counted apart now
            c.execute(sa.text("insert into van_bulk_runs (run_id, invoked_at, status, dry_run) "
                              "values ('r-stopped', :t, 'interrupted', false)"), {"t": _ago(-0.01)})
            c.execute(sa.text("insert into van_bulk_plan_counts (run_id, mapping_type, category, row_count) "
                              "values ('r-stopped', 'Email', 'unchanged', 4)"))
            stuck = c.execute(sa.text(_doc_query("jobs stuck in flight"))).all()
            email = [r for r in c.execute(sa.text(_doc_query("latest run per mapping type"))) if r.mapping_type == "Email"]
        assert [r.job_key for r in stuck] == ["stuck-job"]
        assert [(r.run_id, r.processed, r.failed, r.failure_rate) for r in email] == [("r-bad", 1, 3, 0.75)]
        run_dbt(s, ["build", "--select", "vanbulk_sync_status"], vars=LEDGER_TESTS)
        with eng.begin() as c:
            if url.startswith("postgresql"):
                c.execute(sa.text(f'set search_path to "{schema}"'))
            shown = c.execute(sa.text(f"select run_id, run_status, rows_failed, runs_unfinished_since "
                                      f"from {schema}.vanbulk_sync_status where mapping_type = 'Email'")).all()
        assert [tuple(r) for r in shown] == [("r-bad", "success", 3, 1)]
        with pytest.raises(DbtError) as err:
            run_dbt(s, ["test", "--select", "source:vanbulk_ledger"], vars=LEDGER_TESTS)
        failed = " ".join(err.value.failed_nodes)
        assert "vanbulk_no_stuck_jobs" in failed and "vanbulk_failure_rate_below" in failed, failed
        # thresholds are vars: 3 days in flight and a 80% failure rate are tolerated
        tolerant = {**LEDGER_TESTS, "vanbulk_max_in_flight_hours": 72, "vanbulk_max_failure_rate": 0.8}
        run_dbt(s, ["test", "--select", "source:vanbulk_ledger"], vars=tolerant)
        # a sync that stopped two days ago: freshness errors
        with eng.begin() as c:
            if url.startswith("postgresql"):
                c.execute(sa.text(f'set search_path to "{schema}"'))
            c.execute(sa.text("update van_bulk_runs set invoked_at = :t"), {"t": _ago(60)})
        stale = run_dbt(s, ["source", "freshness"], vars=tolerant, check=False)
        assert stale.returncode != 0 and "ERROR STALE freshness of vanbulk_ledger.van_bulk_runs" in stale.stdout
    finally:
        eng.dispose()


def test_monitoring_after_the_demo_on_duckdb(demo_after_first_run):
    _, s, summary = demo_after_first_run  # as `make demo`: the package profile
    assert s.warehouse_from_profile and s.target == "duckdb"
    assert summary.ok, summary.render()
    _check_monitoring(s, s.warehouse_url, "main")


@pytest.mark.postgres
def test_monitoring_after_the_demo_on_postgres(pg_build, tmp_path):
    settings, _, url, _ = pg_build
    demo_settings = yaml.safe_load((REPO / "vanbulk.yml").read_text())  # static values, split_disclosure
    s = settings.replace(project_dir=tmp_path, state_dir=tmp_path / ".vanbulk", gx_dir=tmp_path / "gx",
                         poll_interval_seconds=0.05, **demo_settings)
    summary = run(s, skip_dbt=True, simulator_config=FAST)  # pg_build built the demo views in this database
    assert summary.ok, summary.render()
    _check_monitoring(s, url, "public")
