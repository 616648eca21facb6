"""The plan step (pre-flight -> **plan** -> export): per mapping type, which passing rows go to VAN this run.

The diff runs in the warehouse (``Ledger.plan``: set operations against ``van_bulk_row_state``) and is stored
with the run (``van_bulk_plan_counts``, ``van_bulk_plan_rows``). What comes out is a list of ``SendPlan``:
one file (or chunked files) each, whose SELECT is the pre-flight's passing rows restricted to the keys the
plan sends. Nothing here talks to VAN. See docs/sync.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import sqlalchemy as sa

from connector.ledger import SENT_CATEGORIES, PlanCategory, PlanRequest, plan_reuse, utcnow
from connector.payload import JobSpec, MappingSpec
from connector.run.combined import CombinedGroup, combined_file, combined_groups
from connector.run.selection import file_columns, missing_statics, passing_sqls

__all__ = ["PlanOptions", "SendPlan", "plan_run"]


@dataclass(frozen=True)
class PlanOptions:
    full_refresh: bool = False  # resend unchanged rows of upsert types
    duplicate_append: bool = False  # with full_refresh: append types too (duplicates records at VAN)
    retry_only: bool = False  # retry-failed: only rows whose last outcome can be retried
    retry_of_run_id: str | None = None  # ... and that have a result in this run
    # A mapping type whose plan inputs equal its last plan's that found every row unchanged is not diffed again
    # (connector/ledger/plan_reuse.py); False (`--recheck`): every plan runs (and is recorded).
    reuse: bool = True


@dataclass(frozen=True)
class SendPlan:
    spec: JobSpec
    sql: str  # the rows to send (every column the file needs)
    relation: str  # label for the ledger
    columns: list[str]  # file columns in order
    part: int = 1
    carried: Mapping[str, set[str]] | None = None  # combined job: keys each extra has data for
    retry_of_run_id: str | None = None
    refresh: bool = False  # --full-refresh: content VAN already processed is sent again (the user asked)
    # At most this many rows (the plan's count of rows it sends for the file's mapping type); 0: nothing to
    # export or submit (``send`` skips it: no COPY, no empty file); None: not known.
    planned_rows: int | None = None

    @property
    def mapping_names(self) -> list[str]:
        return self.spec.mapping_names


def _sending_sql(ledger, run_id: str, name: str, passing: str) -> str:
    return (f"select v.* from ({passing}) v where v.source_row_key in "
            f"({ledger.planned_sql(run_id, name, SENT_CATEGORIES)})")


def _request(rt, mt, opts: PlanOptions) -> PlanRequest:
    return PlanRequest(mt.name, append=mt.write_semantics == "append", full_refresh=opts.full_refresh,
                       duplicate_append=opts.duplicate_append, max_tries=rt.settings.max_row_tries,
                       retry_only_run=(opts.retry_of_run_id or "") if opts.retry_only else None)


def _plan_one(rt, summary, mt, res, columns: Sequence[str], opts: PlanOptions) -> dict[str, int]:
    """``res``: the mapping type's pre-flight result; the plan reads the rows it checked (``res.source``)."""
    counts = rt.ledger.plan(summary.run_id, _request(rt, mt, opts), res.passing_rows_sql, _source(rt, res),
                            columns, passing_count=getattr(res, "passing_count", None))
    _report(rt, summary, mt, counts)
    return counts


