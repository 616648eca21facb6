"""The run, one step per module:

    warehouse -> dbt build -> pre-flight -> plan -> export -> host -> submit -> poll -> reconcile -> ledger
                 (dbt_runner)  (preflight)  (plan)  (submit: export + host + POST)  (reconcile)   (ledger)

``run(settings, ...)`` is the scheduled job: incremental by default (only new, changed and retryable rows
are sent; docs/sync.md), ``full_refresh`` resends unchanged upsert rows. ``retry_failed`` is the same run
planned over the rows whose last outcome can be retried. ``execute`` owns the run's bookkeeping once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from connector.events import Events
from connector.ledger import AMBIGUOUS_JOB_STATES, COLLECTABLE_JOB_STATES, JobState, RunStatus, new_id
from connector.redaction import redact
from connector.run.plan import PlanOptions, SendPlan, plan_run
from connector.run.progress import SubmitProgress, accepts, dbt_progress, run_preflight_stage
from connector.run.reconcile import collect, load_job_results
from connector.run.runtime import Echo, Runtime, runtime
from connector.run.selection import resolve_mapping_types, resolve_static_values
from connector.run.snapshot import publish_status
from connector.run.submit import send, submit_chunk
from connector.run.summary import MappingSummary, RunSummary

logger = logging.getLogger(__name__)

__all__ = ["MappingSummary", "PlanOptions", "RunSummary", "Runtime", "SendPlan", "collect", "load_job_results",
           "resolve_mapping_types", "resolve_static_values", "retry_failed", "run", "runtime", "submit_chunk"]


def run(settings, select: Sequence[str] | None = None, *, dry_run: bool = False, resume: bool = False,
        force: bool = False, wait: bool = True, vars: Mapping[str, Any] | str | None = None,
        skip_dbt: bool = False, echo: Echo | None = None, preflight: Callable | None = None,
        static_values: Mapping[str, Mapping[str, Any]] | None = None, full_refresh: bool = False,
        duplicate_append: bool = False, rebuild: bool = False, recheck: bool = False,
        **runtime_kwargs: Any) -> RunSummary:
    """The whole scheduled job. Returns a summary accounting for every row (plan categories + outcomes).
    ``rebuild``: run dbt build even when the same build already stands (connector/dbt_state.py).
    ``recheck``: check every view's rows and plan every mapping type, even those whose last check or plan would be
    carried over (preflight/reuse.py, ledger/plan_reuse.py)."""
    if duplicate_append and not full_refresh:
        from connector.errors import ConfigError

        raise ConfigError("--duplicate-append-types only makes sense with --full-refresh")
    opts = PlanOptions(full_refresh=full_refresh, duplicate_append=duplicate_append, reuse=not recheck)
    args = {"resume": resume, "force": force, "wait": wait, "vars": vars, "full_refresh": full_refresh,
            "duplicate_append": duplicate_append, "rebuild": rebuild, "recheck": recheck}
    return execute(settings, "run", select, opts, dry_run=dry_run, resume=resume, force=force, wait=wait,
                   vars=vars, skip_dbt=skip_dbt, echo=echo, preflight=preflight, static_values=static_values,
                   args=args, **runtime_kwargs)


def retry_failed(settings, run_id: str | None = None, *, select: Sequence[str] | None = None, wait: bool = True,
                 force: bool = False, echo: Echo | None = None, preflight: Callable | None = None,
                 **runtime_kwargs: Any) -> RunSummary:
    """Send again the rows whose last outcome is failed / not_in_results / refused (also those past
    ``max_row_tries``), read fresh from the staging views and checked again; ``run_id`` limits it to rows
    with a result in that run. No dbt build."""
    if run_id is not None:
        import re

        from connector.errors import ConnectorError

        if not re.fullmatch(r"[0-9a-f]{32}", run_id):
            raise ConnectorError(f"not a run id: {run_id!r}")
    opts = PlanOptions(retry_only=True, retry_of_run_id=run_id)
    return execute(settings, "retry-failed", select, opts, dry_run=False, resume=False, force=force, wait=wait,
                   vars=None, skip_dbt=True, echo=echo, preflight=preflight, static_values=None,
                   args={"retry_of": run_id}, **runtime_kwargs)


def execute(settings, command: str, select, opts: PlanOptions, *, dry_run, resume, force, wait, vars, skip_dbt,
            echo, preflight, static_values, args, **runtime_kwargs) -> RunSummary:
    from connector.catalog import load_catalog
    from connector.logging_setup import run_log

    resolve_mapping_types(load_catalog(), select, settings.database_mode)  # a wrong -s fails before anything starts
    if not skip_dbt and not (Path(settings.dbt_project_dir) / "dbt_project.yml").exists():
        from connector.errors import ConfigError

        raise ConfigError(f"no dbt project at {settings.dbt_project_dir}: run vanbulk inside a dbt project (a "
                          "directory holding dbt_project.yml, or vanbulk.yml and dbt_project/), or pass --project-dir; "
                          "nothing was written")
    from connector.config import prepare_state_dir

    files = prepare_state_dir(settings)
    run_id = new_id()
    events = Events(echo)
    with run_log(settings.state_dir, run_id) as log_path:
        events.emit("run_started", f"{command} {run_id}: log in {_shown(log_path)}", run_id=run_id,
                    command=command, log=str(log_path), selector=list(select or []), args=args)
        events.emit("state_files", files)
        try:
            return _execute(settings, command, select, opts, run_id, log_path, dry_run=dry_run, resume=resume,
                            force=force, wait=wait, vars=vars, skip_dbt=skip_dbt, echo=echo, preflight=preflight,
                            static_values=static_values, args=args, **runtime_kwargs)
        except BaseException as exc:
            logger.debug("%s %s stopped: %s", command, run_id, redact(exc), exc_info=True)
            raise


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _execute(settings, command, select, opts, run_id, log_path, *, dry_run, resume, force, wait, vars, skip_dbt,
             echo, preflight, static_values, args, **runtime_kwargs) -> RunSummary:
    with runtime(settings, echo=echo, need_host=not dry_run, run_id=run_id, **runtime_kwargs) as rt:
        s = rt.settings
        summary = RunSummary(run_id, command=command, simulated=s.simulated, dry_run=dry_run,
                             warehouse=rt.warehouse.redacted_url(), duckdb_path=rt.warehouse.duckdb_path,
                             schema=rt.ledger.schema, log_path=str(log_path))
        summary.messages += rt.ledger.notes
        rt.ledger.start_run(run_id, command, selector=" ".join(select or []) or opts.retry_of_run_id,
                            target=s.target, dry_run=dry_run, simulated=s.simulated, args=args)
        # `vanbulk status` in another terminal reads this while the run holds the lock (run/snapshot.py)
        with publish_status(rt, run_id, command) as snapshot:
            try:
                _steps(rt, summary, select, opts, dry_run=dry_run, resume=resume, force=force, wait=wait, vars=vars,
                       skip_dbt=skip_dbt, preflight=preflight, static_values=static_values or {},
                       rebuild=bool(args.get("rebuild")), recheck=bool(args.get("recheck")))
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    try:
                        _serve_after_interrupt(rt, run_id)
                    except Exception:  # noqa: BLE001 - the interrupt is what the user sees, not a cleanup problem
                        logger.debug("serving files after the interrupt failed", exc_info=True)
                summary.status = RunStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else RunStatus.ERROR
                summary.messages.append(f"error: {redact(exc)}")
                rt.ledger.finish_run(run_id, summary.status, summary.to_dict())
                snapshot.finish(summary.status)
                raise
            rt.ledger.finish_run(run_id, summary.status, summary.to_dict())
            snapshot.finish(summary.status)
        logger.debug("summary:\n%s", summary.render())  # the log file holds the whole story
        return summary


def _collect_earlier(rt, summary, *, resume: bool) -> None:
    """Jobs of earlier runs VAN has or finished: one look each (``--resume``: wait for them), so the plan
    sees their rows' outcomes; rows of jobs still open are `in_flight` and not sent again."""
    earlier = rt.ledger.collectable()
    if not earlier:
        return
    rt.events.emit("earlier_jobs", f"{'resuming' if resume else 'checking'} {len(earlier)} job(s) from earlier runs",
                   jobs=len(earlier), resume=resume)
    left = collect(rt, earlier, timeout=None if resume else 0.0, problems=summary.messages)
    done = [j["job_key"] for j in earlier if j["job_key"] not in {x["job_key"] for x in left}]
    collected = rt.ledger.outcome_counts_for_jobs(done)
    for name, counts in collected.items():
        summary.mt(name).collected = counts
    if collected:
        summary.messages.append(f"collected {len(done)} job(s) of earlier runs: " + "; ".join(
            f"{name} " + ", ".join(f"{st} {n}" for st, n in sorted(c.items())) for name, c in sorted(collected.items())))
    if left:
        summary.messages.append(f"{len(left)} job(s) from earlier runs still running at VAN: their rows are "
                                "not sent again; `vanbulk status` or the next run collects them")


