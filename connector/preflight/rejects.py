"""``van_preflight_rejects`` / ``van_preflight_warnings``: one row per (row, rule) that failed, written by SQL
inside the warehouse in one pass over the staging view.

A rule with ``severity == "reject"`` (the default) keeps its failing rows from VAN: they go to
``van_preflight_rejects``. A rule with ``severity == "warn"`` (an inferred fact: it warns, never refuses)
writes its failing rows to ``van_preflight_warnings`` (same columns) and the row is still sent.

One pass, not one scan per rule: every rule's condition is a boolean column of one SELECT over the view
that keeps only rows failing at least one rule (a small temp table); the rejects and warnings are then
unpivoted from that table with one ``insert ... select`` each. Nothing passes through Python.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.preflight.rules import Rule
from connector.preflight.sql import render
from connector.ledger.schema import PREFLIGHT_FINDINGS, create_table
from connector.warehouse import Warehouse

TABLE = "van_preflight_rejects"
WARNINGS_TABLE = "van_preflight_warnings"
COLUMNS = ("run_id", "mapping_type", "source_row_key", "rule", "column_name", "value", "message", "checked_at")

BLOCKED_RULE = "mapping_type_blocked"
MISSING_STATIC_RULE = "missing_static_value"

REJECT, WARN = "reject", "warn"

__all__ = ["BATCH_PREFIX", "BLOCKED_RULE", "COLUMNS", "MISSING_STATIC_RULE", "REJECT", "TABLE", "WARN",
           "WARNINGS_TABLE", "Findings", "batch_relation", "batch_table", "ensure_table", "rejects_relation",
           "warnings_relation", "replace_rejects", "reject_counts", "severity_of", "split_query",
           "write_blocked_rejects", "write_findings"]


def rejects_relation(warehouse: Warehouse, schema: str) -> str:
    return warehouse.relation(TABLE, schema)


def warnings_relation(warehouse: Warehouse, schema: str) -> str:
    return warehouse.relation(WARNINGS_TABLE, schema)


def severity_of(rule: Rule) -> str:
    """"reject" or "warn"; rules built before ``Rule.severity`` existed reject."""
    sev = str(getattr(rule, "severity", REJECT) or REJECT).lower()
    return WARN if sev in (WARN, "warning") else REJECT


def ensure_table(warehouse: Warehouse, schema: str) -> str:
    """Create ``van_preflight_rejects`` and ``van_preflight_warnings`` (same columns) if missing; returns
    the rejects relation."""
    rel = rejects_relation(warehouse, schema)
    with warehouse.begin() as c:
        c.execute(sa.text(warehouse.ops.create_schema_sql(schema)))
        for table in (rel, warnings_relation(warehouse, schema)):
            create_table(c, warehouse, table, PREFLIGHT_FINDINGS)
    return rel


_HEAD = "select source_row_key, "
_MARKS = (" as column_name, ", " as value, ", " as message from {batch} where ")


def split_query(template: str) -> tuple[str, str, str, str] | None:
    """A rule template (``select source_row_key, C as column_name, V as value, M as message from {batch}
    where W``) -> its (C, V, M, W) templates; None when it does not have exactly that shape (then the rule
    runs as its own query)."""
    if not template.startswith(_HEAD):
        return None
    rest, parts = template[len(_HEAD):], []
    for mark in _MARKS:
        if rest.count(mark) != 1:
            return None
        head, rest = rest.split(mark)
        parts.append(head)
    return parts[0], parts[1], parts[2], rest


@dataclass
class Findings:
    """What one pass found: per rule (same order as the rules given) the rows written, and the distinct
    view rows with >= 1 reject / >= 1 warning."""

    counts: list[int]
    rows_rejected: int
    rows_warned: int


_FLAGGED = "vanbulk_pf_flagged"  # scratch table of the pass: a temporary table private to the connection where
# the engine has them (gone when the connection closes, or with a rolled-back transaction), released at the end


BATCH_PREFIX = "van_preflight_batch__"


def batch_table(staging_view: str) -> str:
    """Name of the table the one pass leaves for GX (the view's rows that may fail a rule, see
    write_findings); shortened with a hash to fit PostgreSQL's 63-character identifiers."""
    name = BATCH_PREFIX + staging_view
    if len(name) > 63:
        name = f"{name[:54]}_{hashlib.md5(staging_view.encode()).hexdigest()[:8]}"
    return name


