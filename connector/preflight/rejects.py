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

__all__ = ["COLUMNS", "TABLE", "ensure_table", "rejects_relation", "replace_rejects", "reject_counts"]


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
