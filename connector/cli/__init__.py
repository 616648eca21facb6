"""``vanbulk``: the command line. One module per command group; this file only wires them together."""

from __future__ import annotations

import json
import sys

import click

LOG_FORMATS = ("text", "json")


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    from connector.logging_setup import configure

    configure(level=level, log_format=log_format)


def log_format() -> str:
    ctx = click.get_current_context(silent=True)
    return ((ctx.find_root().obj or {}) if ctx is not None else {}).get("log_format", "text")


def output(msg: str, kind: str = "result", level: str = "info", err: bool = False, **data) -> None:
    """A command's result: ``msg`` as text (stdout, or stderr with ``err``), or with ``--log-format json``
    one JSON event on stdout carrying ``data``."""
    if log_format() != "json":
        click.echo(msg, err=err)
        return
    from datetime import datetime, timezone

    from connector.logging_setup import INVOCATION_ID
    from connector.redaction import redact

    payload = {"ts": datetime.now(timezone.utc).isoformat(), "invocation_id": INVOCATION_ID,
               "run_id": data.get("run_id"), "level": level, "event": kind, "msg": redact(msg)}
    if data:
        payload["data"] = json.loads(redact(json.dumps(data, default=str)))
    click.echo(json.dumps(payload))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", envvar="VANBULK_LOG_LEVEL", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              help="What the terminal shows (DEBUG: every module's records too). The run's log file, "
                   "<state_dir>/logs/<run_id>.log, always has DEBUG.")
@click.option("--log-format", envvar="VANBULK_LOG_FORMAT", default="text", show_default=True,
              type=click.Choice(LOG_FORMATS),
              help="text: lines (a live display on a terminal); json: every stdout line one JSON event, "
                   "the result last.")
@click.option("--debug", is_flag=True, envvar="VANBULK_DEBUG",
              help="On an error, print the full traceback after the one-line message.")
@click.version_option(package_name="vanbulk")
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str, debug: bool) -> None:
    """Warehouse -> NGP VAN / EveryAction Bulk Import, with pre-flight checks and per-row results."""
    setup_logging(log_level.upper(), log_format)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["log_format"] = log_format


def _register() -> None:
    # Command modules register themselves on `main` when imported.
    from connector.cli import simulator  # noqa: F401
    from connector.cli import jobs, catalog, status  # noqa: F401  (connector runtime commands)
    from connector.cli import validate  # noqa: F401  (pre-flight checks)


_register()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
