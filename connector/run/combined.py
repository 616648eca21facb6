"""Multi-mapping (combined) jobs: one file over several mapping types (``settings.combined_jobs``).

Two steps around the sync plan: ``combined_groups`` adjusts the run's rejects before planning (waives the
extras' key-required rejects for keys the creating primary carries; rejects a key in every included view
once it is rejected in one), and ``combined_file`` builds the file's SELECT from the rows the plan sends.
See docs/connector.md "Multi-mapping jobs".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import sqlalchemy as sa

from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.export import ROW_KEY, VAN_MAX_COLUMNS
from connector.ledger import utcnow
from connector.payload import COLUMN_SEP, JobSpec, MappingSpec
from connector.run.selection import file_columns, missing_statics, passing_sqls

COMBINED_RULE = "combined_job"
KEY_CONFLICT_RULE = "combined_key_conflict"

__all__ = ["CombinedGroup", "combined_columns", "combined_file", "combined_groups"]


@dataclass
class CombinedGroup:
    names: list[str]  # primary first
    spec: JobSpec
    relation: str  # label for the ledger: the primary view + the extras'
    columns: list[tuple[str, int, str]]  # (file column, view index, view column)
    per_view_columns: dict[str, list[str]]  # each mapping type's own file columns (its row hash)
    views: dict[str, str]
    rejected: dict[str, int]  # distinct rejected keys per mapping type after waiver and propagation


def combined_columns(views: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> list[tuple[str, int, str]]:
    """File columns of a combined job: ``views`` = (mapping type, its file columns, its key columns), primary
    first. Returns (file column, view index, view column): ``source_row_key`` and key columns once (from the
    first view that has them), every other column once; a name already taken is prefixed
    ``<MappingType>__`` (the payload binds such a column to that mapping type). More than VAN's 50: error."""
    out: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for i, (name, cols, key_cols) in enumerate(views):
        keys = {k.lower() for k in key_cols} | {ROW_KEY.lower()}
        for c in cols:
            alias = c
            if c.lower() in seen:
                if c.lower() in keys:
                    continue
                alias = f"{name}{COLUMN_SEP}{c}"
                if alias.lower() in seen:
                    raise ConnectorError(f"combined job: column {alias} twice")
            out.append((alias, i, c))
            seen.add(alias.lower())
    if len(out) > VAN_MAX_COLUMNS:
        raise ConnectorError(
            f"combined job {'+'.join(v[0] for v in views)}: {len(out)} file columns, VAN accepts at most "
            f"{VAN_MAX_COLUMNS}; combine fewer mapping types")
    return out


def combined_groups(rt, summary, names: Sequence[str], report,
                    static_values: Mapping[str, Mapping[str, Any]]) -> list[CombinedGroup]:
    """``settings.combined_jobs`` for this run, with the run's rejects adjusted (see module doc)."""
    s, cat = rt.settings, rt.catalog
    if not s.combined_jobs:
        return []
    from connector.preflight.rejects import ensure_table

    rejects = ensure_table(rt.warehouse, rt.ledger.schema)
    groups: list[CombinedGroup] = []
    used: set[str] = set()
    for entry in s.combined_jobs:
        wanted = []
        for n in entry["mapping_types"]:
            mt = cat.find(n)
            if mt is None:
                raise ConfigError(f"combined_jobs: unknown mapping type {n!r}")
            if mt.name in used or mt.name in wanted:
                raise ConfigError(f"combined_jobs: {mt.name} is in more than one combined job")
            wanted.append(mt.name)
        used |= set(wanted)
        included = []
        for n in wanted:
            res = report.results.get(n) if n in names else None
            if res is None or res.blocked or len(passing_sqls(res)) > 1 or getattr(res, "columns_left_out", None) \
                    or missing_statics(cat.get(n), static_values.get(n, {})):
                continue  # not selected, blocked, split, columns left out or missing a static value: handled alone
            included.append(n)
        if included and included[0] == wanted[0]:
            # One job has one resourceType: an extra the account does not offer for the primary's resource
            # (live metadata: resourceTypes) cannot ride along; it is sent alone.
            shared = {r.lower() for r in cat.get(included[0]).resource_types}
            apart = [n for n in included[1:] if not shared & {r.lower() for r in cat.get(n).resource_types}]
            if apart:
                rt.events.note(summary.messages, f"combined job {entry['name']}: {', '.join(apart)} shares no resource "
                               f"type with {included[0]} ({', '.join(cat.get(included[0]).resource_types)}); sent alone")
                included = [n for n in included if n not in apart]
        if len(included) < 2 or included[0] != wanted[0]:
            if any(n in names for n in wanted):
                msg = (f"combined job {entry['name']}: not combined this run (needs {wanted[0]} and at least one "
                       f"extra, selected and not blocked); {', '.join(n for n in wanted if n in names)} sent alone")
                rt.events.note(summary.messages, msg)
            continue
        groups.append(_group(rt, summary.run_id, included, report, static_values, rejects))
    return groups


