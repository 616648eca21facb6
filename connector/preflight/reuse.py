"""A view's check carried over from an earlier run when nothing it depends on changed.

A scheduled run that finds nothing new still checked every rule over every row (bench_scheduled_run: the rule
pass was most of such a run). A check's verdict is a function of two things only: the rows (this run's checked
copy, ``checked.py``) and the rules as run (their SQL, the static values, the columns the account lacks, the
settings that change what is rejected, this package's version). Both are fingerprinted:

* ``content``: the engine's ``content_fingerprint_sql`` over the copy (the row count and two 64-bit hash sums:
  one cheap aggregate, 0.04 s on DuckDB and 0.3 s on PostgreSQL per 1M rows; no fingerprint on an engine
  without one, which then checks every view on every run);
* ``rules``: a SHA-256 of everything else above, computed in Python.

When both equal an earlier check's (``van_preflight_checks``, one row per real run and mapping type, written
only for a check that was not blocked and that GX validated and agreed with), the rejects and warnings the
earlier run's pre-flight wrote are copied to this run in SQL (one ``insert ... select`` per table for all carried
views; a view whose copy is not the number of rows recorded is checked again) and its counts, rule outcomes and GX
verdict are this run's. The earlier run's Data Docs page stands for the view. ``vanbulk run --recheck`` or ``preflight_reuse: false`` checks every view anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.ledger.schema import PREFLIGHT_CHECKS, create_table
from connector.preflight.report import MappingTypeResult, RuleOutcome
from connector.version import package_version
from connector.warehouse import Warehouse

TABLE = "van_preflight_checks"
# Bump when what a check writes or decides changes without the rules' SQL changing (the package version is in the
# fingerprint too; this covers unreleased changes).
FORMAT = 1

__all__ = ["FORMAT", "TABLE", "Carried", "PreviousCheck", "carry", "content_fingerprint", "ensure_table",
           "fingerprint", "latest", "record", "restore", "rules_fingerprint", "snapshot"]


def ensure_table(warehouse: Warehouse, schema: str, conn: Connection) -> str:
    rel = warehouse.relation(TABLE, schema)
    create_table(conn, warehouse, rel, PREFLIGHT_CHECKS)
    return rel


@dataclass(frozen=True)
class PreviousCheck:
    run_id: str
    fingerprint: str
    result: dict[str, Any]


def rules_fingerprint(*, mapping_type: str, columns: Sequence[str], rules: Iterable[Any],
                      statics: Mapping[str, Any], absent: Sequence[tuple[str, str]], settings, dialect: str) -> str:
    """SHA-256 of what decides a check besides the rows (module doc)."""
    doc = {
        "format": FORMAT, "version": package_version() or "", "dialect": dialect, "mapping_type": mapping_type,
        "columns": list(columns), "rules": [asdict(r) for r in rules],
        "statics": {str(k): str(v) for k, v in sorted(statics.items())}, "absent": [list(a) for a in absent],
        "split_disclosure": bool(getattr(settings, "split_disclosure", False)),
        "policy": str(getattr(settings, "preflight_policy", "")),
        "strict": bool(getattr(settings, "strict_inferred_rules", False)),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def content_fingerprint(conn: Connection, warehouse: Warehouse, relation: str, columns: Sequence[str]) -> str | None:
    """The rows' fingerprint (``Engine.content_fingerprint_sql``), or None where the engine has none."""
    sql = warehouse.ops.content_fingerprint_sql(relation, columns)
    if sql is None:
        return None
    row = conn.execute(sa.text(sql)).one()
    return ":".join(str(v) for v in row)


def quiet(last: PreviousCheck) -> bool:
    """The view's last recorded check was itself carried over (its rows unchanged across two runs at least): this
    run fingerprints the view before copying it. A view that changed last run is copied first, as it likely changes
    again: fingerprinting it first would read it twice."""
    return str(last.result.get("checked_in") or last.run_id) != last.run_id


def fingerprint(content: str | None, rules: str) -> str | None:
    return None if content is None else hashlib.sha256(f"{content}/{rules}".encode()).hexdigest()


def latest(conn: Connection, warehouse: Warehouse, schema: str, names: Sequence[str]) -> dict[str, PreviousCheck]:
    """The last recorded check of each of ``names`` (one statement for all)."""
    if not names:
        return {}
    rel = warehouse.relation(TABLE, schema)
    lits = ", ".join(warehouse.ops.literal(n) for n in names)
    rows = conn.execute(sa.text(
        f"select c.mapping_type, c.run_id, c.fingerprint, c.result from {rel} c join "
        f"(select mapping_type, max(checked_at) as last_at from {rel} where mapping_type in ({lits}) "
        f"group by mapping_type) l on c.mapping_type = l.mapping_type and c.checked_at = l.last_at"))
    out: dict[str, PreviousCheck] = {}
    for mt, run_id, fp, result in rows:
        try:
            out[mt] = PreviousCheck(run_id, fp, json.loads(result))
        except ValueError:  # a damaged record is no record: the view is checked
            continue
    return out


