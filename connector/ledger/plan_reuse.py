"""A mapping type's plan carried over when nothing it reads changed since a plan that found every row unchanged.

A scheduled run that finds nothing new still hashed every passing row and joined it to the sync state
(``Ledger.plan``: on 1M rows 0.8 s on DuckDB, 2.7 s on PostgreSQL, and two statements per view). The plan is a
function of what it reads: the rows pre-flight passed (decided by the view's rows and the rules: pre-flight's check
fingerprint, connector/preflight/reuse.py), the columns hashed, the request (write semantics, tries; never
``--full-refresh`` or retry-failed), the VAN target, and the mapping type's rows in ``van_bulk_row_state``. A plan
that found every passing row ``unchanged`` is recorded in ``van_bulk_plan_fingerprints`` with a fingerprint of all
of that; a later run whose fingerprint is the same would find every row unchanged again, so its diff does not run.

Why only such a plan: it read no job (a ``pending`` row is never ``unchanged``) and left nothing ``gone``, so the
sync state and the passing rows are all it depends on. The state's fingerprint is taken after the run's healing of
pending rows and before any plan (one statement for every mapping type: ``Engine.content_fingerprint_sql`` over
the state's columns the diff reads, grouped by mapping type); a plan that changes the state itself (rows migrated
from an older ledger get their hash) is recorded with the state it read, which no later run matches. Every change
to a mapping type's state (a job, a healed row, ``vanbulk resolve``, a hand edit) changes its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from typing import Mapping, Sequence

import sqlalchemy as sa

from connector.ledger.schema import PLAN_FINGERPRINTS, ROW_STATE
from connector.ledger.sync import PlanRequest
from connector.version import package_version

# Bump when what a plan decides changes without its inputs changing (the package version is in it too).
FORMAT = 1
# The sync state's columns the diff reads (categorize_sql, the gone check), with the key.
STATE_COLUMNS = ("source_row_key", "row_hash", "outcome", "job_key", "tries", "processed_hash")

__all__ = ["FORMAT", "STATE_COLUMNS", "fingerprint", "last_plans", "record", "state_fingerprints"]


def state_fingerprints(ledger, names: Sequence[str] | None = None) -> dict[str, str] | None:
    """Each mapping type's sync state (this VAN target and database mode; of ``names`` only, if given: a run of a
    few views reads only their state) as a fingerprint, in one statement; a mapping type without state rows is
    absent. None: the engine has no content fingerprint (no plan is reused)."""
    if names is not None and not names:
        return {}
    only = (f" and mapping_type in ({', '.join(ledger.wh.ops.literal(n) for n in names)})"
            if names is not None else "")
    source = (f"(select mapping_type, {', '.join(STATE_COLUMNS)} from {ledger.rel(ROW_STATE)} "
              f"where api_target = :t and database_mode = :d{only})")
    sql = ledger.wh.ops.content_fingerprint_sql(source, STATE_COLUMNS, group_by="mapping_type")
    if sql is None:
        return None
    with ledger.wh.connect() as c:
        rows = c.execute(sa.text(sql), {"t": ledger.api_target, "d": ledger.database_mode}).all()
    return {str(r[0]): ":".join(str(v) for v in r[1:]) for r in rows}


def fingerprint(*, check: str, state: str, request: PlanRequest, columns: Sequence[str], api_target: str,
                database_mode: int) -> str:
    """SHA-256 of everything a plan reads (module doc). ``state``: "" for a mapping type without state rows."""
    doc = {"format": FORMAT, "version": package_version() or "", "check": check, "state": state,
           "request": asdict(request), "columns": list(columns), "api_target": api_target,
           "database_mode": int(database_mode)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def last_plans(ledger, names: Sequence[str]) -> dict[str, tuple[str, str, int]]:
    """The last recorded plan of each of ``names`` for this VAN target and database mode: (run, fingerprint, rows
    unchanged), in one statement."""
    if not names:
        return {}
    rel, lits = ledger.rel(PLAN_FINGERPRINTS), ", ".join(ledger.wh.ops.literal(n) for n in names)

    def where(a: str) -> str:
        return f"{a}api_target = :t and {a}database_mode = :d and {a}mapping_type in ({lits})"
    with ledger.wh.connect() as c:
        rows = c.execute(sa.text(
            f"select p.mapping_type, p.run_id, p.fingerprint, p.row_count from {rel} p join (select mapping_type, "
            f"max(planned_at) as last_at from {rel} where {where('')} group by mapping_type) l "
            f"on p.mapping_type = l.mapping_type and p.planned_at = l.last_at where {where('p.')}"),
            {"t": ledger.api_target, "d": ledger.database_mode}).all()
    return {str(m): (str(r), str(f), int(n)) for m, r, f, n in rows}


def record(ledger, run_id: str, rows: Mapping[str, tuple[str, int]], planned_at: datetime) -> None:
    """This run's plans that found every row unchanged, {mapping type: (fingerprint, rows)}, in one statement."""
    if not rows:
        return
    with ledger.wh.begin() as c:
        c.execute(sa.text(f"insert into {ledger.rel(PLAN_FINGERPRINTS)} (run_id, api_target, database_mode, "
                          f"mapping_type, fingerprint, row_count, planned_at) values (:r, :t, :d, :m, :f, :n, :at)"),
                  [{"r": run_id, "t": ledger.api_target, "d": ledger.database_mode, "m": m, "f": f, "n": int(n),
                    "at": planned_at} for m, (f, n) in rows.items()])
