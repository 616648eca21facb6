"""``van_preflight_dropped``: the input rows a staging view leaves out, one row each with the reason.

dbt builds, beside each staging view, ``<staging schema>_dropped.<view>__dropped`` (models/van_dropped/): the
input rows the view does not carry, ``superseded`` (a later row with the same ``source_row_key`` won) or
``nothing_to_apply`` (no value besides the keys). Pre-flight copies them here per run, in SQL, so every input
row of a selected view is accounted for: rejected, dropped (here), or planned (docs/sync.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.ledger.schema import PREFLIGHT_DROPPED, create_table
from connector.warehouse import Warehouse

TABLE = "van_preflight_dropped"
REASONS = {
    "superseded": "a later input row with the same source_row_key is the one sent",
    "nothing_to_apply": "the row has no value besides its keys, so there is nothing to send",
}

__all__ = ["REASONS", "TABLE", "dropped_relation", "ensure_table", "record_dropped", "record_dropped_many"]


def dropped_relation(warehouse: Warehouse, staging_schema: str, staging_view: str,
                     conn: Connection | None = None) -> str | None:
    """The dbt model of a view's dropped rows, when it was built (older projects have none). ``conn``: ask on
    the caller's connection instead of opening one."""
    schema, name = f"{staging_schema}_dropped", f"{staging_view}__dropped"
    found = warehouse.relation_exists(name, schema, conn=conn)
    return warehouse.relation(name, schema) if found else None


def ensure_table(warehouse: Warehouse, schema: str) -> str:
    rel = warehouse.relation(TABLE, schema)
    with warehouse.begin() as c:
        c.execute(sa.text(warehouse.ops.create_schema_sql(schema)))
        create_table(c, warehouse, rel, PREFLIGHT_DROPPED)
    return rel


_ROW_OPEN, _ROW_CLOSE = "row '", "' not sent: "  # around the row key in each message


def record_dropped(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, mapping_type: str,
                   relation: str, checked_at: datetime, cleared: bool = False) -> int:
    """Idempotent per (run, mapping type): the dropped rows of ``relation`` into the table. Returns how many.
    ``cleared``: the caller emptied this run's rows already (once for every mapping type)."""
    if not cleared:
        conn.execute(sa.text(f"delete from {warehouse.relation(TABLE, schema)} where run_id = :r and mapping_type = :m"),
                     {"r": run_id, "m": mapping_type})
    return record_dropped_many(conn, warehouse, schema, run_id, {mapping_type: relation}, checked_at)[mapping_type]


def record_dropped_many(conn: Connection, warehouse: Warehouse, schema: str, run_id: str,
                        relations: Mapping[str, str], checked_at: datetime) -> dict[str, int]:
    """The dropped rows of every view, {mapping type: its dropped-rows model}, into the table in one INSERT (this
    run's rows of those mapping types cleared by the caller). Returns how many per mapping type: from the insert's
    own count where the engine gives it and it says enough (none written, or one mapping type), else one count."""
    if not relations:
        return {}
    rel, lit = warehouse.relation(TABLE, schema), warehouse.ops.literal
    params = {"r": run_id, "t": checked_at}
    reason_text = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in REASONS.items())
    rows = " union all ".join(f"select {lit(m)} as mapping_type, d.source_row_key, d.drop_reason, d.duplicate_rank "
                              f"from {source} d" for m, source in relations.items())
    inserted = conn.execute(sa.text(
        f"insert into {rel} (run_id, mapping_type, source_row_key, reason, duplicate_rank, message, checked_at) "
        f"select :r, d.mapping_type, d.source_row_key, d.drop_reason, d.duplicate_rank, "
        f"{lit(_ROW_OPEN)} || coalesce(d.source_row_key, '(no key)') || {lit(_ROW_CLOSE)} || case d.drop_reason "
        f"{reason_text} else d.drop_reason end, :t from ({rows}) d"), params)
    n = warehouse.ops.dml_rows(inserted)
    if n == 0 or (n is not None and len(relations) == 1):
        return {m: n for m in relations}
    names = ", ".join(lit(m) for m in relations)
    counts = {m: int(c) for m, c in conn.execute(sa.text(
        f"select mapping_type, count(*) from {rel} where run_id = :r and mapping_type in ({names}) "
        f"group by mapping_type"), params)}
    return {m: counts.get(m, 0) for m in relations}
