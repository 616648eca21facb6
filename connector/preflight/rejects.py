"""``van_preflight_rejects``: one row per (row, rule) that failed, written by SQL inside the warehouse."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.preflight.rules import Rule
from connector.preflight.sql import render
from connector.warehouse import Warehouse

TABLE = "van_preflight_rejects"
COLUMNS = ("run_id", "mapping_type", "source_row_key", "rule", "column_name", "value", "message", "checked_at")

BLOCKED_RULE = "mapping_type_blocked"
MISSING_STATIC_RULE = "missing_static_value"

__all__ = ["BLOCKED_RULE", "COLUMNS", "MISSING_STATIC_RULE", "TABLE", "ensure_table", "rejects_relation",
           "replace_rejects", "reject_counts", "write_blocked_rejects"]


def rejects_relation(warehouse: Warehouse, schema: str) -> str:
    return warehouse.relation(TABLE, schema)


def ensure_table(warehouse: Warehouse, schema: str) -> str:
    rel = rejects_relation(warehouse, schema)
    with warehouse.begin() as c:
        c.execute(sa.text(f"create schema if not exists {warehouse.quote(schema)}"))
        c.execute(sa.text(
            f"create table if not exists {rel} (run_id varchar not null, mapping_type varchar not null, "
            "source_row_key varchar, rule varchar not null, column_name varchar, value varchar, "
            "message varchar not null, checked_at timestamp not null)"))
    return rel


def replace_rejects(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, mapping_type: str,
                    relation: str, rules: Sequence[Rule], checked_at: datetime) -> None:
    """Idempotent per (run_id, mapping_type): inside the caller's transaction, delete the run's rows and
    re-insert them. Each rule is an ``insert ... select`` over the staging view: nothing passes through
    Python."""
    rel = rejects_relation(warehouse, schema)
    params = {"run_id": run_id, "mt": mapping_type, "ts": checked_at}
    conn.execute(sa.text(f"delete from {rel} where run_id = :run_id and mapping_type = :mt"), params)
    for r in rules:
        q = render(r.query, relation)
        conn.execute(sa.text(
            f"insert into {rel} ({', '.join(COLUMNS)}) "
            f"select :run_id, :mt, source_row_key, :rule, column_name, value, message, :ts from ({q}) f"),
            {**params, "rule": r.rule})


def reject_counts(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, mapping_type: str
                  ) -> dict[tuple[str, str], int]:
    """(rule, column_name) -> rows written for this run and mapping type."""
    rows = conn.execute(sa.text(
        f"select rule, column_name, count(*) from {rejects_relation(warehouse, schema)} "
        "where run_id = :r and mapping_type = :m group by rule, column_name"), {"r": run_id, "m": mapping_type})
    return {(r[0], r[1]): int(r[2]) for r in rows}


def write_blocked_rejects(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, mapping_type: str,
                          relation: str, details: Sequence[tuple[str, str | None, str]], checked_at: datetime) -> int:
    """One reject per row of a blocked view that no row rule rejected, so no row of it goes unrecorded.

    The rule is ``missing_static_value`` (column = the field) when that is among the reasons, otherwise
    ``mapping_type_blocked`` (column = the offending column when the first reason names one). These are
    file-level verdicts, not GX row rules, so they take no part in the GX/SQL agreement check. Returns the
    number of rows written. A drifted view without ``source_row_key`` gets one row with a NULL key."""
    rel = rejects_relation(warehouse, schema)
    details = list(details) or [(BLOCKED_RULE, None, "blocked by pre-flight")]
    static = next((d for d in details if d[0] == MISSING_STATIC_RULE), None)
    rule, column = (MISSING_STATIC_RULE, static[1]) if static else (BLOCKED_RULE, details[0][1])
    reasons = "; ".join(dict.fromkeys(d[2] for d in details))
    text = f"not sent because mapping type {mapping_type} is blocked: {reasons} (rule {rule})"
    params = {"run_id": run_id, "mt": mapping_type, "rule": rule, "col": column, "ts": checked_at, "text": text}
    view_cols = {c.lower() for c in conn.execute(sa.text(f"select * from {relation} where 1 = 0")).keys()}
    cols = ", ".join(COLUMNS)
    if "source_row_key" not in view_cols:
        n = int(conn.execute(sa.text(f"select count(*) from {relation}")).scalar() or 0)
        if n:
            conn.execute(sa.text(
                f"insert into {rel} ({cols}) values (:run_id, :mt, null, :rule, :col, null, :text, :ts)"),
                {**params, "text": f"{n} row(s) without a source_row_key column: {text}"})
        return n
    conn.execute(sa.text(
        f"insert into {rel} ({cols}) "
        f"select cast(:run_id as varchar), cast(:mt as varchar), v.source_row_key, cast(:rule as varchar), "
        f"cast(:col as varchar), cast(null as varchar), "
        f"'row ''' || v.source_row_key || ''': ' || cast(:text as varchar), :ts "
        f"from (select distinct source_row_key from {relation} "
        f"where source_row_key is not null and trim(source_row_key) <> '') v "
        f"where not exists (select 1 from {rel} r where r.run_id = cast(:run_id as varchar) "
        f"and r.mapping_type = cast(:mt as varchar) "
        f"and r.source_row_key = v.source_row_key)"), params)
    # rowcount of insert ... select is not reliable on every driver: count what was written.
    return int(conn.execute(sa.text(
        f"select count(*) from {rel} where run_id = :run_id and mapping_type = :mt and rule = :rule"),
        params).scalar() or 0)