class _SinglePlans:
    """The run's plans of mapping types sent alone (not in a combined job): the categories of every plan that wrote
    rows counted in one statement for all (``Ledger.count_plans``), their counts written in one statement, and a
    plan whose inputs equal the last plan that found every row unchanged carried over instead of diffed again
    (connector/ledger/plan_reuse.py: two statements a run instead of two a mapping type). Counts are known after
    ``finish``."""

    def __init__(self, rt, summary, results: Mapping[str, Any], opts: PlanOptions):
        self.rt, self.summary, self.opts = rt, summary, opts
        self.counts: dict[str, dict[str, int]] = {}
        self.uncounted: dict[str, tuple[Any, int, str, str | None]] = {}  # name -> (mt, passing, view, fingerprint)
        self.records: dict[str, tuple[str, int]] = {}
        self.carried: dict[str, str] = {}  # mapping type -> the run whose plan it carries over
        self.state: dict[str, str] | None = None
        self.last: dict[str, tuple[str, str, int]] = {}
        fingerprinted = sorted(n for n, r in results.items() if getattr(r, "fingerprint", ""))
        if fingerprinted and not (opts.full_refresh or opts.retry_only):
            self.state = plan_reuse.state_fingerprints(rt.ledger, fingerprinted)
            if self.state is not None and opts.reuse and rt.settings.preflight_reuse:
                self.last = plan_reuse.last_plans(rt.ledger, fingerprinted)

    def _fingerprint(self, mt, res, columns: Sequence[str]) -> tuple[str | None, str | None]:
        """(this plan's fingerprint or None, the run whose plan it carries over or None)."""
        ledger = self.rt.ledger
        fp = None
        if self.state is not None and getattr(res, "fingerprint", ""):
            fp = plan_reuse.fingerprint(check=res.fingerprint, state=self.state.get(mt.name, ""),
                                        request=_request(self.rt, mt, self.opts), columns=columns,
                                        api_target=ledger.api_target, database_mode=ledger.database_mode)
        last = self.last.get(mt.name)
        passing = getattr(res, "passing_count", None)
        carried = fp is not None and last is not None and last[1] == fp and passing is not None and passing == last[2]
        return fp, last[0] if carried else None

    def carries(self, mt, res, columns: Sequence[str]) -> bool:
        """This mapping type's plan will be carried over (its rows need not be read)."""
        return self._fingerprint(mt, res, columns)[1] is not None

    def plan(self, mt, res, columns: Sequence[str]) -> None:
        rt, req, ledger = self.rt, _request(self.rt, mt, self.opts), self.rt.ledger
        fp, carried_from = self._fingerprint(mt, res, columns)
        passing = getattr(res, "passing_count", None)
        if carried_from is not None:
            counts = {PlanCategory.UNCHANGED.value: passing} if passing else {}
            self.carried[mt.name] = carried_from
            fp = None  # (recorded already)
        else:
            counts = ledger.plan(self.summary.run_id, req, res.passing_rows_sql, _source(rt, res), columns,
                                 passing_count=passing, write_counts=False, defer_counts=True)
            if counts is None:  # rows written: counted with the others in finish()
                self.uncounted[mt.name] = (mt, int(passing or 0), _source(rt, res), fp)
                return
        self._counted(mt, counts, fp)

    def _counted(self, mt, counts: dict[str, int], fp: str | None) -> None:
        """``fp``: the fingerprint of a plan diffed in this run (None: carried over, or none taken)."""
        if fp is not None and set(counts) <= {PlanCategory.UNCHANGED.value}:  # every row unchanged: a record
            self.records[mt.name] = (fp, int(counts.get(PlanCategory.UNCHANGED.value, 0)))
        self.counts[mt.name] = counts
        _report(self.rt, self.summary, mt, counts)

    def finish(self) -> None:
        rt = self.rt
        counted = rt.ledger.count_plans(self.summary.run_id, {n: (p, view) for n, (_, p, view, _) in
                                                              self.uncounted.items()})
        for name, (mt, _, _, fp) in self.uncounted.items():
            self._counted(mt, counted[name], fp)
        rt.ledger.write_plan_counts(self.summary.run_id, self.counts)
        plan_reuse.record(rt.ledger, self.summary.run_id, self.records, utcnow())
        if self.carried:
            runs = sorted(set(self.carried.values()))
            rt.events.emit("plan_carried", f"plan: {len(self.carried)} mapping type(s) unchanged since their plan in "
                           f"run{'s' if len(runs) > 1 else ''} {', '.join(r[:8] for r in runs)} (same checked rows, "
                           "same sync state): every row unchanged, not diffed again (`--recheck` diffs)",
                           mapping_types=sorted(self.carried), runs=runs)


def _source(rt, res) -> str:
    """The checked rows of a pre-flight result (a pre-flight without ``source`` checked the view itself)."""
    return getattr(res, "source", None) or res.relation


def _report(rt, summary, mt, counts: Mapping[str, int]) -> None:
    ms = summary.mt(mt.name)
    ms.plan = dict(counts)
    ms.unchanged = int(counts.get(PlanCategory.UNCHANGED, 0))
    ms.to_send = sum(int(counts.get(c, 0)) for c in SENT_CATEGORIES)
    notes = []
    n = int(counts.get(PlanCategory.CHANGED_AFTER_IMPORT, 0))
    if n:
        keys = rt.ledger.held_rows(summary.run_id, mt.name, PlanCategory.CHANGED_AFTER_IMPORT)
        via = (f"; to change an imported record use {rt.catalog.get(mt.change_via).display_name} "
               f"({mt.change_via})" if mt.change_via and rt.catalog.find(mt.change_via) else "")
        notes.append(f"{mt.name}: {n} row(s) changed after VAN imported them ({', '.join(keys)}"
                     f"{', ...' if n > len(keys) else ''}); not sent again, since each send creates a new "
                     f"record{via}")
    if counts.get(PlanCategory.AMBIGUOUS):
        jobs = rt.ledger.unresolved_jobs(mt.name)
        notes.append(f"{mt.name}: {counts[PlanCategory.AMBIGUOUS]} row(s) in a job whose POST may have reached VAN: "
                     "not sent until it is resolved; find the job in VAN (its description names the key), then "
                     + "; ".join(resolve_hint(j["job_key"]) for j in jobs) + " (docs/sync.md)")
    for cat, what in ((PlanCategory.IN_FLIGHT, "in a job still open at VAN: not sent again"),
                      (PlanCategory.RETRY_EXHAUSTED, f"failed {rt.settings.max_row_tries} time(s) with the same "
                                                     "values: left for `vanbulk retry-failed`"),
                      (PlanCategory.GONE, "no longer in the view (reported only: a bulk import cannot delete)")):
        if counts.get(cat):
            notes.append(f"{mt.name}: {counts[cat]} row(s) {what}")
    for note in notes:
        rt.events.note(summary.messages, note, kind="plan_note", mapping_type=mt.name)


