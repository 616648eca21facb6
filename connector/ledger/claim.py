"""The row claim before each POST: a job's rows take sync state ``pending`` with its key, or the job is not sent.

Two workers must never both send a row. How the claim is made exclusive is a capability of the engine:

* **Enforced unique keys** (DuckDB, PostgreSQL): update the rows the plan found with a state, insert the ones
  it found without (its category ``new``); a racing insert of the same row fails on the primary key, and the
  transaction (with its POST) never happens.
* **No enforced keys** (BigQuery): one ``MERGE`` whose source is empty when any of the job's rows is held by
  another job in flight, so the claim is all or nothing in one statement; BigQuery serialises conflicting DML
  on one table, so of two racing claims one sees the other's rows held (or fails on the concurrent update).

Either way the caller learns how many rows now carry the job's key: fewer than the job carries means another
job holds some, and nothing is POSTed. Where the engine reports exact DML counts (``Engine.dml_rows``) and the
caller says how many rows the job carries, those counts are the answer (the job's key is new, so every row the
claim wrote carries it and no other does); elsewhere the rows are counted back.
"""

from __future__ import annotations

import sqlalchemy as sa

from connector.ledger.schema import JOB_ROWS, JOBS, PLAN_ROWS, ROW_STATE
from connector.ledger.states import RESUBMITTABLE_JOB_STATES, SENT_CATEGORIES, PlanCategory, RowOutcome, sql_list
from connector.ledger.stats import analyze

__all__ = ["claim_rows", "is_claim_conflict"]

_HELD = f"('{RowOutcome.PENDING}', '{RowOutcome.AMBIGUOUS}')"


def _carried(ledger, new: bool | None = None) -> str:
    """The job's rows with their planned hash; ``new``: only the rows the plan found without a sync state
    (True) or only the others (False)."""
    jr, pr = ledger.rel(JOB_ROWS), ledger.rel(PLAN_ROWS)
    which = "" if new is None else f" and pr.category {'=' if new else '<>'} '{PlanCategory.NEW}'"
    return (f"select jr.mapping_type, jr.source_row_key, pr.row_hash from {jr} jr join {pr} pr "
            f"on pr.run_id = :r and pr.mapping_type = jr.mapping_type and pr.source_row_key = jr.source_row_key "
            f"and pr.category in ({sql_list(SENT_CATEGORIES)}){which} where jr.job_key = :k")


def _held_elsewhere(ledger, s: str) -> str:
    """``s`` (a row-state alias) is held by another job still in flight."""
    return (f"{s}.outcome in {_HELD} and {s}.job_key <> :k and not exists (select 1 from {ledger.rel(JOBS)} o "
            f"where o.job_key = {s}.job_key and o.local_state in ({sql_list(RESUBMITTABLE_JOB_STATES)}))")


def _tries(t: str, x: str) -> str:
    return (f"case when {t}.row_hash = {x}.row_hash and {t}.outcome <> '{RowOutcome.PROCESSED}' "
            f"then coalesce({t}.tries, 0) + 1 else 1 end")


