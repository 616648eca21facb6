"""``run_preflight``: catalogue rules -> SQL rejects + GX checkpoint -> one report per mapping type."""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.catalog import Catalog, CatalogError, MappingType
from connector.preflight import reuse as reuse_checks
from connector.preflight.checked import checked_table
from connector.preflight.checked import take as take_checked
from connector.preflight.dropped import TABLE as DROPPED_TABLE
from connector.preflight.dropped import dropped_relation, record_dropped, record_dropped_many
from connector.preflight.dropped import ensure_table as ensure_dropped_table
from connector.preflight.rejects import (REJECT, batch_relation, batch_table, ensure_table, rejects_relation,
                                        severity_of, warnings_relation, write_blocked_rejects, write_findings)
from connector.preflight.report import MappingTypeResult, PreflightReport, RuleOutcome
from connector.preflight.rules import (MAX_COLUMNS, accepted_values, build_rules, build_static_rules,
                                       disclosure_groups)
from connector.preflight.sql import has_surrounding_whitespace, ident, is_set, text_lit
from connector.warehouse import Warehouse

log = logging.getLogger(__name__)

DRY_RUN_BATCH = "__dry_run"  # GX's batch table of a dry run: van_preflight_batch__<view>__dry_run
DATABASE_MODES = {0: "VoterFile (My Voters)", 1: "My Campaign"}

__all__ = ["run_preflight", "passing_rows_sql"]


def _norm(names: Iterable[str] | None) -> set[str] | None:
    return None if names is None else {n.strip().lower() for n in names}


def _availability(mt: MappingType, settings, available: set[str] | None) -> list[tuple[str, str | None, str]]:
    reasons = []
    if settings.database_mode not in mt.database_modes:
        modes = ", ".join(DATABASE_MODES.get(m, str(m)) for m in mt.database_modes) or "none"
        reasons.append(("database_mode", None, f"{mt.name} is not available in database mode {settings.database_mode} "
                                         f"({DATABASE_MODES.get(settings.database_mode)}); available in: {modes}"))
    names = {mt.name.lower(), mt.display_name.lower()}
    for source, allowed in (("the API key (VAN's mapping type list)", _norm(available)),
                            ("settings.permitted_mapping_types", _norm(settings.permitted_mapping_types))):
        if allowed is not None and not names & allowed:
            reasons.append(("not_permitted", None, f"{mt.name} is not permitted for {source}"
                                             + ("; it needs a support request to enable" if mt.requires_permission else "")))
    return reasons


_PASSING = "vanbulk_passing_rows"  # stands for the passing rows' subquery while the outer query is compiled


def passing_rows_sql(warehouse: Warehouse, relation: str, columns: list[str], rejects_rel: str, run_id: str,
                     mapping_type: str) -> str:
    """All view columns of rows with a usable key and no reject for (run_id, mapping_type).

    Meant for ``sqlalchemy.text`` / ``Warehouse`` methods: colons in literals are escaped."""
    cols = ", ".join(f"v.{ident(c)}" for c in columns)
    return warehouse.ops.compile_portable(
        f"select {cols} from {relation} v where {is_set('v.source_row_key')} "
        f"and not {has_surrounding_whitespace('v.source_row_key')} "
        f"and not exists (select 1 from {rejects_rel} r where r.run_id = {text_lit(run_id)} "
        f"and r.mapping_type = {text_lit(mapping_type)} and r.source_row_key = v.source_row_key)")


def _drift_reason(expected: list[str], actual: list[str]) -> str | None:
    if expected == actual:
        return None
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"unexpected {', '.join(extra)}")
    if not parts:
        parts.append("same columns in a different order")
    return "view columns differ from the catalogue's staging_columns: " + "; ".join(parts) + \
        " (rebuild the dbt staging view, or refresh the catalogue)"


@contextmanager
def _rule_pass_settings(conn: Connection, ops) -> Iterator[None]:
    """The engine's planner settings for the rule pass (``Engine.rule_pass_settings``), reset afterwards."""
    if ops.rule_pass_settings:
        with conn.begin():
            for stmt in ops.rule_pass_settings:
                conn.execute(sa.text(stmt))
    try:
        yield
    finally:
        if ops.rule_pass_reset:
            try:
                with conn.begin():
                    for stmt in ops.rule_pass_reset:
                        conn.execute(sa.text(stmt))
            except Exception:  # noqa: BLE001 - a planner setting left behind slows nothing that matters
                log.debug("could not reset the rule pass settings", exc_info=True)


