"""The row claim stays linear in rows on PostgreSQL (issue 20): proven from the planner and the server's own
counters, never by timing. 100k rows go through the steps a first run takes (the plan, the job's keys read
from its CSV, uploaded), then ``mark_submitting`` claims them while every claim statement is EXPLAINed first
on the same connection: no nested loop may scan a ledger table on its inner side, the planner must expect the
job's rows within 10x, and the statements may read (sequential scans + index fetches) at most 5 rows of the
ledger tables per row claimed. Without statistics the planner expected a few hundred rows and took a nested
loop: quadratic (10k rows read 200M rows in 20,005 scans). A bad plan fails the test before it runs."""

from __future__ import annotations

import csv

import pytest
import sqlalchemy as sa

from connector.ledger import JOB_ROWS, PLAN_ROWS, ROW_STATE, Ledger, PlanRequest, RowOutcome, content_key, new_id
from connector.warehouse import Warehouse

N = 100_000
COLS = ["VanID", "source_row_key", "ActivistCodeID"]
LEDGER_TABLES = (JOB_ROWS, PLAN_ROWS, ROW_STATE)


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _read(cur, schema: str) -> int:
    """Rows of the ledger tables this transaction read so far (sequential scans + index fetches)."""
    cur.execute("select coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0) "
                "from pg_stat_xact_user_tables where schemaname = %s and relname = any(%s)",
                (schema, list(LEDGER_TABLES)))
    return int(cur.fetchone()[0])


