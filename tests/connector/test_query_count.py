"""Statements a small run sends to the warehouse (issue 20 item 3; the demo-sized figures: bench/bench_queries.py).

Counted with SQLAlchemy's ``before_cursor_execute`` on every engine in the process (the run's own Warehouse
included), plus PostgreSQL's raw ``COPY`` cursor; no timing. Each test pins one reduction: a plan with nothing
to send exports nothing, the views are looked up once per schema per run, and the accounting stays the same."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import sqlalchemy as sa

from connector.catalog import load_catalog
from connector.preflight import run_preflight
from connector.run import run
from connector.simulator import SimulatorConfig
from connector.warehouse import Warehouse
from tests.helpers.statements import counting_statements
from tests.connector.test_accounting import _ac_rows, make_view, settings_for

FAST = SimulatorConfig(pending_seconds=0.0, seconds_per_1000_rows=0.0, min_processing_seconds=0.0)
NO_GX = functools.partial(run_preflight, gx=False)
CF_ROWS = [{"source_row_key": f"cf-{i}", "VanID": str(100000 + i), "CF103": "Driving"} for i in (1, 2)]
TYPES = ["ActivistCode", "ApplyContactCustomFields"]


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
    with counting_statements() as sent:
        second = _run(s)
    assert second.ok and second.status == "success", second.render()
    for n in TYPES:  # every row accounted the same way: unchanged, nothing sent, no chunk
        m = second.mapping_types[n]
        assert (m.rows_checked, m.unchanged, m.to_send, m.sent, m.chunks, m.rejected) == (2, 2, 0, 0, 0, 0), n
    assert _copies(sent) == []  # was one COPY (and DuckDB's settings around it) per mapping type
    assert not (Path(s.state_dir) / "exports" / second.run_id).exists()




def test_views_are_looked_up_once_per_schema_per_run(tmp_path):
    s = settings_for(tmp_path)
    _views(s)
    asked: list[tuple] = []

    def on_execute(conn, cursor, statement, parameters, *a):
        if "information_schema" in statement.lower():
            asked.append(tuple(parameters.values()) if isinstance(parameters, dict) else tuple(parameters or ()))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", on_execute)
    try:
        summary = _run(s)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", on_execute)
    assert [summary.mapping_types[n].sent for n in TYPES] == [2, 2], summary.render()
    # one catalogue query per schema: the ledger's (main), the demo seeds' (van_input), the staging views', their
    # `_dropped` models' (was one per view and question: 19 here, 112 in a demo run)
    assert sorted(asked) == [("main",), ("van_input",), ("van_staging",), ("van_staging_dropped",)], asked


def test_the_cache_forgets_a_schema_on_ddl_and_around_dbt(tmp_path):
    from connector.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    wh.execute("create schema stg")
    wh.execute("create table stg.a (x int)")
    with wh.kept_open(), wh.introspection_cached():
        with counting_statements() as sent:
            assert wh.columns("a", "stg") == ["x"] and not wh.relation_exists("b", "stg")
            assert wh.describe("a", "stg") == ["x"] and wh.relation_exists("a", "stg")
        assert len(sent) == 1
        wh.execute("create table main.t as select * from stg.a")  # reads stg, changes main: stg stays cached
        with counting_statements() as sent:
            assert wh.relation_exists("a", "stg")
        assert sent == []
        wh.execute('create view "stg"."b" as select x, 1 as y from stg.a')  # DDL of this handle: forgotten
        assert wh.columns("b", "stg") == ["x", "y"]
        with wh.released():  # dbt works here, in another process
            other = Warehouse(wh.url)
            other.execute("drop view stg.b")
            other.execute("create view stg.c as select 1 as z")
            other.dispose()
        assert not wh.relation_exists("b", "stg") and wh.columns("c", "stg") == ["z"]
        with wh.begin() as c:  # seen by other connections only once committed: forgotten again then
            c.execute(sa.text("create table stg.d (w int)"))
            assert not wh.relation_exists("d", "stg")  # another connection: not committed yet
        assert wh.relation_exists("d", "stg")
    wh.dispose()


def test_gx_counts_a_views_rules_in_one_statement_and_agrees_with_the_sql_pass(tmp_path):
    """Great Expectations resolves one shared metric per view (connector/preflight/gx_expectations.py): all of
    its rule queries counted in one statement, not one COUNT per expectation; its verdicts still match the rejects
    the SQL pass wrote (a disagreement would block the type), including a rule that fails."""
    s = settings_for(tmp_path)
    rows = _ac_rows()
    rows[0] = {**rows[0], "VanID": "not-a-number"}  # one row breaks a rule: GX must count it, not just pass
    make_view(s.warehouse_url, "ActivistCode", rows)
    with Warehouse(s.warehouse_url) as wh, counting_statements() as sent:
        report = run_preflight(wh, load_catalog(), ["ActivistCode"], "run-gx-1", s)
    res = report.results["ActivistCode"]
    assert not res.blocked, res.block_reasons
    failed = [o for o in res.outcomes if o.gx_unexpected]
    assert failed and all(o.gx_unexpected == o.rows for o in res.outcomes if o.rows is not None)
    per_rule = [q for q in sent if re.match(r"select count\(\*\) as unexpected_row_count", q, re.I)]
    shared = [q for q in sent if "vanbulk_rule_0" in q]
    assert per_rule == [] and len(shared) == 1, (len(per_rule), len(shared))


def test_each_staging_view_is_read_once_per_run(tmp_path):
    """Issue 21 #2 with issue 20's cost goal: pre-flight, plan and export read the run's copy of the checked rows,
    so the view itself is read by one statement per run (the copy), not once per step."""
    s = settings_for(tmp_path)
    _views(s)
    with counting_statements() as sent:
        summary = _run(s)
    assert [summary.mapping_types[n].sent for n in TYPES] == [2, 2], summary.render()
    for view in ("stg_van__activist_code", "stg_van__contact_custom_fields"):
        reads = [q for q in sent if re.search(rf'"van_staging"\."{view}"(?!\w)', q)]
        assert len(reads) == 1 and re.match(r"create (or replace )?table .* as select \* from", reads[0], re.I), reads


def test_gx_reflects_the_validated_tables_from_one_catalogue_query(tmp_path):
    """GX reflects every table it validates (primary key, columns: 3 statements per view on DuckDB, 5 on PostgreSQL);
    vanbulk's GX dialect answers from the one catalogue query the runner makes for the run, and GX's structural
    checks still see the table's real columns (connector/warehouse/gx_dialect.py)."""
    s = settings_for(tmp_path)
    _views(s)
    with Warehouse(s.warehouse_url) as wh, counting_statements() as sent:
        report = run_preflight(wh, load_catalog(), TYPES, "run-gx-2", s,
                               static_values={"ApplyContactCustomFields": {"CustomFieldGroupID": "501"}})
    assert report.gx_success, report
    assert [q for q in sent if "pg_catalog" in q.lower()] == []
    asked = [q for q in sent if "information_schema.columns" in q.lower() and "data_type" in q.lower()]
    assert len(asked) == 1, asked
    for name in TYPES:  # the column checks ran on what GX was told, and passed: the same columns as the view
        assert report.results[name].gx_batch and not report.results[name].blocked, name
    assert not {o.rule for r in report.results.values() for o in r.outcomes if o.gx_success is False}


