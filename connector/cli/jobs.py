"""``vanbulk run | results | retry-failed | resolve | debug`` (``status``: cli/status.py; ``catalog refresh``: cli/catalog.py).

Flags follow dbt: ``-s/--select``, ``--target``, ``--profiles-dir``, ``--vars`` (YAML), ``--dry-run``;
each has a ``VANBULK_*`` environment twin. The run's events go to stderr, one line each (a live display on a
terminal, connector/progress.py); the summary to stdout. ``--log-format json``: every stdout line a JSON event.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

import click
import yaml

from connector.cli import log_format, main, output
from connector.config import load_settings
from connector.errors import ConfigError, VanbulkError


def _settings(project_dir, target=None, profiles_dir=None, require_project=True, **overrides):
    """Settings for a command that reads or writes a ledger: refused (exit 2, nothing written) outside a project
    unless the project or the warehouse is named (``--project-dir``, ``VANBULK_WAREHOUSE_URL``), so a stray `vanbulk
    status` creates no files."""
    try:
        settings = load_settings(project_dir, target=target, profiles_dir=profiles_dir, **overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from connector.dbt_profile import PROJECT_FILE, VANBULK_FILE

    root = settings.project_dir
    in_project = (root / VANBULK_FILE).is_file() or (root / PROJECT_FILE).is_file() or \
        (settings.dbt_project_dir / PROJECT_FILE).is_file()
    named = project_dir or os.environ.get("VANBULK_PROJECT_DIR") or os.environ.get("VANBULK_WAREHOUSE_URL")
    if require_project and not in_project and not named:
        raise click.UsageError(f"{root} is not inside a vanbulk or dbt project (no dbt_project.yml or vanbulk.yml "
                               "here or above): cd into one, pass --project-dir, or set VANBULK_WAREHOUSE_URL; "
                               "nothing was written")
    return settings


project_opt = click.option("--project-dir", envvar="VANBULK_PROJECT_DIR", type=click.Path(file_okay=False),
                           help="The dbt project (default: nearest dbt_project.yml or vanbulk.yml from here up).")
target_opt = click.option("-t", "--target", envvar="VANBULK_TARGET", help="dbt target (default: the profile's).")
profiles_opt = click.option("--profiles-dir", envvar="VANBULK_PROFILES_DIR", type=click.Path(file_okay=False),
                            help="Directory of profiles.yml (default as dbt's: DBT_PROFILES_DIR, the project, ~/.dbt).")


# Exit codes, as dbt's (docs/connector.md "Exit codes"):
EXIT_OK = 0  # the command completed; every row this run sent was processed (or is still at VAN)
EXIT_ROWS = 1  # completed, but rows VAN failed, dropped or refused, a POST was ambiguous (completed_with_failures),
#                a selected type could send nothing: blocked or every row rejected (blocked), or --fail-on-reject
EXIT_ERROR = 2  # could not complete: a user mistake (named in one line) or an error
EXIT_INTERRUPTED = 130  # SIGINT / SIGTERM


def _fail(exc: Exception) -> None:
    if log_format() == "json":
        output(f"error: {exc}", "error", level="error", exit_code=EXIT_ERROR)
    click.echo(f"error: {exc}", err=True)
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("debug"):
        import traceback

        from connector.redaction import redact

        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    sys.exit(EXIT_ERROR)


def _exit_code(summary, fail_on_reject: bool = False) -> int:
    from connector.ledger import RunStatus

    if summary.status in (RunStatus.COMPLETED_WITH_FAILURES, RunStatus.BLOCKED):
        return EXIT_ROWS
    if fail_on_reject and any(m.rejected or m.blocked for m in summary.mapping_types.values()):
        return EXIT_ROWS
    return EXIT_OK


@contextlib.contextmanager
def _interruptible(resume_hint: str):
    """SIGINT and SIGTERM stop the command between steps (the ledger keeps every submitted job and row
    claim); say how to pick up, exit 130 as shells expect."""
    def _term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        yield
    except KeyboardInterrupt:
        if log_format() == "json":
            output(f"interrupted: what was submitted is in the ledger; {resume_hint}", "interrupted",
                   level="error", exit_code=EXIT_INTERRUPTED)
        click.echo(f"interrupted: what was submitted is in the ledger; {resume_hint}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


@main.command("run")
@click.option("-s", "--select", "select", multiple=True, envvar="VANBULK_SELECT",
              help="Mapping types (API or display name, or staging view) or dbt selectors; repeatable.")
@target_opt
@profiles_opt
@click.option("--vars", "vars_", envvar="VANBULK_VARS", help="dbt vars as a YAML string.")
@click.option("--dry-run", is_flag=True, help="Build, validate, plan and export; store and print the plan; submit nothing.")
@click.option("--full-refresh", is_flag=True,
              help="Send every passing row of upsert types again, not only new and changed ones.")
@click.option("--duplicate-append-types", "duplicate_append", is_flag=True,
              help="With --full-refresh: append types too (Contributions, canvass results...): DUPLICATES records.")
@click.option("--resume", is_flag=True, help="First wait for jobs still in flight from earlier runs.")
@click.option("--force", is_flag=True,
              help="Submit a chunk even if identical content already has a job (rows are still never sent "
                   "while a job holds them).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Poll jobs to the end and load results.")
@click.option("--skip-dbt", is_flag=True, help="Use the staging views as they are (no dbt build).")
@click.option("--rebuild", is_flag=True,
              help="Run dbt build even when the project and settings are unchanged since the last build (which is "
                   "otherwise left out when it made only views: docs/dbt.md).")
@click.option("--recheck", is_flag=True,
              help="Check every view's rows and diff every plan again, even where rows, rules and sync state are "
                   "unchanged since the last check or plan (otherwise carried over: docs/preflight.md, docs/sync.md).")
@click.option("--static", "statics", multiple=True, metavar="MAPPINGTYPE.FIELD=VALUE",
              help="Static value for a field that cannot come from a column (e.g. "
                   "ApplyContactCustomFields.CustomFieldGroupID=501); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--fail-on-reject", is_flag=True, help="Exit 1 when pre-flight rejected or blocked any row.")
@project_opt
def run_cmd(select, target, profiles_dir, vars_, dry_run, full_refresh, duplicate_append, resume, force, wait,
            skip_dbt, rebuild, recheck, statics, as_json, fail_on_reject, project_dir):
    """dbt build -> pre-flight -> plan -> export -> host -> submit -> poll -> reconcile -> ledger.

    Incremental: only new, changed and retryable rows are sent (docs/sync.md)."""
    from connector.run import run

    if skip_dbt and rebuild:
        raise click.UsageError("--skip-dbt never builds and --rebuild always does: pass one of them")
    settings = _settings(project_dir, target, profiles_dir, require_project=False)  # run says it its own way
    try:
        parsed_vars = yaml.safe_load(vars_) if vars_ else None
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not valid YAML ({str(exc).splitlines()[0]})", param_hint="--vars") from None
    static_values: dict = {}
    for item in statics:
        target_field, sep, value = item.partition("=")
        mt_name, dot, field_name = target_field.partition(".")
        if not (sep and dot and mt_name and field_name):
            raise click.BadParameter(f"{item!r}: expected MAPPINGTYPE.FIELD=VALUE", param_hint="--static")
        static_values.setdefault(mt_name, {})[field_name] = value
    try:
        with _interruptible("`vanbulk run --resume` collects its jobs and sends the rest"):
            summary = run(settings, list(select) or None, dry_run=dry_run, resume=resume, force=force, wait=wait,
                          vars=parsed_vars, skip_dbt=skip_dbt, static_values=static_values,
                          full_refresh=full_refresh, duplicate_append=duplicate_append, rebuild=rebuild,
                          recheck=recheck)
    except VanbulkError as exc:
        _fail(exc)
    except Exception as exc:  # dbt / GX / warehouse errors: message only, the log has the rest
        from connector.redaction import redact

        err = RuntimeError(redact(exc))
        err.__traceback__ = exc.__traceback__
        _fail(err)
    code = _exit_code(summary, fail_on_reject)
    _print_summary(summary, as_json, code)
    sys.exit(code)


def _print_summary(summary, as_json: bool, code: int) -> None:
    """The summary on stdout: text, or (``--json``) one JSON document, or (``--log-format json``) the last
    JSON event."""
    if log_format() == "json":
        output(f"{summary.command} {summary.run_id}: {summary.status}", "run_summary", exit_code=code,
               **summary.to_dict())
    else:
        from connector.text_table import terminal_width

        click.echo(json.dumps(summary.to_dict(), default=str, indent=2) if as_json else summary.render(terminal_width()))


@main.command("results")
@click.argument("job_id", type=int)
@project_opt
def results_cmd(job_id, project_dir):
    """(Re)fetch the result files of VAN job JOB_ID and reload its rows."""
    from connector.api import results

    try:
        job = results(_settings(project_dir), job_id)
    except VanbulkError as exc:
        _fail(exc)
    output(f"job {job_id}: {job['van_status']}; processed {job['rows_processed']}, failed {job['rows_failed']}, "
           f"not in results {job['rows_not_in_results']}; raw files: {job['result_files_json']}", "job", job=job)


@main.command("retry-failed")
@click.option("--run", "run_id", help="Only rows with a result in this run (default: every retryable row).")
@click.option("-s", "--select", "select", multiple=True, help="Mapping types (default: all).")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--force", is_flag=True, help="Resubmit even if an identical file already has a job.")
@project_opt
def retry_failed_cmd(run_id, select, wait, force, project_dir):
    """Send again the rows whose last outcome is failed, not_in_results or refused (a plan over `retry`)."""
    from connector.run import retry_failed

    try:
        with _interruptible("`vanbulk status --wait` collects its jobs"):
            summary = retry_failed(_settings(project_dir), run_id, select=list(select) or None, wait=wait,
                                   force=force)
    except VanbulkError as exc:
        _fail(exc)
    code = _exit_code(summary)
    _print_summary(summary, False, code)
    sys.exit(code)


@main.command("resolve")
@click.argument("job_key")
@click.option("--not-at-van", is_flag=True, help="VAN has no job whose description carries JOB_KEY.")
@click.option("--van-job-id", type=int, help="The VAN job whose description carries JOB_KEY.")
@project_opt
def resolve_cmd(job_key, not_at_van, van_job_id, project_dir):
    """Settle an ambiguous submission (job state submitting/ambiguous) after checking VAN's UI."""
    from connector.api import resolve

    try:
        job = resolve(_settings(project_dir), job_key, not_at_van=not_at_van, van_job_id=van_job_id)
    except VanbulkError as exc:
        _fail(exc)
    output(f"job {job_key}: {job['local_state']}", "job", job=job)


@main.command("debug")
@project_opt
def debug_cmd(project_dir):
    """Check the key, database mode, permissions, storage and warehouse."""
    from connector.api import debug

    checks = debug(_settings(project_dir))
    for c in checks:
        output(f"{'OK ' if c.ok else 'FAIL'} {c.name:<12} {c.detail}", "check", name=c.name, ok=c.ok, detail=c.detail)
    if not all(c.ok for c in checks):
        sys.exit(1)