def batch_relation(warehouse: Warehouse, schema: str, staging_view: str) -> str:
    return warehouse.relation(batch_table(staging_view), schema)


def write_findings(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, mapping_type: str,
                   relation: str, rules: Sequence[Rule], checked_at: datetime, batch: str | None = None,
                   keep_also: str | None = None, cleared: bool = False) -> Findings:
    """Idempotent per (run_id, mapping_type), inside the caller's transaction: replace this run's rows of
    both tables with the failing rows of ``rules`` over ``relation``, in one pass over the view.

    With ``batch`` (a relation name): the pass writes the view's rows that fail at least one rule (and the
    rows matching ``keep_also``) to that table, every view column, in view order; the rules' flags, counts
    and messages are then computed over it. It must hold every row a rule's subqueries over ``{batch}``
    look at: twins of a duplicated key fail ``row_key`` themselves, and the disclosure rules count the rows
    that carry disclosure fields (``keep_also``). GX then evaluates each rule's own query over that table.

    ``rows_rejected`` counts view rows that have a reject (a blank or duplicated key is a ``row_key``
    reject, so these are exactly the rows ``passing_rows_sql`` leaves out)."""
    params = {"run_id": run_id, "mt": mapping_type, "ts": checked_at}
    targets = {REJECT: rejects_relation(warehouse, schema), WARN: warnings_relation(warehouse, schema)}
    for rel in () if cleared else targets.values():  # cleared: the caller emptied them for the whole run at once
        conn.execute(sa.text(f"delete from {rel} where run_id = :run_id and mapping_type = :mt"), params)
    parts = [split_query(r.query) for r in rules]
    if any(p is None for p in parts):  # an unexpected rule shape: one query per rule, still correct
        if batch is not None:  # GX then reads the whole view (a copy of it, in the batch table)
            conn.execute(sa.text(f"drop table if exists {batch}"))
            conn.execute(sa.text(f"create table {batch} as select * from {relation}"))
        return _per_rule(conn, targets, params, relation, rules)
    ops = warehouse.ops
    on_view = lambda t: t.format(batch=relation)  # noqa: E731 - same substitution as sql.render / GX
    failing = " or ".join(f"({on_view(p[3])})" for p in parts) or "1 = 0"
    if batch is not None:
        # The one scan of the view: the rows any rule fails (a row stops at its first failing rule).
        for stmt in ops.replace_table_as_sql(batch, ops.compile_portable(
                f"select * from {relation} where {failing}" + (f" or ({keep_also})" if keep_also else ""))):
            created = conn.execute(sa.text(stmt))
        if ops.rows_written(created) == 0:
            # No row fails a rule: nothing to flag, count or write (three statements less, and DuckDB's planning
            # of the flags' subqueries, ~0.1-1.4 s a view, skipped). The empty batch table stays for GX.
            return Findings([0] * len(rules), 0, 0)
        source, fmt = batch, (lambda t: t.format(batch=batch))
    else:
        source, fmt = f"(select * from {relation} where {failing})", on_view
    if not rules:
        return Findings([], 0, 0)
    # Each rule's flag on the few candidate rows only: projecting 35 flags for every row costs twice the scan.
    flags = ", ".join(f"({fmt(p[3])}) as pf_{i}" for i, p in enumerate(parts))
    flagged, create = ops.scratch_table(
        f"{_FLAGGED}_{hashlib.md5(relation.encode()).hexdigest()[:10]}_{uuid.uuid4().hex[:6]}", schema)
    # (a name per view and per pass: a connection may outlive one pass, since the table is not dropped at once)
    conn.execute(sa.text(ops.compile_portable(f"{create} {flagged} as select v.*, {flags} from {source} v")))
    sev = [severity_of(r) for r in rules]
    any_of = {k: " or ".join(f"pf_{i}" for i, s in enumerate(sev) if s == k) or "1 = 0" for k in (REJECT, WARN)}
    counted = conn.execute(sa.text(
        "select " + ", ".join(f"sum(case when pf_{i} then 1 else 0 end)" for i in range(len(parts)))
        + f", sum(case when {any_of[REJECT]} then 1 else 0 end), "
        f"sum(case when ({any_of[WARN]}) and not ({any_of[REJECT]}) then 1 else 0 end)"  # warned AND sent
        f" from {flagged}")).one()
    counted = [int(n or 0) for n in counted]
    for kind, rel in targets.items():
        branches = [
            f"select source_row_key, cast({ops.literal(r.rule)} as {ops.text_type}) as rule, "
            f"{fmt(p[0])} as column_name, "
            f"{fmt(p[1])} as value, {fmt(p[2])} as message from {flagged} where pf_{i}"
            for i, (r, p) in enumerate(zip(rules, parts)) if sev[i] == kind and counted[i]]
        if branches:
            conn.execute(sa.text(ops.compile_portable(
                f"insert into {rel} ({', '.join(COLUMNS)}) select :run_id, :mt, f.source_row_key, f.rule, "
                f"f.column_name, f.value, f.message, :ts from ({' union all '.join(branches)}) f")), params)
    # Not dropped here (one statement a view with findings): a temporary table goes with its connection, BigQuery
    # drops the run's scratch tables together when the warehouse closes, Snowflake at once (Engine.release_relation).
    ops.release_relation(conn, flagged)
    return Findings(counted[:len(parts)], counted[-2], counted[-1])