def _job_ready(wh: Warehouse, schema: str, tmp_path, n: int) -> tuple[Ledger, str, str]:
    """A ledger whose job of ``n`` ActivistCode rows is planned, its keys read from its CSV and uploaded: the
    next step is the row claim. Returns (ledger, run id, job key)."""
    L = Ledger(wh, schema, api_target="https://api.example.test/v4/", database_mode=1)
    L.ensure()
    view = wh.relation("ac_v", schema)
    wh.execute(f"create table {view} as select (100001 + i)::text as \"VanID\", "
               f"'ac-' || lpad(i::text, 8, '0') as source_row_key, '4150001'::text as \"ActivistCodeID\" "
               f"from generate_series(0, {n - 1}) i")
    run = new_id()
    assert L.plan(run, PlanRequest("ActivistCode", append=False), f"select * from {view}", view, COLS) == {"new": n}
    job_csv = tmp_path / "job.csv"  # the job's file as the export writes it: every field quoted, CRLF
    with open(job_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writerow(COLS)
        w.writerows((str(100001 + i), f"ac-{i:08d}", "4150001") for i in range(n))
    job_key = L.record_job({"run_id": run, "mapping_types": "ActivistCode", "row_count": n,
                            "content_key": content_key(["ActivistCode"], L.api_target, 1, new_id()),
                            "api_target": L.api_target, "database_mode": 1},
                           csv_path=job_csv, columns=COLS, mapping_type="ActivistCode")
    L.mark_uploaded(job_key, "file:///x", "x")
    return L, run, job_key


@pytest.mark.postgres
def test_row_claim_is_linear_on_postgres(pg_schema, tmp_path):
    url, schema = pg_schema
    wh = Warehouse(url, schema)
    L, run, job_key = _job_ready(wh, schema, tmp_path, N)

    claim = (f"update {L.rel(ROW_STATE)} set", f"insert into {L.rel(ROW_STATE)} ")
    plans: list[dict] = []
    read: list[int] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(claim):
            return
        with conn.connection.dbapi_connection.cursor() as cur:
            if not read:
                read.append(_read(cur, schema))
            cur.execute("explain (format json) " + statement, parameters)
            plan = cur.fetchone()[0][0]["Plan"]
        plans.append(plan)
        for node in _nodes(plan):
            if node["Node Type"] == "Nested Loop":
                inner = [n.get("Relation Name") for n in _nodes(node["Plans"][1]) if n["Node Type"] == "Seq Scan"]
                assert not set(inner) & set(LEDGER_TABLES), (
                    f"nested loop over a sequential scan of {inner} (quadratic in rows): {statement[:120]}")
            if node.get("Relation Name") == JOB_ROWS:
                assert node["Plan Rows"] >= N / 10, (
                    f"the planner expects {node['Plan Rows']} of the job's {N} rows: {statement[:120]}")

    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(claim[1]):  # the INSERT, the claim's last statement
            with conn.connection.dbapi_connection.cursor() as cur:
                read.append(_read(cur, schema))

    sa.event.listen(wh.engine, "before_cursor_execute", before)
    sa.event.listen(wh.engine, "after_cursor_execute", after)
    try:
        L.mark_submitting(job_key, run)
    finally:
        sa.event.remove(wh.engine, "before_cursor_execute", before)
        sa.event.remove(wh.engine, "after_cursor_execute", after)
    assert len(plans) == 2 and len(read) == 2  # the UPDATE and the INSERT, both checked
    assert read[1] - read[0] < 5 * N, f"the claim read {read[1] - read[0]:,} ledger rows for {N:,} rows"
    assert wh.scalar(f"select count(*) from {L.rel(ROW_STATE)} where job_key = :k and outcome = :o",
                     {"k": job_key, "o": RowOutcome.PENDING.value}) == N
    wh.dispose()


def _pages(wh: Warehouse, L: Ledger) -> dict[str, int]:
    """Each sync state row's heap page (the block of its ctid)."""
    return {k: int(b) for k, b in wh.fetchall(
        f"select source_row_key, (ctid::text::point)[0] from {L.rel(ROW_STATE)}")}


@pytest.mark.postgres
def test_row_outcomes_update_in_place_on_postgres(pg_schema, tmp_path):
    """The outcome update after the results leaves every sync state row on its page (a HOT update: no new
    primary-key entry), because the ledger keeps room on the table's pages (stats.FILLFACTOR). With full pages
    (PostgreSQL's default) every new version moves to another page: this fails."""
    url, schema = pg_schema
    wh = Warehouse(url, schema)
    n = 5_000
    L, run, job_key = _job_ready(wh, schema, tmp_path, n)
    assert "fillfactor=45" in (wh.scalar(f"select array_to_string(reloptions, ',') from pg_class "
                                         f"where oid = '{L.rel(ROW_STATE)}'::regclass") or "")
    L.mark_submitting(job_key, run)
    before = _pages(wh, L)
    assert len(before) == n and len(set(before.values())) > 10  # many pages, so "none moved" says something
    L.mark_submitted(job_key, 1)
    L.mark_completed(job_key, "Completed", None)
    counts = L.load_results(L.job(job_key), [
        {"job_key": job_key, "van_job_id": 1, "run_id": run, "mapping_type": "ActivistCode",
         "source_row_key": f"ac-{i:08d}", "row_status": "processed"} for i in range(n)], failed_message=None)
    assert counts == {"processed": n}
    assert wh.scalar(f"select count(*) from {L.rel(ROW_STATE)} where outcome = 'processed'") == n
    moved = [k for k, page in _pages(wh, L).items() if before[k] != page]
    assert not moved, f"{len(moved)} of {n} sync state rows moved to another page on their outcome update"
    wh.dispose()


@pytest.mark.postgres
def test_an_older_ledger_gains_the_fill_factor(pg_schema):
    """A ledger made before the fill factor (full pages) gets it on its next ``ensure``; a later ``ensure``
    changes nothing (no statement but the one catalogue query)."""
    url, schema = pg_schema
    wh = Warehouse(url, schema)
    L = Ledger(wh, schema, api_target="https://api.example.test/v4/", database_mode=1)
    L.ensure()
    wh.execute(f"alter table {L.rel(ROW_STATE)} reset (fillfactor)")
    options = f"select coalesce(array_to_string(reloptions, ','), '') from pg_class where oid = '{L.rel(ROW_STATE)}'::regclass"
    assert wh.scalar(options) == ""
    Ledger(wh, schema, api_target=L.api_target, database_mode=1).ensure()
    assert wh.scalar(options) == "fillfactor=45"
    sent: list[str] = []
    listen = lambda *a: sent.append(a[2])  # noqa: E731
    sa.event.listen(wh.engine, "before_cursor_execute", listen)
    try:
        Ledger(wh, schema, api_target=L.api_target, database_mode=1).ensure()
    finally:
        sa.event.remove(wh.engine, "before_cursor_execute", listen)
    assert not [s for s in sent if s.startswith("alter table")], sent
    wh.dispose()