# What a check found, as recorded: the result's fields that do not name this run's tables.
_KEPT = ("rows_checked", "rows_rejected", "rows_warned", "rules_failed", "rules_warned", "columns_left_out",
         "notes", "passing_count")


def snapshot(res: MappingTypeResult, *, checked_in: str, present: Sequence[str], reject_rows: int, warning_rows: int,
             page: str | None) -> dict[str, Any]:
    """The record of ``res`` (a check that was not blocked): what ``restore`` gives back to a later run, and
    ``checked_in``: the run whose rule pass and GX checkpoint found it (this one, or the one it was carried from)."""
    out: dict[str, Any] = {k: getattr(res, k) for k in _KEPT}
    out["outcomes"] = [asdict(o) for o in res.outcomes]
    out.update(present=list(present), reject_rows=reject_rows, warning_rows=warning_rows, page=page,
               checked_in=checked_in)
    return out


def restore(res: MappingTypeResult, result: Mapping[str, Any]) -> None:
    for k in _KEPT:
        setattr(res, k, result[k] if not isinstance(result[k], list) else list(result[k]))
    known = {f.name for f in fields(RuleOutcome)}
    res.outcomes = [RuleOutcome(**{k: v for k, v in o.items() if k in known}) for o in result["outcomes"]]


@dataclass
class Carried:
    """A view whose check is carried over: from which run, and how many findings rows that run recorded."""

    mapping_type: str
    source_run: str
    reject_rows: int
    warning_rows: int


def carry(conn: Connection, warehouse: Warehouse, schema: str, rejects_rel: str, warnings_rel: str, run_id: str,
          carried: Sequence[Carried], checked_at: datetime) -> set[str]:
    """Copy the carried views' rejects and warnings from their runs to ``run_id`` (one statement per table).
    Returns the mapping types whose copy is not the number of rows recorded (findings deleted since): the caller
    drops their copies and checks those views again. The rows copied are counted per view only when the total is
    not the one expected, or the engine does not say how many rows a statement wrote."""
    bad: set[str] = set()
    lit = warehouse.ops.literal
    checks = warehouse.relation(TABLE, schema)
    for rel, attr in ((rejects_rel, "reject_rows"), (warnings_rel, "warning_rows")):
        sources = [c for c in carried if getattr(c, attr)]
        if not sources:
            continue
        where = " or ".join(f"(f.run_id = {lit(c.source_run)} and f.mapping_type = {lit(c.mapping_type)})"
                            for c in sources)
        # Only what that run's pre-flight wrote (its check's time): a later step of the run (combined jobs,
        # missing static values) adds or waives rejects of its own, which this run makes again itself.
        written = warehouse.ops.dml_rows(conn.execute(sa.text(
            f"insert into {rel} (run_id, mapping_type, source_row_key, rule, column_name, value, message, "
            f"checked_at) select :r, f.mapping_type, f.source_row_key, f.rule, f.column_name, f.value, f.message, :t "
            f"from {rel} f join {checks} c on c.run_id = f.run_id and c.mapping_type = f.mapping_type "
            f"and c.checked_at = f.checked_at where {where}"), {"r": run_id, "t": checked_at}))
        if written == sum(getattr(c, attr) for c in sources):
            continue
        got = {m: int(n) for m, n in conn.execute(sa.text(
            f"select mapping_type, count(*) from {rel} where run_id = :r and mapping_type in "
            f"({', '.join(lit(c.mapping_type) for c in sources)}) group by mapping_type"), {"r": run_id})}
        bad |= {c.mapping_type for c in sources if got.get(c.mapping_type, 0) != getattr(c, attr)}
    return bad


def record(conn: Connection, warehouse: Warehouse, schema: str, run_id: str,
           rows: Sequence[tuple[str, str, dict[str, Any]]], checked_at: datetime) -> None:
    """This run's checks, (mapping type, fingerprint, result) each, in one statement."""
    if not rows:
        return
    conn.execute(sa.text(f"insert into {warehouse.relation(TABLE, schema)} (run_id, mapping_type, fingerprint, "
                         f"result, checked_at) values (:r, :m, :f, :j, :t)"),
                 [{"r": run_id, "m": m, "f": f, "j": json.dumps(j, sort_keys=True), "t": checked_at}
                  for m, f, j in rows])