def claim_rows(c, ledger, params: dict, carried: int | None = None) -> tuple[int, int]:
    """Claim the job's rows on connection ``c`` (``params``: k job key, r run id, t VAN target, d database
    mode, now). ``carried``: the rows the job carries, when the caller knows (it wrote them): with the engine's
    own DML counts nothing is counted back. Returns (rows now carrying the job's key, rows the job carries)."""
    st, x, ops = ledger.rel(ROW_STATE), _carried(ledger), ledger.wh.ops

    # Each statement's count is read right after it: a DuckDB connection answers for its last statement only. An
    # engine whose UPDATE ... FROM counts source matches, not rows (DuckDB), counts back: a key the job's rows
    # matched twice must not stand in for a row another job holds.
    def counted(*ns: int | None) -> int | None:
        if carried is None or ops.update_from_counts_matches or any(n is None for n in ns):
            return None
        return sum(ns)

    if ops.enforces_unique_keys:
        # The plan's `new` rows had no sync state: they are inserted, the others updated, so the update no longer
        # joins the whole sync state for the new rows it cannot match (on DuckDB that join read all of it for
        # every job: 2-3.6 s a job late in a 10M-row first run). A racing insert of the same row fails on the
        # primary key: a lost claim. (ON CONFLICT DO NOTHING instead of the NOT EXISTS: 7.5 -> 10.7 s for the
        # claims of 1M rows on PostgreSQL.)
        updated = ops.dml_rows(c.execute(sa.text(
            f"update {st} set row_hash = x.row_hash, tries = {_tries(st, 'x')}, "
            f"outcome = '{RowOutcome.PENDING}', job_key = :k, run_id = :r, updated_at = :now "
            f"from ({_carried(ledger, new=False)}) x "
            f"where {st}.api_target = :t and {st}.database_mode = :d and {st}.mapping_type = x.mapping_type "
            f"and {st}.source_row_key = x.source_row_key and not ({_held_elsewhere(ledger, st)})"), params))
        inserted = ops.dml_rows(c.execute(sa.text(
            f"insert into {st} (api_target, database_mode, mapping_type, source_row_key, row_hash, outcome, "
            f"job_key, run_id, tries, processed_hash, processed_at, updated_at) select :t, :d, x.mapping_type, "
            f"x.source_row_key, x.row_hash, '{RowOutcome.PENDING}', :k, :r, 1, cast(null as {ledger.wh.ops.text_type}), "
            f"cast(null as timestamp), :now from ({_carried(ledger, new=True)}) x where not exists (select 1 from {st} s "
            f"where s.api_target = :t and s.database_mode = :d and s.mapping_type = x.mapping_type "
            f"and s.source_row_key = x.source_row_key)"), params))
        claimed = counted(updated, inserted)
        if claimed is None:
            claimed, carried = _counts(c, ledger, params)
        if claimed < carried:
            # A `new` row that gained a state since the plan: claimed only if the job that gave it one never
            # reached VAN (its rows are free); one VAN has seen (processed, failed, in flight) is not sent again
            # on this stale plan (the next run plans it afresh).
            c.execute(sa.text(
                f"update {st} set row_hash = x.row_hash, tries = {_tries(st, 'x')}, outcome = '{RowOutcome.PENDING}', job_key = :k, "
                f"run_id = :r, updated_at = :now from ({_carried(ledger, new=True)}) x "
                f"where {st}.api_target = :t and {st}.database_mode = :d and {st}.mapping_type = x.mapping_type "
                f"and {st}.source_row_key = x.source_row_key and {st}.job_key <> :k and exists (select 1 from "
                f"{ledger.rel(JOBS)} o where o.job_key = {st}.job_key and o.local_state in "
                f"({sql_list(RESUBMITTABLE_JOB_STATES)}))"), params)
            claimed, carried = _counts(c, ledger, params)
        analyze(c, ledger, ROW_STATE)
        return claimed, carried
    else:
        blocked = (f"select 1 from ({x}) y join {st} s on s.api_target = :t and s.database_mode = :d "
                   f"and s.mapping_type = y.mapping_type and s.source_row_key = y.source_row_key "
                   f"where {_held_elsewhere(ledger, 's')}")
        merged = ops.dml_rows(c.execute(sa.text(
            f"merge into {st} t using (select x.* from ({x}) x where not exists ({blocked})) x "
            f"on t.api_target = :t and t.database_mode = :d and t.mapping_type = x.mapping_type "
            f"and t.source_row_key = x.source_row_key "
            f"when matched then update set row_hash = x.row_hash, tries = {_tries('t', 'x')}, "
            f"outcome = '{RowOutcome.PENDING}', job_key = :k, run_id = :r, updated_at = :now "
            f"when not matched then insert (api_target, database_mode, mapping_type, source_row_key, row_hash, "
            f"outcome, job_key, run_id, tries, processed_hash, processed_at, updated_at) values (:t, :d, "
            f"x.mapping_type, x.source_row_key, x.row_hash, '{RowOutcome.PENDING}', :k, :r, 1, null, null, :now)"),
            params))
        claimed = counted(merged)
        if claimed is not None:
            return claimed, carried
    return _counts(c, ledger, params)


def _counts(c, ledger, params: dict) -> tuple[int, int]:
    """(rows now carrying the job's key, rows the job carries)."""
    claimed = c.execute(sa.text(f"select count(*) from {ledger.rel(ROW_STATE)} where job_key = :k and run_id = :r "
                                f"and outcome = '{RowOutcome.PENDING}'"), params).scalar()
    carried = c.execute(sa.text(f"select count(*) from {ledger.rel(JOB_ROWS)} where job_key = :k"), params).scalar()
    return int(claimed or 0), int(carried or 0)


def is_claim_conflict(ledger, exc: BaseException) -> bool:
    """A racing claim lost at the database: the primary key (enforced engines) or a concurrent update."""
    return isinstance(exc, sa.exc.IntegrityError) or ledger.wh.ops.is_concurrent_update(exc)
