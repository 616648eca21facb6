"""Where log records go, in dbt's manner.

* The terminal (``configure``, called by the CLI): the run's events, one line each (connector/progress.py),
  or one JSON object per stdout line with ``--log-format json``.
* A log file per run (``run_log``): ``<state_dir>/logs/<run_id>.log``, every record of the ``connector``
  loggers from DEBUG up, like dbt's ``logs/dbt.log`` but one file per run.
* The embedded simulator's own log (``simulator_log``): ``<state_dir>/simulator/simulator.log``, kept apart
  from the client's, never on the terminal.

Every handler carries the redaction filter, so no secret leaves the process through a log line.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from connector.redaction import RedactingFilter, redact

INVOCATION_ID = str(uuid.uuid4())
LOG_DIR = "logs"
SIMULATOR_LOG = "simulator.log"

_current_run: list[str] = []  # the run whose log file is open (for JSON lines)

__all__ = ["INVOCATION_ID", "configure", "current_run_id", "run_log", "run_log_path",
           "simulator_log"]


def current_run_id() -> str | None:
    return _current_run[-1] if _current_run else None


class FileFormatter(logging.Formatter):
    """``2026-12-02T07:27:21.123Z DEBUG   connector.poll  message {data}``: UTC, logger named, data as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        line = f"{ts} {record.levelname:<7} {record.name}  {redact(record.getMessage())}"
        data = getattr(record, "data", None)
        if data:
            line += "  " + redact(json.dumps(data, default=str))
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def configure(level: str = "INFO", log_format: str = "text"):
    """The terminal handler of the ``connector`` loggers; returns the display (stages report to it)."""
    from connector.events import set_live
    from connector.progress import TerminalHandler, make_display

    display = make_display(log_format, invocation_id=INVOCATION_ID, run_id=current_run_id)
    handler = TerminalHandler(display, logging.getLevelName(level.upper()))
    handler.addFilter(RedactingFilter())
    # httpx's request lines (URLs redacted at its logger, van_client.py) belong in the run's log file.
    for name, lvl in (("connector", logging.DEBUG), ("httpx", logging.INFO)):
        lg = logging.getLogger(name)
        lg.setLevel(lvl)  # handlers choose: the terminal its level, the run's log file everything
        for h in list(lg.handlers):
            if isinstance(h, TerminalHandler):
                lg.removeHandler(h)
        lg.addHandler(handler)
        lg.propagate = False
    # Other libraries' warnings and errors (SQLAlchemy, GX...): one line through the same display, instead of
    # logging's last-resort handler printing them raw, tracebacks included, between our lines.
    root_logger = logging.getLogger()
    for h in list(root_logger.handlers):
        if isinstance(h, TerminalHandler):
            root_logger.removeHandler(h)
    root_logger.addHandler(handler)
    set_live(display)
    return display


def run_log_path(state_dir: str | Path, run_id: str) -> Path:
    return Path(state_dir) / LOG_DIR / f"{run_id}.log"


class _Forward(logging.Handler):
    """While a run's log file takes DEBUG records, pass on to the root logger's handlers only what the
    ``connector`` logger let through before (an orchestrator's own logging sees no more than it asked for)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger().handle(record)


@contextmanager
def run_log(state_dir: str | Path, run_id: str) -> Iterator[Path]:
    """Write every ``connector`` record of the run, from DEBUG up, to ``<state_dir>/logs/<run_id>.log``."""
    path = run_log_path(state_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(FileFormatter())
    lg = logging.getLogger("connector")
    saved = (lg.level, lg.propagate)
    forward = None
    if lg.propagate:
        forward = _Forward(lg.getEffectiveLevel())
        lg.addHandler(forward)
        lg.propagate = False
    lg.setLevel(logging.DEBUG)
    lg.addHandler(handler)
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.addHandler(handler)  # at whatever level httpx is left (the CLI: INFO)
    # Other libraries' records that reach the root logger (WARNING up unless configured otherwise), with
    # their tracebacks; ours are written above already, whichever way they propagate.
    others = logging.FileHandler(path, encoding="utf-8")
    others.setLevel(logging.DEBUG)
    others.addFilter(lambda r: not r.name.startswith(("connector", "httpx")))
    others.addFilter(RedactingFilter())
    others.setFormatter(FileFormatter())
    logging.getLogger().addHandler(others)
    _current_run.append(run_id)
    try:
        yield path
    finally:
        _current_run.pop()
        lg.removeHandler(handler)
        httpx_logger.removeHandler(handler)
        logging.getLogger().removeHandler(others)
        handler.close()
        others.close()
        if forward is not None:
            lg.removeHandler(forward)
        lg.setLevel(saved[0])
        lg.propagate = saved[1]


@contextmanager
def simulator_log(state_dir: str | Path) -> Iterator[Path]:
    """The embedded simulator's records (``connector.simulator``) into ``<state_dir>/simulator/simulator.log``
    instead of the client's terminal and log file (rotated at 10 MB, two kept)."""
    path = Path(state_dir) / "simulator" / SIMULATOR_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=2, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(FileFormatter())
    lg = logging.getLogger("connector.simulator")
    saved = (lg.level, lg.propagate)
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    lg.addHandler(handler)
    try:
        yield path
    finally:
        lg.removeHandler(handler)
        handler.close()
        lg.setLevel(saved[0])
        lg.propagate = saved[1]