def _dbt_stage(rt: Runtime, run_id: str, dbt_select, vars, *, rebuild: bool) -> None:
    """``dbt build`` of the staging views, left out when the same build already stands (connector/dbt_state.py)."""
    from connector import dbt_runner, dbt_state

    s, events = rt.settings, rt.events
    what = " ".join(dbt_select) if dbt_select else "all staging views"
    # the fingerprint of the build but its selection; a build of another selection from it leaves this one standing
    every, project_dir, _, env = dbt_runner.command(s, dbt_runner.build_args(None), vars)
    base = dbt_state.fingerprint(every, project_dir, Path(s.profiles_dir).resolve(), env)
    fp = None if base is None else dbt_state.with_selection(base, dbt_select)
    last = None if rebuild or fp is None else dbt_state.standing_build(rt.ledger.recent_dbt_builds(), base, fp)
    if last and all(rt.warehouse.relation_exists(name, schema) for _, schema, name in last["views"]):
        events.emit("dbt_skipped", f"dbt build: left out, the project and its settings are unchanged since the last "
                    f"build and its {len(last['views'])} view(s) stand (`--rebuild` builds anyway)",
                    select=dbt_select, views=len(last["views"]))
        return
    if fp is not None:  # a build that stops half-way leaves views of unknown SQL: the next run must build
        rt.ledger.record_dbt_build(run_id, {"fingerprint": fp, "base": base, "views": None,
                                            "why_built_every_run": "unfinished"})
    with events.stage("dbt", "dbt build", detail=f"{what}: parsing the project") as st, \
            rt.warehouse.released():  # dbt opens the file
        result = dbt_runner.build(s, select=dbt_select or None, vars=vars, on_event=dbt_progress(st))
    nodes = len(result.results)
    events.emit("dbt_done", f"dbt build: {nodes} node(s) OK in {result.seconds:.1f}s"
                + (f", {len(result.warned_nodes)} warned" if result.warned_nodes else ""),
                select=dbt_select, nodes=nodes, seconds=round(result.seconds, 1), warned=result.warned_nodes)
    if fp is not None:
        manifest = dbt_state.read_manifest(project_dir, env)
        views, why = dbt_state.standing_views(manifest or {}, [r.get("unique_id") for r in result.results])
        rt.ledger.record_dbt_build(run_id, {"fingerprint": fp, "base": base, "views": views,
                                            "why_built_every_run": why or None})