def _group(rt, run_id: str, included: list[str], report, static_values, rejects: str) -> CombinedGroup:
    s, cat, wh = rt.settings, rt.catalog, rt.warehouse
    q = wh.quote
    primary, extras = included[0], included[1:]
    pmt = cat.get(primary)
    # the rows pre-flight checked (this run's copy of each view), as the plan and the export read them
    views = {n: getattr(report.results[n], "source", None) or report.results[n].relation for n in included}
    passing = {n: report.results[n].passing_rows_sql for n in included}
    p_fields = {f.name.lower() for f in pmt.fields}
    label = "+".join(included)
    now = utcnow()
    with wh.begin() as c:
        def ex(sql: str, **kw) -> None:
            c.execute(sa.text(sql), {"r": run_id, "t": now, **kw})

        for e in extras:
            emt = cat.get(e)
            for k in [k for k in emt.key_columns if k.lower() not in {f.name.lower() for f in emt.fields}]:
                if k.lower() in p_fields or pmt.meta.get("createsRecords"):
                    # The primary creates (or names) the record in the same job: a blank key is not an error.
                    ex(f"delete from {rejects} where run_id = :r and mapping_type = :m and rule = 'required' "
                       f"and lower(column_name) = lower(:k) and source_row_key in (select source_row_key from "
                       f"({passing[primary]}) p) and source_row_key not in (select x.source_row_key from {rejects} x "
                       f"where x.run_id = :r and x.mapping_type = :m and not (x.rule = 'required' "
                       f"and lower(x.column_name) = lower(:k)))", m=e, k=k)
                if k in pmt.staging_columns:
                    # One key column in the file (the primary's): an extra naming another record is rejected.
                    why = wh.ops.literal(f"{k} differs from {primary}'s {k} for the same source_row_key (combined job)")
                    ex(f"insert into {rejects} (run_id, mapping_type, source_row_key, rule, column_name, value, "
                       f"message, checked_at) select :r, :m, e.source_row_key, :rule, :k, e.{q(k)}, {why}, :t "
                       f"from {views[e]} e join {views[primary]} p on p.source_row_key = e.source_row_key "
                       f"where e.{q(k)} is not null and trim(e.{q(k)}) <> '' and (p.{q(k)} is null "
                       f"or trim(p.{q(k)}) <> trim(e.{q(k)})) and not exists (select 1 from {rejects} x "
                       f"where x.run_id = :r and x.mapping_type = :m and x.source_row_key = e.source_row_key)",
                       m=e, k=k, rule=KEY_CONFLICT_RULE)
        in_list = ", ".join(wh.ops.literal(n) for n in included)
        for n in included:  # rejected in one included view: sent in none
            ex(f"insert into {rejects} (run_id, mapping_type, source_row_key, rule, column_name, value, message, "
               f"checked_at) select distinct :r, :m, v.source_row_key, :rule, cast(null as {wh.ops.text_type}), "
               f"cast(null as {wh.ops.text_type}), {wh.ops.literal(f'rejected in another mapping type of the combined job {label}')}, :t "
               f"from {views[n]} v where exists (select 1 from {rejects} x where x.run_id = :r "
               f"and x.mapping_type in ({in_list}) and x.source_row_key = v.source_row_key) and not exists ("
               f"select 1 from {rejects} x where x.run_id = :r and x.mapping_type = :m "
               f"and x.source_row_key = v.source_row_key)", m=n, rule=COMBINED_RULE)
    rejected = {n: int(wh.scalar(f"select count(distinct source_row_key) from {rejects} where run_id = :r "
                                 "and mapping_type = :m", {"r": run_id, "m": n}) or 0) for n in included}
    for n in included:  # the rejects just changed: pre-flight's count of the rows to send no longer holds
        report.results[n].passing_count = None
    per_view: dict[str, list[str]] = {}
    for n in included:
        mt = cat.get(n)
        per_view[n] = file_columns(wh, cat, [mt], f"{s.staging_schema}.{mt.staging_view}",
                                   {n: static_values.get(n, {})})
    columns = combined_columns([(n, per_view[n], cat.get(n).key_columns) for n in included])
    specs = tuple(MappingSpec(n, dict(static_values.get(n, {}))) for n in included)
    relation = " + ".join(f"{s.staging_schema}.{cat.get(n).staging_view}" for n in included)
    return CombinedGroup(included, JobSpec(specs), relation, columns, per_view, views, rejected)


def combined_file(wh, group: CombinedGroup, sending: Mapping[str, str]
                  ) -> tuple[str, dict[str, set[str]], dict[str, str]]:
    """From each mapping type's rows the plan sends (``sending``: name -> SELECT): the file's SELECT (the
    primary's rows LEFT JOIN the extras'), the keys each extra carries data for in it, and per extra the
    SELECT of its rows the file cannot carry (sent in a job of their own)."""
    q = wh.quote
    primary, extras = group.names[0], group.names[1:]
    alias = {0: "p", **{i: f"e{i}" for i in range(1, len(group.names))}}
    select = ", ".join(f"{alias[i]}.{q(src)} as {q(col)}" for col, i, src in group.columns)
    joins = "".join(f" left join ({sending[e]}) e{i} on e{i}.source_row_key = p.source_row_key"
                    for i, e in enumerate(extras, start=1))
    sql = f"select {select} from ({sending[primary]}) p{joins}"
    carried = {e: {str(k) for (k,) in wh.fetchall(
        f"select e.source_row_key from ({sending[e]}) e where e.source_row_key in (select source_row_key from "
        f"({sending[primary]}) p)")} for e in extras}
    alone = {e: f"select e.* from ({sending[e]}) e where e.source_row_key not in (select source_row_key "
                f"from ({sending[primary]}) p where source_row_key is not null)" for e in extras}
    return sql, carried, alone