def resolve_hint(job_key: str) -> str:
    """The exact commands that settle an unresolved job."""
    return (f"`vanbulk resolve {job_key} --van-job-id N` (VAN has it as job N) or "
            f"`vanbulk resolve {job_key} --not-at-van`")


def plan_run(rt, summary, names: Sequence[str], report, static_values: Mapping[str, Mapping[str, Any]],
             opts: PlanOptions = PlanOptions()) -> list[SendPlan]:
    """Plan every selected mapping type that pre-flight did not block; returns what to export and send."""
    s, cat, run_id = rt.settings, rt.catalog, summary.run_id
    rt.ledger.heal_row_state()  # (before the plans' sync-state fingerprint: _SinglePlans)
    combinable = {cat.get(n).name for e in (s.combined_jobs or ()) for n in e["mapping_types"] if cat.find(n)}
    for name in names:  # a combined job reads its rows whatever its plan: their copies first
        if name in combinable and report.results.get(name) is not None:
            _copy_or_block(rt, summary, report.results[name])
    groups = combined_groups(rt, summary, names, report, static_values)
    in_group = {n: g for g in groups for n in g.names}
    singles = _SinglePlans(rt, summary, {n: r for n, r in report.results.items()
                                         if n in names and n not in in_group and not r.blocked}, opts)
    plans: list[SendPlan] = []
    planned: list[tuple] = []  # mapping types sent alone: their files once every plan is counted
    for name in names:
        mt = cat.get(name)
        res = report.results.get(name)
        if res is None:
            continue
        if getattr(res, "pending_copy", None) and name not in in_group and not res.blocked:
            # the rows are read only by a plan that is not carried over, or to reject them (a missing static value)
            statics = dict(static_values.get(name, {}))
            if missing_statics(mt, statics) or not singles.carries(mt, res, file_columns(
                    rt.warehouse, cat, [mt], f"{s.staging_schema}.{mt.staging_view}", {name: statics})):
                _copy_or_block(rt, summary, res)
        ms = summary.mt(name)
        ms.rows_checked, ms.rejected, ms.blocked = int(res.rows_checked), int(res.rows_rejected), bool(res.blocked)
        ms.warned = int(getattr(res, "rows_warned", 0) or 0)
        ms.dropped = int(res.rows_dropped)
        if name in in_group:
            ms.rejected = in_group[name].rejected[name]
            continue
        if res.blocked:
            reasons = "; ".join(res.block_reasons or []) or "blocked by pre-flight"
            msg = (f"{name}: blocked ({reasons}); nothing sent, all {ms.rejected} row(s) recorded in "
                   "van_preflight_rejects")
            rt.events.note(summary.messages, msg)
            continue
        statics = dict(static_values.get(name, {}))
        need = missing_statics(mt, statics)
        if need:
            ms.rejected += _reject_missing_statics(rt, run_id, mt, _source(rt, res), need)
            msg = (f"{name}: required field(s) {', '.join(need)} cannot come from a column; give them with "
                   f"--static {name}.{need[0]}=VALUE (not sent; rows recorded in van_preflight_rejects)")
            rt.events.note(summary.messages, msg)
            continue
        relation = f"{s.staging_schema}.{mt.staging_view}"
        columns = file_columns(rt.warehouse, cat, [mt], relation, {name: statics})
        singles.plan(mt, res, columns)
        planned.append((name, res, relation, columns, JobSpec((MappingSpec(name, statics),))))
    singles.finish()  # (every single plan counted: what each sends is known from here)
    for name, res, relation, columns, spec in planned:
        for part_no, (sql, group) in enumerate(passing_sqls(res), start=1):
            cols = columns
            if group:
                keep = {c.lower() for c in group} | {"source_row_key"}
                cols = [c for c in columns if c.lower() in keep]
            plans.append(SendPlan(spec, _sending_sql(rt.ledger, run_id, name, sql), relation, cols, part_no,
                                  retry_of_run_id=opts.retry_of_run_id, planned_rows=summary.mt(name).to_send,
                                  refresh=opts.full_refresh))
    for g in groups:
        plans += _plan_group(rt, summary, g, report, opts)
    return plans