def test_a_jobs_claim_and_results_count_nothing_back(tmp_path):
    """The engine's own DML counts answer the results load (and the claim where they count rows), the submitted job is not
    read back, its end (VAN's status, results, the hosted file's removal) is one transition (run/reconcile.py), and
    the plans of both mapping types are counted together (run/plan.py)."""
    s = settings_for(tmp_path)
    _views(s)
    with counting_statements() as sent:
        first = _run(s)
    assert [first.mapping_types[n].sent for n in TYPES] == [2, 2] and first.ok, first.render()
    assert [first.mapping_types[n].processed for n in TYPES] == [2, 2], first.render()
    low = [q.lower() for q in sent]
    counted_back = [q for q in low if q.startswith("select count(*) from") and "where job_key = " in q]
    # was 3 a job: the claim's two, the results' carried rows; DuckDB's claim still counts back (its UPDATE ... FROM
    # counts matches, not rows: Engine.update_from_counts_matches), the engines that count rows do not
    # (tests/warehouse/test_claims.py runs the claim both ways on every engine)
    assert len(counted_back) == 4 and all("van_bulk_row_results" not in q for q in counted_back), counted_back
    assert [q for q in low if q.startswith("select * from") and "van_bulk_jobs" in q and "where job_key" in q] == []
    assert [q for q in low if "hosted_deleted_at" in q and "local_state" not in q] == []
    assert len([q for q in low if q.startswith("update") and "van_bulk_jobs" in q and "hosted_deleted_at" in q]) == 2
    # both plans' categories in one statement (Ledger.count_plans), not one a mapping type
    assert [q for q in low if q.startswith("select category, count(*)") and "van_bulk_plan_rows" in q] == []
    assert len([q for q in low if q.startswith("select mapping_type, category, count(*)")
                and "van_bulk_plan_rows" in q]) == 1


def test_the_rule_pass_leaves_its_scratch_table_to_the_connection(tmp_path):
    """The rule pass's table of flagged rows is a temporary table on DuckDB and PostgreSQL: it goes with its
    connection, so it is not dropped by a statement of its own (one a view with findings: about 20 in a demo's
    first run); the findings are still written, and nothing of it is left in the warehouse after the pass."""
    s = settings_for(tmp_path)
    rows = _ac_rows()
    rows[0] = {**rows[0], "VanID": "not-a-number"}
    make_view(s.warehouse_url, "ActivistCode", rows)
    with Warehouse(s.warehouse_url) as wh, counting_statements() as sent:
        report = run_preflight(wh, load_catalog(), ["ActivistCode"], "run-scratch-1", s, gx=False)
    res = report.results["ActivistCode"]
    assert res.rows_rejected == 1, res
    low = [q.lower() for q in sent]
    made = [q for q in low if "vanbulk_pf_flagged" in q and q.startswith("create temp")]
    assert len(made) == 1, made
    assert [q for q in low if q.startswith("drop") and "vanbulk_pf_flagged" in q] == []
    with Warehouse(s.warehouse_url) as wh:
        left = wh.fetchall("select table_name from duckdb_tables() where table_name like 'vanbulk_pf_flagged%'")
    assert left == []