def lit_rule(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _per_rule(conn: Connection, targets: dict[str, str], params: dict, relation: str, rules: Sequence[Rule]
              ) -> Findings:
    counts = []
    for r in rules:
        q = render(r.query, relation)
        rel = targets[severity_of(r)]
        conn.execute(sa.text(
            f"insert into {rel} ({', '.join(COLUMNS)}) "
            f"select :run_id, :mt, source_row_key, :rule, column_name, value, message, :ts from ({q}) f"),
            {**params, "rule": r.rule})
        counts.append(int(conn.execute(sa.text(f"select count(*) from ({q}) q")).scalar() or 0))
    rejected = int(conn.execute(sa.text(
        f"select count(*) from {relation} v where not ({_passing_cond('v', targets[REJECT])})"), params).scalar() or 0)
    warned = int(conn.execute(sa.text(  # rows with a warning that no rule rejected: the ones still sent
        f"select count(distinct w.source_row_key) from {targets[WARN]} w where w.run_id = :run_id "
        f"and w.mapping_type = :mt and not exists (select 1 from {targets[REJECT]} r where r.run_id = w.run_id "
        f"and r.mapping_type = w.mapping_type and r.source_row_key = w.source_row_key)"), params).scalar() or 0)
    return Findings(counts, rejected, warned)


def _passing_cond(alias: str, rel: str) -> str:
    from connector.preflight.sql import has_surrounding_whitespace, is_set

    k = f"{alias}.source_row_key"
    return (f"{is_set(k)} and not {has_surrounding_whitespace(k)} and not exists (select 1 from {rel} r "
            f"where r.run_id = :run_id and r.mapping_type = :mt and r.source_row_key = {k})")


def replace_rejects(conn: Connection, warehouse: Warehouse, schema: str, run_id: str, mapping_type: str,
                    relation: str, rules: Sequence[Rule], checked_at: datetime) -> None:
    """:func:`write_findings` without the counts (kept for callers of the earlier name)."""
    write_findings(conn, warehouse, schema, run_id, mapping_type, relation, rules, checked_at)


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
    conn.execute(sa.text(warehouse.ops.compile_portable(
        f"insert into {rel} ({cols}) "
        f"select cast(:run_id as varchar), cast(:mt as varchar), v.source_row_key, cast(:rule as varchar), "
        f"cast(:col as varchar), cast(null as varchar), "
        f"'row ''' || v.source_row_key || ''': ' || cast(:text as varchar), :ts "
        f"from (select distinct source_row_key from {relation} "
        f"where source_row_key is not null and trim(source_row_key) <> '') v "
        f"where not exists (select 1 from {rel} r where r.run_id = cast(:run_id as varchar) "
        f"and r.mapping_type = cast(:mt as varchar) "
        f"and r.source_row_key = v.source_row_key)")), params)
    # rowcount of insert ... select is not reliable on every driver: count what was written.
    return int(conn.execute(sa.text(
        f"select count(*) from {rel} where run_id = :run_id and mapping_type = :mt and rule = :rule"),
        params).scalar() or 0)
