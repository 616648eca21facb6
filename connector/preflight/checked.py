"""The checked rows: one copy of each staging view per run, taken when pre-flight starts on it, that pre-flight,
the plan and the export all read. So what was checked is exactly what is sent: a row changed in the input while
the run goes on is either in the copy (and checked) or not sent, and the plan's row hash is the hash of the
bytes exported. It is also the one read of the view per run (docs/sync.md, "What was checked is what is sent").

The copy is a plain table in the results schema (the plan and the export read it on other connections than the
one that checks it), named per run so a ``vanbulk validate`` or a dry run never replaces a run's copy, and
dropped when the run ends (``release``). Made with the engine's ``replace_table_as_sql`` (one statement on DuckDB
and BigQuery).

A view whose check was carried over two runs in a row is fingerprinted itself instead, and copied only when the
plan must read its rows (``take_pending``), the copy then proved equal to the rows fingerprinted: a quiet night
copies nothing, and what is sent is still exactly what was checked.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.warehouse import Warehouse

log = logging.getLogger(__name__)

PREFIX = "van_checked__"

__all__ = ["PREFIX", "checked_table", "leftovers", "release", "take", "take_pending"]


def checked_table(run_id: str, staging_view: str) -> str:
    """``van_checked__<run>__<view>``, shortened with a hash to fit PostgreSQL's 63-character identifiers."""
    name = f"{PREFIX}{run_id[:8]}__{staging_view}"
    if len(name) > 63:
        name = f"{name[:54]}_{hashlib.md5(staging_view.encode()).hexdigest()[:8]}"
    return name


def take(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, staging_view: str, view: str
         ) -> tuple[str, int | None]:
    """Copy ``view`` (one statement: one consistent read of it) into this run's checked table; returns it and
    how many rows it holds where the engine says (``Engine.rows_written``), else None."""
    rel = warehouse.relation(checked_table(run_id, staging_view), schema)
    result = None
    for sql in warehouse.ops.replace_table_as_sql(rel, f"select * from {view}"):
        result = conn.execute(sa.text(sql))
    return rel, warehouse.ops.rows_written(result)


def take_pending(warehouse: Warehouse, res) -> bool:
    """Take the copy a carried check left for later (``MappingTypeResult.pending_copy``) and prove it holds the
    rows pre-flight fingerprinted: True when it does (or nothing was pending). False: the view changed since
    pre-flight read it; its rows were never checked, and the caller must not send them."""
    from connector.preflight.reuse import content_fingerprint

    pending = getattr(res, "pending_copy", None)
    if not pending:
        return True
    content, columns = pending
    with warehouse.begin() as c:
        for sql in warehouse.ops.replace_table_as_sql(res.checked_relation, f"select * from {res.relation}"):
            c.execute(sa.text(sql))
        same = content_fingerprint(c, warehouse, res.checked_relation, list(columns)) == content
    res.pending_copy = None
    return same


def release(warehouse: Warehouse, relations: Iterable[str]) -> None:
    """Drop the run's checked tables (the run is over: exported, submitted or stopped)."""
    relations = [r for r in relations if r]
    if not relations:
        return
    try:
        with warehouse.begin() as c:
            for stmt in warehouse.ops.drop_tables_sql(relations):  # (PostgreSQL: one statement for all)
                c.execute(sa.text(stmt))
    except Exception as exc:  # noqa: BLE001 - a leftover copy costs space, never correctness (named per run)
        log.warning("could not drop the run's checked rows (%s): %s", ", ".join(relations), exc)


def leftovers(warehouse: Warehouse, schema: str, runs_relation: str, tables: Iterable[str]) -> list[str]:
    """Of ``tables`` (the schema's, as listed when the run started), the copies left by runs that ended without
    dropping them (killed): those whose run ``van_bulk_runs`` (``runs_relation``) no longer shows running. No
    query when there is none. A copy of a command that is not a run (``validate``) drops its own."""
    prefixes = {t[len(PREFIX):len(PREFIX) + 8]: t for t in sorted(tables) if t.startswith(PREFIX)}
    if not prefixes:
        return []
    lits = ", ".join(warehouse.ops.literal(p) for p in prefixes)
    ended = {r[0] for r in warehouse.fetchall(
        f"select distinct substr(run_id, 1, 8) from {runs_relation} where status <> 'running' "
        f"and substr(run_id, 1, 8) in ({lits})")}
    return [warehouse.relation(n, schema) for p, n in prefixes.items() if p in ended]