def run_preflight(warehouse: Warehouse, catalog: Catalog, mapping_types: list[str], run_id: str, settings,
                  available_mapping_types: set[str] | None = None, *, gx: bool = True,
                  static_values: Mapping[str, Mapping[str, Any]] | None = None,
                  metadata_blocks: Mapping[str, list[tuple[str, str | None, str]]] | None = None,
                  progress: Callable[[str, MappingTypeResult], None] | None = None,
                  on_phase: Callable[[str, int], None] | None = None,
                  dry_run: bool = False, reuse: bool = False, record: bool | None = None) -> PreflightReport:
    """Check each mapping type's staging view; write failing rows to ``van_preflight_rejects``.

    ``available_mapping_types``: the mapping types VAN lists for this key (None: not checked).
    ``gx=False`` skips the GX checkpoint (same rejects, no Data Docs) for callers that only need the rows.
    ``static_values``: mapping type -> field -> the ``staticValue`` the job will send (default
    ``settings.static_values``); enables the checks that depend on it (a child column under a static
    parent, a static predefined value, a required static field nobody gave: ``missing_static_value``).
    A blocked view's rows that broke no row rule get a reject naming the reason (``write_blocked_rejects``).
    ``metadata_blocks``: mapping type -> (rule, column, reason) from the account's live metadata (a view column
    the account does not know, a required field the view lacks: ``connector.live_metadata``); each blocks it.
    ``progress``: called as each mapping type's SQL checks finish; ``on_phase(name, n)`` as each later step
    starts (``gx``: the Great Expectations checkpoint over n views; ``docs``: the rejected rows into Data Docs)
    and ``done`` at the end, so a display shows the work after the last mapping type too.
    ``dry_run``: the report, its Data Docs (a site of their own) and GX's batch tables are marked as a dry run's
    and never replace the last real run's.
    ``reuse``: a view whose rows and rules equal its last recorded check's has that check carried over instead of
    checked again, and this run's checks are recorded for the next (connector/preflight/reuse.py; never in a dry
    run). ``record`` (default: ``reuse``): record this run's checks for the next run (``--recheck``: checks every
    view, and records).
    """
    if static_values is None:
        static_values = getattr(settings, "static_values", None)
    # Only a caller that states the run's static values (the pipeline always does) can be told one is
    # missing; without them (a bare `validate` of the rules) the check would block every such view.
    know_statics = static_values is not None
    schema = settings.results_schema or warehouse.default_schema
    ensure_table(warehouse, schema)
    rejects_rel = rejects_relation(warehouse, schema)
    checked_at = datetime.now(timezone.utc).replace(tzinfo=None)
    report = PreflightReport(run_id=run_id, rejects_relation=rejects_rel,
                             warnings_relation=warnings_relation(warehouse, schema), dry_run=dry_run)

    def gx_batch(mt: MappingType) -> str:  # the table GX reads for a view; a dry run's is its own
        return batch_table(mt.staging_view + (DRY_RUN_BATCH if dry_run else ""))
    counted: set[str] = set()  # mapping types whose rejects were written (view present, no drift)
    present: set[str] = set()  # mapping types whose view exists
    targets: list[tuple[str, str]] = []

    ensure_dropped_table(warehouse, schema)
    record = (reuse if record is None else record) and not dry_run
    reuse = reuse and record
    checks: dict[str, dict[str, Any]] = {}  # mapping type -> its fingerprint and what a record of it needs
    carried: list[reuse_checks.Carried] = []
    # One connection for every mapping type (DuckDB reopens the file on each new connection, ~50-80 ms),
    # one transaction for all: a consistent snapshot of every view.
    with warehouse.connect() as conn, _rule_pass_settings(conn, warehouse.ops):
        if warehouse.ops.snapshot_isolation:  # the views' dropped rows and their checked copies from one snapshot
            conn = conn.execution_options(isolation_level=warehouse.ops.snapshot_isolation)
        # An earlier check of these mapping types in this run (a resumed run) leaves nothing behind: cleared once
        # for the run, not per view and table (three statements instead of three per mapping type).
        names = [catalog.get(m).name for m in mapping_types]
        previous: dict[str, reuse_checks.PreviousCheck] = {}
        with conn.begin():
            cleared = [rejects_rel, report.warnings_relation, warehouse.relation(DROPPED_TABLE, schema)]
            if record:
                cleared.append(reuse_checks.ensure_table(warehouse, schema, conn))
            for rel in cleared:
                conn.execute(sa.text(f"delete from {rel} where run_id = :r and mapping_type in "
                                     f"({', '.join(warehouse.ops.literal(n) for n in names)})"), {"r": run_id})
            if reuse:
                previous = reuse_checks.latest(conn, warehouse, schema, names)

        def check(requested: str, last: reuse_checks.PreviousCheck | None, dropped_rows: int | None = None) -> None:
            """``dropped_rows``: the view's dropped rows, recorded already in the caller's transaction (None: checked
            again on its own, in a transaction of its own that replaces them)."""
            mt = catalog.get(requested)
            relation = warehouse.relation(mt.staging_view, settings.staging_schema)
            res = MappingTypeResult(mapping_type=mt.name, relation=relation)
            report.results[mt.name] = res
            checks[mt.name] = {} if record else {"off": True}
            shown = dropped_rows is not None
            with (nullcontext() if shown else conn.begin()):
                if shown:
                    res.rows_dropped = dropped_rows
                else:
                    dropped = dropped_relation(warehouse, settings.staging_schema, mt.staging_view, conn)
                    if dropped is not None:  # input rows the view leaves out: recorded, never silently gone
                        res.rows_dropped = record_dropped(conn, warehouse, schema, run_id, mt.name, dropped,
                                                           checked_at)
                state = _check_one(conn, warehouse, catalog, mt, res, run_id, settings, schema, rejects_rel,
                                   checked_at, available_mapping_types, _statics_for(mt, static_values),
                                   know_statics, (metadata_blocks or {}).get(mt.name, ()),
                                   batch=warehouse.relation(gx_batch(mt), schema), last=last,
                                   check=checks[mt.name])
            if state == "reused":
                present.add(mt.name)
                info = checks[mt.name]
                carried.append(reuse_checks.Carried(mt.name, last.run_id, info["reject_rows"], info["warning_rows"]))
                if info.get("page") and Path(info["page"]).exists():  # the view's page of the run that checked it
                    report.data_docs_pages[mt.name] = info["page"]
            if state in ("checked", "drift"):
                # GX validates the rows the pass left in the batch table; a drifted view (no row rules ran)
                # is validated as it is, so its column expectations show the drift.
                targets.append((mt.name, mt.staging_view, gx_batch(mt), schema)
                               if state == "checked" else
                               (mt.name, mt.staging_view, mt.staging_view, settings.staging_schema))
                present.add(mt.name)
            if state == "checked":
                counted.add(mt.name)
            if progress is not None and shown:  # the caller's live display: n/N mapping types, rejects so far
                progress(mt.name, res)

        # One transaction (one snapshot) for every view's dropped rows and checked copy: every input row is in
        # exactly one of them, and the dropped rows of all views are one statement, not one a view.
        with conn.begin():
            dropped = {}
            for requested in mapping_types:
                mt = catalog.get(requested)
                rel = dropped_relation(warehouse, settings.staging_schema, mt.staging_view, conn)
                if rel is not None:  # input rows the view leaves out: recorded, never silently gone
                    dropped[mt.name] = rel
            counts = record_dropped_many(conn, warehouse, schema, run_id, dropped, checked_at)
            for requested in mapping_types:
                name = catalog.get(requested).name
                check(requested, previous.get(name) if reuse else None, dropped_rows=counts.get(name, 0))
        if carried:
            with conn.begin():
                bad = reuse_checks.carry(conn, warehouse, schema, rejects_rel, report.warnings_relation, run_id,
                                         carried, checked_at)
                if bad:  # an earlier run's findings changed since they were recorded: these views checked again
                    for rel in (rejects_rel, report.warnings_relation):
                        conn.execute(sa.text(f"delete from {rel} where run_id = :r and mapping_type in "
                                             f"({', '.join(warehouse.ops.literal(n) for n in sorted(bad))})"),
                                     {"r": run_id})
            if bad:
                log.warning("the recorded findings of %s differ from their record; checking again",
                            ", ".join(sorted(bad)))
                carried[:] = [c for c in carried if c.mapping_type not in bad]
                for name in sorted(bad):
                    report.data_docs_pages.pop(name, None)
                    present.discard(name)
                    check(name, None)

    gx_run = None
    if gx and targets:
        from connector import background_import

        background_import.wait()  # GX imported on another thread while dbt ran: never import it from two at once
        from connector.preflight.runner import run_checkpoint

        if on_phase is not None:
            on_phase("gx", len(targets))
        gx_run = run_checkpoint(warehouse, catalog, settings, run_id, targets,
                                **({"dry_run": True} if dry_run else {}))  # (its callers' signature, else)
        report.gx_success = gx_run.success
        report.data_docs_path = gx_run.data_docs_path
        report.data_docs_pages = dict(gx_run.pages)
        for mt_name, outs in gx_run.outcomes.items():
            res = report.results.get(mt_name)
            if res is None or mt_name not in counted:
                continue
            _merge_gx(res, outs, settings)
    # A blocked view sends nothing: its rows without a row-rule reject get one saying why (after GX,
    # which may block too), so every row of the view is accounted for in the rejects table.
    blocked = [(n, r) for n, r in report.results.items() if r.blocked and n in present]
    if blocked:
        with warehouse.begin() as conn:
            for name, res in blocked:
                res.rows_blocked = write_blocked_rejects(
                    conn, warehouse, schema, run_id, name, res.source, res.block_details, checked_at)
                res.rows_rejected = res.rows_checked
    if carried and not report.data_docs_path:  # every view carried over: the site their pages are in
        from connector.preflight.runner import docs_site, gx_root

        index = docs_site(gx_root(settings)) / "index.html"
        report.data_docs_path = str(index) if index.exists() else None
    if report.data_docs_path and (gx_run is not None or carried):
        from connector.preflight.datadocs import annotate_data_docs

        pages = dict(gx_run.pages) if gx_run is not None else {}
        if on_phase is not None:
            on_phase("docs", len(pages))
        try:  # this run's pages get their rejected rows; the index lists every view, a carried one's page too
            annotate_data_docs(warehouse, report, pages, index_pages=report.data_docs_pages)
        except Exception as exc:  # pragma: no cover - the pages explain; the verdict stands without them
            log.warning("could not add the rejected rows to Data Docs: %s", exc)
    if record:
        _record_checks(warehouse, schema, report, checks, gx_run, checked_at)
    if on_phase is not None:
        on_phase("done", 0)
    return report


