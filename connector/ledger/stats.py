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
job's statements read that job's rows, not the whole history of the ledger. And room on the sync state's pages
for its rows' next versions (``FILLFACTOR``).

What the engine does is its own (``Engine.refresh_statistics`` / ``ensure_indexes``): PostgreSQL analyzes and
indexes; DuckDB nothing (it plans hash joins without statistics; its indexes would only slow the bulk loads).
"""

from __future__ import annotations

from connector.ledger.schema import JOB_ROWS, JOBS, PLAN_ROWS, ROW_RESULTS, ROW_STATE

# table -> the column lists indexed on PostgreSQL (``<table>_<columns>_idx``).
INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    JOBS: (("job_key",),),
    JOB_ROWS: (("job_key",),),
    PLAN_ROWS: (("run_id", "mapping_type"),),
    ROW_RESULTS: (("job_key",),),
}

# table -> the share of each page PostgreSQL fills on insert. Every row the sync state holds is updated twice per
# run that sends it (claimed, then its outcome) on columns no index holds: with room left on its page the new
# version stays there (a HOT update: no new entry in the 4-column primary key). Measured at 1M rows: the outcome
# update 11.8 s at the default 100% (no update HOT) -> 5.6 s at 45% (every update HOT), 60% left 45% of them
# cold (8.6 s); the table's size after the update is the same (479 vs 488 MB: a cold update leaves the old
# version behind as well).
FILLFACTOR: dict[str, int] = {ROW_STATE: 45}


def ensure_indexes(c, ledger) -> list[str]:
    """Create the indexes a ledger lacks (new, or from an older version) and set its tables' fill factor where
    the engine uses them; returns the names of the indexes created."""
    return ledger.wh.ops.ensure_indexes(c, ledger.schema, INDEXES, ledger.rel, FILLFACTOR)


def analyze(c, ledger, *tables: str, rows: int | None = None) -> None:
    """Fresh planner statistics for ``tables`` (ledger table names, or a temporary table's name as is) after a
    bulk fill of ``rows`` rows (none: nothing to do). Every fill: its new key is in no statistics yet."""
    if rows == 0:
        return
    ledger.wh.ops.refresh_statistics(c, [ledger.rel(t) if t.startswith("van_bulk_") else t for t in tables])
