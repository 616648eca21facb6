"""Row-level sync in SQL: the row hash, the plan diff, and the row-state writes around a job.

Everything here is set operations inside the warehouse (each engine's spelling from ``Warehouse.ops``), so the
plan scales with the engine and never pulls rows into Python. See docs/sync.md for the model.

Row hash: md5 over the exported columns in file order, each non-NULL value as ``Name<US>value<RS>`` (ASCII
31 and 30, which no VAN field value carries). NULL contributes nothing (VAN leaves a field unchanged for an
empty cell, so a new all-NULL column does not make every row "changed"). The cheapest portable form was
measured (bench/bench_plan.py): a length-prefixed form cost 2.3x as much on DuckDB. Staging views are text,
so every engine gives the same hash for the same row (tests/warehouse/test_golden.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from connector.ledger.states import (AMBIGUOUS_JOB_STATES, COLLECTABLE_JOB_STATES, RESUBMITTABLE_JOB_STATES,
                                     RETRYABLE_OUTCOMES, PlanCategory, RowOutcome, sql_list)

ROW_KEY = "source_row_key"

if TYPE_CHECKING:
    from connector.warehouse.engines import Engine

__all__ = ["PlanRequest", "row_hash_sql", "categorize_sql"]


def row_hash_sql(columns: Sequence[str], ops: "Engine", alias: str = "v") -> str:
    """The row hash (module doc) as one expression of engine ``ops`` (``Warehouse.ops``)."""
    parts = []
    for c in columns:
        if c.lower() == ROW_KEY:
            continue
        parts.append(f"{ops.literal(c)} || chr(31) || cast({alias}.{ops.quote(c)} as {ops.text_type}) || chr(30)")
    if not parts:
        return ops.md5_hex("''")
    return ops.md5_hex(ops.concat_skipping_nulls(parts))


@dataclass(frozen=True)
class PlanRequest:
    """How one mapping type is planned this run."""

    mapping_type: str
    append: bool  # write semantics: a processed row is never sent again
    full_refresh: bool = False  # unchanged upsert rows are sent again
    duplicate_append: bool = False  # with full_refresh: append rows too (creates duplicate records at VAN)
    max_tries: int = 3
    retry_only_run: str | None = None  # retry-failed: only retryable keys (of this run's results, if not "")


def categorize_sql(req: PlanRequest) -> str:
    """CASE over ``p`` (row_hash), ``s`` (row state) and ``j`` (the job that last carried the row)."""
    C, O = PlanCategory, RowOutcome
    collectable = sql_list(COLLECTABLE_JOB_STATES)
    resubmittable, retryable = sql_list(RESUBMITTABLE_JOB_STATES), sql_list(RETRYABLE_OUTCOMES)
    refresh_unchanged = req.full_refresh and (not req.append or req.duplicate_append)
    refresh_after_import = req.full_refresh and req.append and req.duplicate_append
    unchanged = f"'{C.REFRESH}'" if refresh_unchanged else f"'{C.UNCHANGED}'"
    after_import = f"'{C.REFRESH}'" if refresh_after_import else f"'{C.CHANGED_AFTER_IMPORT}'"
    tries = int(req.max_tries)
    exhausted = f"'{C.RETRY}'" if req.retry_only_run is not None else f"'{C.RETRY_EXHAUSTED}'"
    return (
        "case "
        f"when s.source_row_key is null then '{C.NEW}' "
        f"when s.outcome = '{O.PENDING}' and j.local_state in ({collectable}) then '{C.IN_FLIGHT}' "
        f"when s.outcome = '{O.PENDING}' and j.local_state in ({resubmittable}) then '{C.RETRY}' "
        f"when s.outcome in ('{O.PENDING}', '{O.AMBIGUOUS}') then '{C.AMBIGUOUS}' "
        + (f"when s.processed_hash is not null then case when s.processed_hash = p.row_hash then {unchanged} "
           f"else {after_import} end " if req.append else "")
        + f"when s.outcome = '{O.PROCESSED}' then case when s.row_hash = p.row_hash then {unchanged} "
        f"else '{C.CHANGED}' end "
        f"when s.outcome in ({retryable}) then case when s.row_hash = p.row_hash and s.tries >= {tries} "
        f"then {exhausted} else '{C.RETRY}' end "
        f"else '{C.AMBIGUOUS}' end"
    )


__all__ += ["ambiguous_states_sql", "collectable_states_sql"]


def ambiguous_states_sql() -> str:
    return sql_list(AMBIGUOUS_JOB_STATES)


def collectable_states_sql() -> str:
    return sql_list(COLLECTABLE_JOB_STATES)
