"""``vanbulk status [--watch] [--all]``: the ledger's jobs, and the run in progress if there is one.

Without a run in progress `status` takes the writer lock, polls the jobs VAN still has and loads finished
results (as always). While a run holds the lock it only reads (connector/run/observe.py): the ledger on
PostgreSQL and BigQuery, the run's published snapshot on DuckDB (whose file the run holds). ``--watch`` redraws
that every ``WATCH_EVERY`` seconds until the run ends, then shows the ledger once more; Ctrl-C leaves it (exit 0).
"""

from __future__ import annotations

import json
import sys
import time

import click

from connector.cli import log_format, main, output
from connector.cli.jobs import _fail, _interruptible, _settings, project_opt
from connector.errors import VanbulkError

WATCH_EVERY = 2.0  # seconds between two looks with --watch
DEFAULT_LIMIT = 20


def render_view(view, width: int) -> str:
    """The run in progress (if any), then the jobs table, then what was left out and how to see it."""
    from connector.ledger import AMBIGUOUS_JOB_STATES
    from connector.run.plan import resolve_hint
    from connector.text_table import render_table, wrap

    lines: list[str] = []
    run = view.running
    if run is not None:
        who = f"run {run['run_id']}" if run.get("run_id") else "a vanbulk command"
        where = f" (pid {run['pid']} on {run['host']}, started {run['started_at']} UTC)" if run.get("pid") else ""
        lines.append(wrap(f"{who} in progress{where}", width))
        stage = run.get("stage")
        if stage:
            count = f" {stage['done']}/{stage['total']}" if stage.get("total") is not None else ""
            lines.append(wrap(f"  now: {stage['label']}{count}" + (f" · {stage['detail']}" if stage.get("detail")
                                                                    else "") + f" ({stage['elapsed_s']:.0f}s)", width))
        if run.get("last_event"):
            lines.append(wrap(f"  last: {run['last_event']}", width))
        if view.source == "run snapshot" and run.get("updated_at"):
            lines.append(wrap(f"  (as the run published it at {run['updated_at']} UTC: DuckDB lets no other "
                              "process open the file while the run has it)", width))
    lines += [wrap(n, width) for n in view.notes]
    cols = ["VAN job", "mapping types", "VAN status", "local state", "rows", "processed", "failed",
            "not in results", "created (UTC)"]
    rows = [[j["van_job_id"] or "-", j["mapping_types"], j["van_status"] or "-", j["local_state"],
             j["row_count"] or 0, j["rows_processed"] or 0, j["rows_failed"] or 0, j["rows_not_in_results"] or 0,
             str(j["created_at"])[:19]] for j in view.jobs]
    if rows:
        lines.append(render_table(cols, rows, width=width, text_columns=(1,), left_columns=(2, 3, 8)))
    elif run is None or view.source != "run snapshot":
        lines.append("no jobs in the ledger yet")
    if view.left_out:
        lines.append(f"… and {view.left_out} more job(s): vanbulk status --all")
    for j in view.jobs:  # a POST that may have reached VAN: only the user can settle it, so say exactly how
        if j["local_state"] in AMBIGUOUS_JOB_STATES and not j["van_job_id"]:
            lines.append(wrap(f"job {j['job_key']} ({j['mapping_types']}, {j['local_state']}): its POST may have "
                              f"reached VAN; {resolve_hint(j['job_key'])}", width))
    return "\n".join(lines)


@main.command("status")
@click.option("--wait", is_flag=True, help="Keep polling until jobs in flight finish.")
@click.option("--watch", is_flag=True,
              help=f"While a run is in progress: show its stage and jobs every {WATCH_EVERY:.0f}s until it ends "
                   "(Ctrl-C leaves, exit 0).")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True, help="How many recent jobs to list.")
@click.option("--all", "all_jobs", is_flag=True, help="List every job.")
@click.option("--json", "as_json", is_flag=True)
@project_opt
def status_cmd(wait, watch, limit, all_jobs, as_json, project_dir):
    """Poll jobs in flight (from the ledger), load finished results, list recent jobs; during a run, show it
    (read-only)."""
    settings = _settings(project_dir)
    limit = None if all_jobs else limit
    if watch:
        _watch(settings, limit, as_json)
        return
    try:
        with _interruptible("`vanbulk status --wait` picks up from there"):
            view = _look(settings, wait, limit)
    except VanbulkError as exc:
        _fail(exc)
    _show(view, as_json)


def _look(settings, wait: bool, limit):
    from connector.api import status_view

    return status_view(settings, wait=wait, limit=limit)


def _show(view, as_json: bool) -> None:
    if log_format() == "json":
        output(f"{len(view.jobs)} job(s)" + (f", {view.left_out} more" if view.left_out else ""), "jobs",
               **view.to_dict())
    elif as_json:
        click.echo(json.dumps(view.to_dict(), default=str, indent=2))
    else:
        from connector.text_table import terminal_width

        click.echo(render_view(view, terminal_width()))


def _changes(view) -> str:
    """The view without its clocks: what a redraw is worth."""
    doc = view.to_dict()
    run = dict(doc["running"] or {})
    run.pop("updated_at", None)
    if run.get("stage"):
        run["stage"] = {k: v for k, v in run["stage"].items() if k != "elapsed_s"}
    return json.dumps({**doc, "running": run}, default=str, sort_keys=True)


def _watch(settings, limit, as_json: bool) -> None:
    """Read-only looks while a run is in progress; once none is, one ordinary `status` (which may poll)."""
    tty = sys.stdout.isatty() and not as_json and log_format() != "json"
    last = None
    try:
        while True:
            try:
                view = _look(settings, False, limit)
            except VanbulkError as exc:
                _fail(exc)
            if view.running is None:  # no run (any more): this look held the lock and is the ledger's truth
                if tty:
                    click.clear()
                _show(view, as_json)
                return
            shown = _changes(view)
            if shown != last:  # only when something but the clock changed
                if tty:
                    click.clear()
                _show(view, as_json)
                last = shown
            time.sleep(WATCH_EVERY)
    except KeyboardInterrupt:
        sys.exit(0)  # leaving the watch stops nothing: the run goes on