def _steps(rt: Runtime, summary: RunSummary, select, opts: PlanOptions, *, dry_run, resume, force, wait, vars,
           skip_dbt, preflight, static_values, rebuild=False, recheck=False) -> None:
    s, events = rt.settings, rt.events
    # A dry run asks VAN what the real run asks (reachable, permissions, live metadata) and sees the outcomes
    # of earlier jobs VAN finished, so its plan is the next real run's plan; it only submits nothing.
    resources = rt.client.check_reachable()  # before dbt: a wrong URL or key fails in seconds
    _collect_earlier(rt, summary, resume=resume)
    names, dbt_select = resolve_mapping_types(rt.catalog, select, s.database_mode)
    if select:
        summary.selected = list(names)
    if opts.retry_only and not select:
        retryable = set(rt.ledger.retryable_mapping_types(opts.retry_of_run_id))
        names = [n for n in names if n in retryable]
        if not names:
            summary.status = RunStatus.SUCCESS
            summary.messages.append("no rows to retry" + (f" from run {opts.retry_of_run_id}"
                                                          if opts.retry_of_run_id else ""))
            return
    if not skip_dbt:
        # GX takes ~4 s to import: done while dbt works (runner first: it sets GX's environment)
        from connector import background_import

        background_import.start("connector.preflight.runner", "great_expectations",
                                "connector.preflight.gx_expectations")
        _dbt_stage(rt, summary.run_id, dbt_select, vars, rebuild=rebuild)
    if rt.simulator is not None:
        from connector.demo_world import seed_simulator

        n_contacts, n_records = seed_simulator(rt.warehouse, rt.simulator)
        if n_contacts or n_records:
            events.emit("simulator_seeded", f"simulator: loaded the demo's existing VAN records ({n_contacts} "
                        f"contacts, {n_records} contributions)", contacts=n_contacts, records=n_records)
    names = [n for n in names if rt.warehouse.relation_exists(rt.catalog.get(n).staging_view, s.staging_schema)]
    if not names:
        summary.status = RunStatus.DRY_RUN if dry_run else RunStatus.SUCCESS
        summary.messages.append("no staging views to send")
        return
    available = [m.get("name") for m in rt.client.list_mapping_types() if isinstance(m, Mapping)]
    if preflight is None:
        from connector.preflight import run_preflight as preflight

    # The account's own metadata wins over the packaged catalogue (fields, parents, values), and a view it
    # cannot take is blocked here, before anything is hosted or POSTed.
    from connector.live_metadata import live_catalog

    listed = {n.lower() for n in available or ()}
    live = live_catalog(rt, [n for n in names if n.lower() in listed])
    rt.catalog = live.catalog
    events.emit("live_metadata", live.summary(), fetched=live.fetched, cached=live.cached,
                unavailable=live.unavailable, blocked=sorted(n for n, b in live.blocks.items() if b))
    statics = resolve_static_values(rt.catalog, s.static_values, static_values)
    report = None
    try:
        # a dry run's Data Docs and pre-flight tables are its own (marked), never the last real run's
        marks = {"dry_run": True} if dry_run and accepts(preflight, "dry_run") else {}
        if accepts(preflight, "record") and s.preflight_reuse and not dry_run:
            # a view unchanged since its last check has that check carried over; --recheck checks, and records
            marks.update(reuse=not recheck, record=True)
        report = run_preflight_stage(events, preflight, rt.warehouse, rt.catalog, names, summary.run_id, s,
                                     available_mapping_types=set(available), static_values=statics,
                                     metadata_blocks=live.blocks, **marks)
        submitted = _plan_and_export(rt, summary, names, report, statics, opts, resources, dry_run=dry_run,
                                     force=force)
    finally:  # every file is written: the run's copy of the checked rows goes (also when stopped half-way)
        _release_checked(rt, summary.run_id, names, report)
    if dry_run:
        summary.status = RunStatus.DRY_RUN
        return
    _finish_sent(rt, summary, submitted, wait=wait)


