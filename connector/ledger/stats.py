"""What PostgreSQL's planner needs to join the ledger's freshly filled tables in linear time (issue 20).

A run fills ``van_bulk_job_rows`` (a job's keys), ``van_bulk_plan_rows`` (the plan), ``van_bulk_row_state``
(the claim) and ``van_bulk_row_results`` (the results) and joins them moments later, in the same or the next
transaction: autovacuum has not analyzed them yet (and never analyzes temporary tables), and a value just
written (a new job key, a new run id) is in no statistics. Without statistics the planner takes
``job_key = :k`` for 0.5% of the table, expects a handful of rows on each side and joins them with a nested
loop over sequential scans: the row claim of 10k rows read 200M rows in 20,005 scans, 100k rows ran for
minutes. So the ledger keeps its own statistics: ``analyze`` right after each bulk fill, inside the fill's
transaction (PostgreSQL's ANALYZE counts the transaction's own rows; its lock only waits for another
ANALYZE of the same table). And indexes on the keys every per-job and per-run statement filters on, so a
job's statements read that job's rows, not the whole history of the ledger.

DuckDB and the other engines: nothing (DuckDB plans hash joins without statistics; its indexes would only
slow the bulk loads).
"""

from __future__ import annotations

import sqlalchemy as sa

from connector.ledger.schema import JOB_ROWS, JOBS, PLAN_ROWS, ROW_RESULTS

# table -> the column lists indexed on PostgreSQL (``<table>_<columns>_idx``).
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    JOBS: (("job_key",),),
    JOB_ROWS: (("job_key",),),
    PLAN_ROWS: (("run_id", "mapping_type"),),
    ROW_RESULTS: (("job_key",),),
}


def _postgres(ledger) -> bool:
    return ledger.wh.dialect == "postgresql"


def index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"{table}_{'_'.join(columns)}_idx"


def ensure_indexes(c, ledger) -> list[str]:
    """Create the indexes a ledger lacks (new, or from an older version); returns the names created."""
    if not _postgres(ledger):
        return []
    have = {r[0] for r in c.execute(sa.text("select indexname from pg_indexes where schemaname = :s"),
                                     {"s": ledger.schema})}
    created = []
    for table, index_columns in INDEXES.items():
        for cols in index_columns:
            name = index_name(table, cols)
            if name in have:
                continue
            c.execute(sa.text(f"create index if not exists {ledger.wh.quote(name)} on {ledger.rel(table)} "
                              f"({', '.join(ledger.wh.quote(col) for col in cols)})"))
            created.append(name)
    return created


def analyze(c, ledger, *tables: str, rows: int | None = None) -> None:
    """Fresh planner statistics for ``tables`` (ledger table names, or a temporary table's name as is) after a
    bulk fill of ``rows`` rows (none: nothing to do). Every fill: its new key is in no statistics yet."""
    if not _postgres(ledger) or rows == 0:
        return
    for t in tables:
        c.execute(sa.text(f"analyze {ledger.rel(t) if t.startswith('van_bulk_') else t}"))