def _record_checks(warehouse: Warehouse, schema: str, report: PreflightReport, checks: dict[str, dict[str, Any]],
                   gx_run, checked_at: datetime) -> None:
    """This run's checks that a later run may carry over: not blocked, and validated by GX (here or when first
    checked), so a carried verdict is never one GX did not agree with."""
    rows = []
    for name, info in checks.items():
        res = report.results[name]
        fp = info.get("fingerprint")
        if fp is None or res.blocked or "present" not in info:
            continue
        if not res.carried_from and (gx_run is None or name not in gx_run.outcomes):
            continue
        rows.append((name, fp, reuse_checks.snapshot(res, checked_in=info.get("checked_in", report.run_id),
                                                     present=info["present"],
                                                     reject_rows=info["reject_rows"],
                                                     warning_rows=info["warning_rows"],
                                                     page=report.data_docs_pages.get(name))))
    if rows:
        with warehouse.begin() as conn:
            reuse_checks.record(conn, warehouse, schema, report.run_id, rows, checked_at)


def _statics_for(mt: MappingType, static_values: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    for name, values in (static_values or {}).items():
        if name.lower() in (mt.name.lower(), mt.display_name.lower()):
            return dict(values)
    return {}


def _static_problems(catalog: Catalog, mt: MappingType, statics: Mapping[str, Any]
                     ) -> list[tuple[str, str | None, str]]:
    """(rule, field, reason) for static values that cannot work (file level): an unknown field, a
    predefined-value field whose value is not an allowed id or unique name, or a required field that no
    column can carry and nobody gave (VAN refuses such a job at POST)."""
    out: list[tuple[str, str | None, str]] = []
    given = {k.lower() for k in statics}
    for fname, value in statics.items():
        try:
            f = mt.field(fname)
        except CatalogError:
            out.append(("static_value", fname, f"static value for {fname!r}: {mt.name} has no such field"))
            continue
        if not f.has_predefined_values or catalog.values(mt.name, f.name) is None:
            continue
        ids, names = accepted_values(catalog, mt, f.name)
        v = str(value).strip()
        if v not in ids and v.lower() not in names:
            out.append(("static_value", f.name, f"static value {f.name}={v!r} is not an allowed id or unique name"))
    for f in mt.required_fields:
        if not f.can_be_mapped_to_column and f.name.lower() not in given:
            out.append(("missing_static_value", f.name,
                        f"required field {f.name} cannot come from a column and has no static value "
                        f"(set static_values.{mt.name}.{f.name} in vanbulk.yml or --static {mt.name}.{f.name}=VALUE)"))
    return out


def _scalar(conn: Connection, sql: str, params: dict | None = None):
    return conn.execute(sa.text(sql), params or {}).scalar()


def _view_columns(conn: Connection, warehouse: Warehouse, schema: str, view: str) -> list[str] | None:
    """The view's columns in order, or None when it does not exist (from the run's catalogue cache, if any)."""
    return warehouse.describe(view, schema, conn=conn)


def _check_one(conn: Connection, warehouse: Warehouse, catalog: Catalog, mt: MappingType, res: MappingTypeResult,
               run_id: str, settings, schema: str, rejects_rel: str, checked_at: datetime,
               available: set[str] | None, statics: Mapping[str, Any], know_statics: bool = True,
               metadata_blocks=(), batch: str | None = None, last: reuse_checks.PreviousCheck | None = None,
               check: dict[str, Any] | None = None) -> str:
    """Fill ``res`` for one mapping type; returns "missing", "drift", "checked" or "reused" (``last``, the view's
    last recorded check, carried over: rows and rules unchanged). ``check``: filled with this check's
    fingerprint and what a record of it needs (None or holding "off": no fingerprint taken)."""
    cols, relation = list(mt.staging_columns), res.relation
    failed: set[str] = set()
    warned: set[str] = set()

    def block(rule: str, column: str | None, reason: str) -> None:
        failed.add(rule)
        res.block_reasons.append(reason)
        res.block_details.append((rule, column, reason))

    # A view column the account lacks does not block the type: its rows with a value there are held back
    # (rule field_not_in_account) and the column is left out of the file.
    absent = [(column, reason) for rule, column, reason in metadata_blocks if rule == ABSENT_FIELD and column]
    metadata_blocks = [b for b in metadata_blocks if b[0] != ABSENT_FIELD or not b[1]]
    for rule, column, reason in [*_availability(mt, settings, available), *metadata_blocks,
                                 *_static_problems(catalog, mt, statics)]:
        if rule != "missing_static_value" or know_statics:
            block(rule, column, reason)

    def finish() -> None:
        res.rules_failed = sorted(failed)
        res.blocked = bool(res.block_reasons)
        if res.blocked:
            res.passing_rows_sql = f"select v.* from {relation} v where 1 = 0"
            res.split_rows_sql = []
            res.passing_count = 0

    actual = _view_columns(conn, warehouse, settings.staging_schema, mt.staging_view)
    if actual is None:
        block("missing_view", None, f"staging view {relation} does not exist (run dbt first)")
        finish()
        return "missing"
    if len(actual) > MAX_COLUMNS:
        block("column_count", None, f"the view has {len(actual)} columns; VAN accepts at most {MAX_COLUMNS}")
    if warehouse.ops.case_insensitive_columns:  # the engine matches names whatever their case: so do we
        spelled = {c.casefold(): c for c in cols}
        actual = [spelled.get(a.casefold(), a) for a in actual]
    drift = _drift_reason(cols, actual)
    if drift:
        res.rows_checked = int(_scalar(conn, f"select count(*) from {relation}"))
        # Row rules reference the catalogue's columns: on a drifted view they cannot run meaningfully.
        block("columns_match_catalog", None, drift)
        # Row rules did not run: drop rows an earlier check of this run wrote; the blocked rows follow.
        for rel in (rejects_rel, warnings_relation(warehouse, schema)):
            conn.execute(sa.text(f"delete from {rel} where run_id = :r and mapping_type = :m"),
                         {"r": run_id, "m": mt.name})
        res.rows_rejected = res.rows_checked
        finish()
        return "drift"

    strict = bool(getattr(settings, "strict_inferred_rules", False))
    rules = build_rules(catalog, mt, strict_inferred=strict) + build_static_rules(catalog, mt, statics,
                                                                                   strict_inferred=strict)
    groups = disclosure_groups(mt)
    fingerprinted = check is not None and "off" not in check and not res.block_reasons  # (never a blocked view)
    rules_fp = reuse_checks.rules_fingerprint(mapping_type=mt.name, columns=cols, rules=rules, statics=statics,
                                              absent=absent, settings=settings, dialect=warehouse.dialect) \
        if fingerprinted else ""
    if fingerprinted and last is not None and reuse_checks.quiet(last):
        # Its check was carried over last time too: fingerprint the view itself and, while it is the same, take no
        # copy now. The plan takes it only if it must read the rows, and proves it holds these same rows
        # (checked.take_pending); a quiet night takes none (docs/preflight.md, "A view unchanged ...").
        content = reuse_checks.content_fingerprint(conn, warehouse, relation, cols)
        fp = reuse_checks.fingerprint(content, rules_fp)
        if content is not None and fp == last.fingerprint:
            res.checked_relation = warehouse.relation(checked_table(run_id, mt.staging_view), schema)
            res.pending_copy = (content, tuple(cols))
            check["fingerprint"] = res.fingerprint = fp
            return _carry_over(res, last, check, warehouse, res.checked_relation, cols, groups, rejects_rel, run_id,
                               mt.name, settings, failed, finish)
    # From here on every check reads this run's copy of the view, and so do the plan and the export.
    res.checked_relation, copied = take_checked(conn, warehouse, schema, run_id, mt.staging_view, relation)
    relation = res.checked_relation
    if fingerprinted:
        check["fingerprint"] = reuse_checks.fingerprint(
            reuse_checks.content_fingerprint(conn, warehouse, relation, cols), rules_fp)
        res.fingerprint = check["fingerprint"] or ""
        if (last is not None and check["fingerprint"] is not None and last.fingerprint == check["fingerprint"]
                and (copied is None or copied == last.result.get("rows_checked"))):
            return _carry_over(res, last, check, warehouse, relation, cols, groups, rejects_rel, run_id, mt.name,
                               settings, failed, finish)
    # Row count and which disclosure categories the view carries: one aggregate over the view.
    probes = ["count(*)"] + [f"max(case when {' or '.join(is_set(ident(c)) for c in gcols)} then 1 else 0 end)"
                             for gcols in groups.values()]
    if copied is not None and not groups:  # the copy's own count says it all (one statement less a view)
        first: Any = (copied,)
    else:
        first = conn.execute(sa.text(warehouse.ops.compile_portable(
            f"select {', '.join(probes)} from {relation}"))).one()
    res.rows_checked = int(first[0] or 0)
    present = [cat for cat, flag in zip(groups, first[1:]) if flag]
    mixed = len(present) >= 2
    split = mixed and settings.split_disclosure
    # In split mode rows of both categories are sent (one job per category), so disclosure_mixed rejects none;
    # but a row carrying both cannot go whole into either file, and in both it would be two records (two
    # contributions): it is rejected whatever the rule's class, and no innocent row shares its fate.
    if split:
        rules = [replace(r, severity=REJECT) if r.rule == "disclosure_row_both" else r for r in rules]
    active = [r for r in rules if not (r.rule == "disclosure_mixed" and split)]
    disclosure_rows = " or ".join(is_set(ident(c)) for gcols in groups.values() for c in gcols) if mixed else None
    res.gx_batch = batch or batch_relation(warehouse, schema, mt.staging_view)
    found = write_findings(conn, warehouse, schema, run_id, mt.name, relation, active, checked_at,
                           batch=res.gx_batch, keep_also=disclosure_rows, cleared=True)
    held = _hold_absent_columns(conn, warehouse, rejects_rel, run_id, mt.name, relation, absent, checked_at)
    counts = dict(zip(active, found.counts))
    for r in rules:
        n = counts.get(r) if r in counts else None
        sev = severity_of(r)
        res.outcomes.append(RuleOutcome(r.rule, r.column, r.level, n, key=r.key, in_suite=r.in_suite, severity=sev,
                                        evidence_class=getattr(r, "evidence_class", "")))
        if n:
            (failed if sev == REJECT else warned).add(r.rule)
    res.rules_warned = sorted(warned)
    res.rows_warned = found.rows_warned
    passing = passing_rows_sql(warehouse, relation, cols, rejects_rel, run_id, mt.name)
    if held:
        failed.add(ABSENT_FIELD_RULE)
    if not held and any(r.rule == "row_key" and severity_of(r) == REJECT for r in active):
        # A blank, padded or duplicated key is a row_key reject: the rows with a reject are exactly the
        # rows the passing SELECT leaves out, so no second scan is needed to count them.
        res.rows_rejected = found.rows_rejected
    else:
        res.rows_rejected = res.rows_checked - int(_scalar(conn, f"select count(*) from ({passing}) p"))
    res.passing_count = res.rows_checked - res.rows_rejected  # of the copy: the plan need not count again
    if settings.preflight_policy == "block" and res.rows_rejected:
        res.block_reasons.append(f"policy 'block': {res.rows_rejected} row(s) rejected")
        res.block_details.append(("policy_block", None, res.block_reasons[-1]))
    res.passing_rows_sql = passing
    if check is not None:  # what a record of this check needs (connector/preflight/reuse.py)
        written = [(n, severity_of(r)) for r, n in counts.items()]
        check.update(present=present, reject_rows=sum(n for n, sev in written if sev == REJECT) + held,
                     warning_rows=sum(n for n, sev in written if sev != REJECT))
    # Columns blank in every row to send are left out of the file when the account lacks them, and a
    # disclosure category no row to send carries is left out too: VAN fails a file mapping both categories.
    optional = [c for c, _ in absent] + ([c for gcols in groups.values() for c in gcols] if len(groups) >= 2 else [])
    left_out = _blank_in_every_row(conn, warehouse, passing, optional)
    left_out = [c for c in left_out if c in {a for a, _ in absent}] + _unused_categories(groups, left_out)
    if left_out:
        res.columns_left_out = left_out
        lacking = [c for c in left_out if c in {a for a, _ in absent}]
        unused = [c for c in left_out if c not in lacking]
        if lacking:  # said once per mapping type, every column named
            res.notes.append(f"{mt.name}: {len(lacking)} column(s) the account has no field for left out of the "
                             f"file (blank in every row to send): {', '.join(lacking)}")
        if unused:  # routine for every Contributions file: logged, not a run note
            log.info("%s: disclosure column(s) of a category no row to send carries left out of the file (VAN takes "
                     "one category per file): %s", mt.name, ", ".join(unused))
    _shape_files(res, warehouse, cols, groups, present, split, left_out, passing)
    finish()
    return "checked"


def _carry_over(res: MappingTypeResult, last: reuse_checks.PreviousCheck, check: dict[str, Any], warehouse: Warehouse,
                relation: str, cols: list[str], groups: dict[str, list[str]], rejects_rel: str, run_id: str,
                mapping_type: str, settings, failed: set[str], finish: Callable[[], None]) -> str:
    """``res`` from the view's last recorded check (same rows, same rules): its counts, outcomes and GX verdict;
    the file's shape rebuilt for this run's tables. Its findings are copied to this run by the caller."""
    reuse_checks.restore(res, last.result)
    res.carried_from, res.checked_in = last.run_id, str(last.result.get("checked_in") or last.run_id)
    present = list(last.result["present"])
    check.update(present=present, reject_rows=int(last.result["reject_rows"]),
                 warning_rows=int(last.result["warning_rows"]), page=last.result.get("page"),
                 checked_in=last.result.get("checked_in", last.run_id))
    res.passing_rows_sql = passing_rows_sql(warehouse, relation, cols, rejects_rel, run_id, mapping_type)
    failed.update(res.rules_failed)
    split = len(present) >= 2 and settings.split_disclosure
    _shape_files(res, warehouse, cols, groups, present, split, list(res.columns_left_out), res.passing_rows_sql)
    finish()
    return "reused"


def _shape_files(res: MappingTypeResult, warehouse: Warehouse, cols: list[str], groups: dict[str, list[str]],
                 present: list[str], split: bool, left_out: list[str], passing: str) -> None:
    """The files' column groups and their SELECTs: one per disclosure category when split, less the columns left
    out."""
    if split:
        in_groups = {c for cat in present for c in groups[cat]}
        for i, cat in enumerate(present):
            gcols = [c for c in cols if c not in in_groups or c in groups[cat]]
            cond = "(" + " or ".join(is_set("p." + ident(c)) for c in groups[cat]) + ")"
            if i == 0:  # rows without any disclosure value travel with the first group
                cond = f"({cond} or not (" + " or ".join(is_set("p." + ident(c)) for c in in_groups) + "))"
            else:  # every row in one file only, even one the rule above did not reject
                earlier = [c for prev in present[:i] for c in groups[prev]]
                cond = f"({cond} and not (" + " or ".join(is_set("p." + ident(c)) for c in earlier) + "))"
            res.split.append(gcols)
            res.split_categories.append(cat)
            outer = warehouse.ops.compile_portable(  # the passing rows' SQL is compiled already
                f"select {', '.join('p.' + ident(c) for c in gcols)} from {_PASSING} p where {cond}")
            res.split_rows_sql.append(outer.replace(_PASSING, f"({passing})"))
    if left_out:
        groups_now = res.split or [cols]
        res.split = [[c for c in g if c not in left_out] for g in groups_now]
        sqls = res.split_rows_sql or [passing]
        res.split_rows_sql = [warehouse.ops.compile_portable(
            f"select {', '.join('p.' + ident(c) for c in g)} from {_PASSING} p").replace(_PASSING, f"({q})")
            for g, q in zip(res.split, sqls)]


ABSENT_FIELD = "unknown_field"  # connector.live_metadata.view_drift: a view column the account has no field for
ABSENT_FIELD_RULE = "field_not_in_account"


def _hold_absent_columns(conn: Connection, warehouse: Warehouse, rejects_rel: str, run_id: str, mapping_type: str,
                         relation: str, absent: list[tuple[str, str]], checked_at: datetime) -> int:
    """Reject (class van-stated: the account's metadata) every row with a value in a column the account lacks;
    returns how many rows were held back."""
    for column, reason in absent:
        c = ident(column)
        text = (f"column {column} holds a value but the account has no field {column}; the row is held back "
                f"(the rest of the type is sent) (rule {ABSENT_FIELD_RULE}, class van-stated)")
        conn.execute(sa.text(warehouse.ops.compile_portable(  # the portable vocabulary (substr, ||, coalesce)
            f"insert into {rejects_rel} (run_id, mapping_type, source_row_key, rule, column_name, value, message, "
            f"checked_at) select :r, :m, v.source_row_key, :rule, :col, substr({c}, 1, 80), "
            f"'row ' || coalesce('''' || v.source_row_key || '''', '(blank key)') || ': ' || :text, :ts "
            f"from {relation} v where {is_set('v.' + c)} and not exists (select 1 from {rejects_rel} x "
            f"where x.run_id = :r and x.mapping_type = :m and x.source_row_key = v.source_row_key)")),
            {"r": run_id, "m": mapping_type, "rule": ABSENT_FIELD_RULE, "col": column, "text": text, "ts": checked_at})
    if not absent:
        return 0
    return int(_scalar(conn, f"select count(*) from {rejects_rel} where run_id = :r and mapping_type = :m "
                             f"and rule = :rule", {"r": run_id, "m": mapping_type, "rule": ABSENT_FIELD_RULE}))


def _blank_in_every_row(conn: Connection, warehouse: Warehouse, passing: str, columns: list[str]) -> list[str]:
    """Those of ``columns`` that no row of ``passing`` sets (one aggregate over the rows to send)."""
    if not columns:
        return []
    flags = ", ".join(f"max(case when {is_set('p.' + ident(c))} then 1 else 0 end)" for c in columns)
    outer = warehouse.ops.compile_portable(f"select {flags} from {_PASSING} p")  # passing is compiled already
    row = conn.execute(sa.text(outer.replace(_PASSING, f"({passing})"))).one()
    return [c for c, flag in zip(columns, row) if not flag]


def _unused_categories(groups: dict[str, list[str]], blank: list[str]) -> list[str]:
    """Disclosure columns of categories whose every column is blank in the rows to send (when the view has two or
    more categories): left out so the file maps one category only."""
    if len(groups) < 2:
        return []
    return [c for gcols in groups.values() if all(c in blank for c in gcols) for c in gcols]


def _merge_gx(res: MappingTypeResult, outs, settings) -> None:
    """Attach GX's verdict to each rule and check it agrees with the rejects written by SQL."""
    by_key = {o.key: o for o in outs}
    for oc in res.outcomes:
        o = by_key.get(oc.key)
        if o is None:
            continue  # run-dependent rule (static values): SQL only
        oc.gx_success = o.success
        oc.gx_unexpected = o.observed if isinstance(o.observed, int) else None
        if oc.rows is None:
            continue  # not run in SQL (disclosure_mixed when the view is split): GX reports it, nothing rejected
        if o.exception or oc.gx_unexpected != oc.rows:
            # Same SQL on both sides, so this means a bug or a concurrent change of the data: do not send.
            msg = (f"GX and the rejects table disagree on {oc.key} "
                   f"(GX {o.exception or oc.gx_unexpected}, SQL {oc.rows}); not sending")
            log.error(msg)
            res.block_reasons.append(msg)
            res.block_details.append(("gx_disagreement", None, msg))
            res.blocked = True
            res.passing_rows_sql = f"select v.* from {res.relation} v where 1 = 0"
            res.split_rows_sql = []
            res.passing_count = 0
    for o in outs:
        if o.level == "file" and o.column == "*" and not o.success and o.rule not in res.rules_failed:
            res.rules_failed = sorted({*res.rules_failed, o.rule})