def _release_checked(rt, run_id: str, names, report) -> None:
    """Drop this run's copies of the checked rows, and those a killed earlier run left behind."""
    from connector.ledger.schema import RUNS
    from connector.preflight.checked import checked_table, leftovers, release

    if report is not None:
        rels = list(getattr(report, "checked_relations", []))
    else:
        rels = [rt.warehouse.relation(checked_table(run_id, rt.catalog.get(n).staging_view), rt.ledger.schema)
                for n in names]
    try:
        rels += leftovers(rt.warehouse, rt.ledger.schema, rt.ledger.rel(RUNS), rt.ledger.tables_at_start)
    except Exception:  # noqa: BLE001 - a leftover costs space, never correctness; the next run tries again
        logger.debug("could not list leftover copies of checked rows", exc_info=True)
    release(rt.warehouse, list(dict.fromkeys(rels)))


def _plan_and_export(rt, summary, names, report, statics, opts: PlanOptions, resources, *, dry_run,
                     force) -> list[dict]:
    """Plan, export and (unless a dry run) submit; returns the jobs submitted."""
    s, events = rt.settings, rt.events
    summary.data_docs_path = str(report.data_docs_path or "") or None
    for note in (n for res in report.results.values() for n in getattr(res, "notes", ())):  # e.g. columns left out
        events.note(summary.messages, note, kind="preflight_note")
    plans = plan_run(rt, summary, names, report, statics, opts)
    submitted: list[dict] = []
    if plans:
        with events.stage("submit", "export" if dry_run else "export + submit", total=len(plans)) as st:
            tracker = SubmitProgress(events, st, dry_run)
            for plan in plans:
                submitted += send(rt, summary, plan, resources, dry_run=dry_run, force=force, progress=tracker)
                st.update(1)
        tracker.done(_shown(Path(s.state_dir) / "exports" / summary.run_id))
    return submitted


