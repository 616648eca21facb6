"""``vanbulk``: the command line. One module per command group; this file only wires them together."""

from __future__ import annotations

import logging
import sys

import click

from connector.redaction import RedactingFilter

LOG_FORMATS = ("text", "json")


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    from connector.logging_setup import configure

    configure(level=level, log_format=log_format)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", envvar="VANBULK_LOG_LEVEL", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--log-format", envvar="VANBULK_LOG_FORMAT", default="text", show_default=True,
              type=click.Choice(LOG_FORMATS))
@click.option("--debug", is_flag=True, envvar="VANBULK_DEBUG",
              help="On an error, print the full traceback after the one-line message.")
@click.version_option(package_name="vanbulk")
@click.pass_context
def main(ctx: click.Context, log_level: str, log_format: str, debug: bool) -> None:
    """Warehouse -> NGP VAN / EveryAction Bulk Import, with pre-flight checks and per-row results."""
    setup_logging(log_level.upper(), log_format)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    # Command modules register themselves on `main` when imported.
    from connector.cli import simulator  # noqa: F401
    from connector.cli import jobs, catalog  # noqa: F401  (connector runtime commands)
    from connector.cli import validate  # noqa: F401  (pre-flight checks)


_register()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