def _plan_group(rt, summary, g: CombinedGroup, report, opts: PlanOptions) -> list[SendPlan]:
    cat, run_id = rt.catalog, summary.run_id
    passing = {n: report.results[n].passing_rows_sql for n in g.names}
    for n in g.names:
        _plan_one(rt, summary, cat.get(n), report.results[n], g.per_view_columns[n], opts)
    primary = cat.get(g.names[0])
    if primary.write_semantics == "upsert" and not opts.retry_only:
        # An extra's changed row rides on its primary row (an upsert: sending it again changes nothing).
        if rt.ledger.plan_carried(run_id, primary.name, passing[primary.name], g.per_view_columns[primary.name],
                                  g.names[1:]):
            _report(rt, summary, primary, rt.ledger.plan_counts(run_id).get(primary.name, {}))
    sending = {n: _sending_sql(rt.ledger, run_id, n, passing[n]) for n in g.names}
    sql, carried, alone = combined_file(rt.warehouse, g, sending)
    to_send = {n: summary.mt(n).to_send for n in g.names}
    plans = [SendPlan(g.spec, sql, g.relation, [c for c, _, _ in g.columns], carried=carried,
                      retry_of_run_id=opts.retry_of_run_id, planned_rows=to_send[primary.name],
                      refresh=opts.full_refresh)]
    s = rt.settings
    for e in g.names[1:]:  # the extra's rows the combined file cannot carry go in a job of their own
        mt = cat.get(e)
        spec = next(m for m in g.spec.mappings if m.name == e)
        plans.append(SendPlan(JobSpec((MappingSpec(e, dict(spec.static_values)),)), alone[e],
                              f"{s.staging_schema}.{mt.staging_view}", g.per_view_columns[e], part=2,
                              retry_of_run_id=opts.retry_of_run_id, planned_rows=to_send[e],
                              refresh=opts.full_refresh))
    return plans


def _copy_or_block(rt, summary, res) -> None:
    """Take the copy a carried check left for later (connector/preflight/checked.py: take_pending). When the view
    changed since pre-flight fingerprinted it, its rows were never checked: the mapping type is blocked for this run,
    and every row it holds now gets a reject saying why (this run's carried findings are replaced); the next run
    checks it."""
    from connector.preflight.checked import take_pending
    from connector.preflight.rejects import ensure_table, warnings_relation, write_blocked_rejects

    if take_pending(rt.warehouse, res):
        return
    reason = ("the view changed after pre-flight carried its check over (its rows now differ from the rows "
              "checked): nothing sent this run; the next run checks it")
    res.blocked, res.carried_from = True, ""
    res.block_reasons.append(reason)
    res.block_details.append(("view_changed_during_run", None, reason))
    wh, schema = rt.warehouse, rt.ledger.schema
    rejects = ensure_table(wh, schema)
    with wh.begin() as c:
        for rel in (rejects, warnings_relation(wh, schema)):
            c.execute(sa.text(f"delete from {rel} where run_id = :r and mapping_type = :m"),
                      {"r": summary.run_id, "m": res.mapping_type})
        res.rows_checked = int(c.execute(sa.text(f"select count(*) from {res.checked_relation}")).scalar() or 0)
        res.rows_blocked = write_blocked_rejects(c, wh, schema, summary.run_id, res.mapping_type, res.checked_relation,
                                                 res.block_details, utcnow())
    res.rows_rejected, res.rows_warned, res.passing_count = res.rows_checked, 0, 0
    rt.events.emit("view_changed_during_run", f"{res.mapping_type}: {reason}", level=logging.WARNING,
                   mapping_type=res.mapping_type)


def _reject_missing_statics(rt, run_id: str, mt, view: str, need: Sequence[str]) -> int:
    """A mapping type the run cannot send lands in van_preflight_rejects like every other refusal."""
    from connector.preflight.rejects import MISSING_STATIC_RULE, ensure_table, write_blocked_rejects
    from connector.ledger import utcnow

    ensure_table(rt.warehouse, rt.ledger.schema)
    details = [(MISSING_STATIC_RULE, f, f"required field {f} cannot come from a column and no static value "
                                        f"is given (--static {mt.name}.{f}=VALUE)") for f in need]
    with rt.warehouse.begin() as c:  # rows no row rule rejected: one reject each, naming the field
        return write_blocked_rejects(c, rt.warehouse, rt.ledger.schema, run_id, mt.name, view, details, utcnow())