def _finish_sent(rt, summary, submitted: list[dict], *, wait: bool) -> None:
    """Wait for (or hand over) the jobs this run submitted, then account for every row."""
    s = rt.settings
    if not wait and submitted:
        _serve_until_fetched(rt, summary, submitted)
    if wait and submitted:
        left = collect(rt, submitted, problems=summary.messages)
        if left:
            summary.messages.append(f"{len(left)} job(s) still running after {s.poll_timeout_seconds:.0f}s; "
                                    "`vanbulk status` or the next run collects them")
    account(rt, summary)
    not_done = sum(m.failed + m.not_in_results + m.refused for m in summary.mapping_types.values())
    if not_done:
        summary.messages.append(
            f"{not_done} row(s) VAN failed, dropped or refused in this run: the next `vanbulk run` sends them "
            f"again (up to {s.max_row_tries} tries per version), or now: `vanbulk retry-failed --run {summary.run_id}`")
    summary.status = summary.completed_status()


def _serve_until_fetched(rt, summary: RunSummary, submitted: list[dict]) -> None:
    """Without waiting for the jobs, the run still stays until VAN has read each file from a host that stops
    with this process (the local one); object stores keep serving on their own."""
    keys = [j["hosted_key"] for j in submitted if j.get("hosted_key")]
    timeout = rt.settings.local_host_fetch_wait_seconds
    left = rt.host.wait_until_fetched(keys, timeout) if rt.host is not None and keys else []
    if left:
        summary.messages.append(
            f"{len(left)} file(s) not yet fetched by VAN after {timeout:.0f}s; the local file host stops with this "
            "run, so those jobs will fail to fetch them and their rows are sent again by the next run")


def _serve_after_interrupt(rt, run_id: str) -> None:
    """Interrupted after POSTing: VAN may not have read a job's file yet, and the local host stops with this
    process (that job would fail to fetch). Serve them a little longer; a second Ctrl-C stops at once."""
    if rt.host is None:
        return
    keys = [j["hosted_key"] for j in rt.ledger.jobs(run_id=run_id) if j.get("van_job_id") and j.get("hosted_key")]
    if not keys or not rt.host.wait_until_fetched(keys, 0):
        return
    rt.events.emit("serving_after_interrupt", f"interrupted: serving {len(keys)} submitted file(s) until VAN has "
                   f"fetched them (at most {INTERRUPT_FETCH_WAIT_SECONDS:.0f}s; Ctrl-C again to stop now)")
    try:
        left = rt.host.wait_until_fetched(keys, INTERRUPT_FETCH_WAIT_SECONDS)
    except KeyboardInterrupt:  # the second Ctrl-C: stop now, and say what that means
        left = rt.host.wait_until_fetched(keys, 0)
    if left:  # what really happens to them: the host stops with this process
        rt.events.emit("files_not_fetched", f"interrupted: VAN had not fetched {len(left)} of the submitted file(s) "
                       "when the local host stopped: those jobs will fail at VAN (file unavailable); `vanbulk run "
                       "--resume` collects them and sends their rows again", level=logging.WARNING, files=len(left))


INTERRUPT_FETCH_WAIT_SECONDS = 15.0


def account(rt, summary: RunSummary) -> None:
    """Outcomes of this run's jobs from the ledger: processed / failed / not_in_results / refused by row,
    pending / ambiguous by job state."""
    L = rt.ledger
    for r in L.outcome_counts_for_run(summary.run_id):
        ms = summary.mt(r["mapping_type"])
        if r["row_status"] in ("processed", "failed", "not_in_results", "refused"):
            setattr(ms, r["row_status"], getattr(ms, r["row_status"]) + int(r["n"]))
    jobs = L.jobs(run_id=summary.run_id)
    carried_by_job = L.carried_counts_of_run(summary.run_id) if jobs else {}  # (one statement, not one a job)
    for j in jobs:
        state = JobState(j["local_state"])
        carried = carried_by_job.get(j["job_key"], {})
        for name in str(j["mapping_types"]).split("+"):
            ms = summary.mt(name)
            n = carried.get(name, 0)
            if j["van_job_id"] is not None and int(j["van_job_id"]) not in ms.van_job_ids:
                ms.van_job_ids.append(int(j["van_job_id"]))
            if state in COLLECTABLE_JOB_STATES:
                ms.pending += n
            elif state in AMBIGUOUS_JOB_STATES:
                ms.ambiguous += n
