"""What the terminal shows: the run's events (connector/events.py), one line each, and its stages.

Three displays, chosen by the CLI (connector/logging_setup.py ``configure``):

* ``LiveDisplay`` (rich) on an interactive terminal: event lines scroll above a live bar per stage (pre-flight
  n/21 with rejects so far, export rows/s, jobs submitted / at VAN / done by VAN's status); the bar goes away
  when the stage ends, so the scrollback keeps only facts.
* ``PlainDisplay`` elsewhere (CI, pipes): the same lines with a time; a stage's progress as a line at most
  every ``PLAIN_PROGRESS_EVERY`` seconds, and only when it changed (long polls still show life in CI logs).
* ``JsonDisplay`` (``--log-format json``): every line on stdout one JSON object (``event``, ``msg``, ``data``).

Other loggers' records reach the terminal from WARNING up (everything with ``--log-level DEBUG``); below
that they go to the run's log file only, so a module's detail never repeats an event's fact on screen.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from connector.events import Stage
from connector.redaction import redact

PLAIN_PROGRESS_EVERY = 30.0
JSON_PROGRESS_EVERY = 10.0

__all__ = ["JsonDisplay", "LiveDisplay", "PlainDisplay", "TerminalHandler", "event_payload", "make_display"]


def _event(record: logging.LogRecord) -> str | None:
    return getattr(record, "event", None)


def stage_text(stage: Stage) -> str:
    """One line for a stage's state, e.g. ``pre-flight 7/21 · rejects so far 23 · CanvassResults``."""
    count = f" {stage.done}/{stage.total}" if stage.total is not None else ""
    detail = stage.fields.get("detail")
    return f"{stage.label}{count}" + (f" · {detail}" if detail else "")


def event_payload(record: logging.LogRecord, run_id: str | None, invocation_id: str) -> dict[str, Any]:
    kind = _event(record)
    payload: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
        "invocation_id": invocation_id,
        "run_id": run_id,
        "level": record.levelname.lower(),
        "event": kind or "log",
        "msg": redact(record.getMessage()),
    }
    if kind is None:
        payload["logger"] = record.name
    data = getattr(record, "data", None)
    if data:
        payload["data"] = json.loads(redact(json.dumps(data, default=str)))
    return payload


class PlainDisplay:
    """Time-stamped lines on stderr."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._last: dict[str, tuple[float, str]] = {}

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr  # looked up late: test runners swap sys.stderr

    def _write(self, text: str, when: float | None = None) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(when or time.time()))
        print(f"{stamp}  {text}", file=self.stream, flush=True)

    def record(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if _event(record) is None or record.levelno >= logging.WARNING:
            msg = f"{record.levelname.lower()}: {msg}" if record.levelno >= logging.WARNING else msg
        self._write(msg, record.created)

    every = PLAIN_PROGRESS_EVERY

    def _progress(self, stage: Stage, text: str) -> None:
        self._write(f"… {text}")

    def stage_start(self, stage: Stage) -> None:
        """A line as a long stage starts, so a log never sits silent without saying what it waits for."""
        self._last[stage.name] = (time.monotonic(), stage_text(stage))
        self._progress(stage, stage_text(stage))

    def stage_update(self, stage: Stage) -> None:
        when, text = self._last.get(stage.name, (0.0, ""))
        now, new = time.monotonic(), stage_text(stage)
        if new != text and now - when >= self.every:
            self._last[stage.name] = (now, new)
            self._progress(stage, new)

    def stage_end(self, stage: Stage) -> None:
        self._last.pop(stage.name, None)

    def close(self) -> None:
        pass


class JsonDisplay(PlainDisplay):
    """One JSON object per stdout line; stage progress as ``progress`` events every few seconds."""

    def __init__(self, stream: TextIO | None = None, invocation_id: str = "", run_id=lambda: None):
        super().__init__(stream)
        self.invocation_id = invocation_id
        self.run_id = run_id

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def _json(self, payload: dict) -> None:
        print(json.dumps(payload, default=str), file=self.stream, flush=True)

    every = JSON_PROGRESS_EVERY

    def record(self, record: logging.LogRecord) -> None:
        self._json(event_payload(record, self.run_id(), self.invocation_id))

    def _progress(self, stage: Stage, text: str) -> None:
        self._json({"ts": datetime.now(timezone.utc).isoformat(), "invocation_id": self.invocation_id,
                    "run_id": self.run_id(), "level": "info", "event": "progress", "msg": text,
                    "data": {"stage": stage.name, "done": stage.done, "total": stage.total,
                             "elapsed_s": round(stage.elapsed, 1),
                             **{k: v for k, v in stage.fields.items() if k != "detail"}}})


class LiveDisplay:
    """rich: event lines above one live progress row per running stage (transient)."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self._progress = None
        self._tasks: dict[str, Any] = {}

    def _ensure(self):
        if self._progress is None:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                                      TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                                      TextColumn("{task.fields[detail]}"), console=self.console,
                                      transient=True, refresh_per_second=8)
            self._progress.start()
        return self._progress

    def record(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        msg = record.getMessage()
        style = "yellow" if record.levelno == logging.WARNING else "red" if record.levelno > logging.WARNING else ""
        if _event(record) is None or record.levelno >= logging.WARNING:
            msg = f"{record.levelname.lower()}: {msg}" if record.levelno >= logging.WARNING else msg
        line = Text(f"{stamp}  ", style="dim") + Text(msg, style=style)
        (self._progress.console if self._progress else self.console).print(line)

    @staticmethod
    def _fields(stage: Stage) -> dict[str, Any]:
        return {"count": f"{stage.done}/{stage.total}" if stage.total is not None else "",
                "detail": str(stage.fields.get("detail") or "")}

    def stage_start(self, stage: Stage) -> None:
        p = self._ensure()
        self._tasks[stage.name] = p.add_task(stage.label, total=stage.total, completed=stage.done,
                                             **self._fields(stage))
        p.refresh()  # drawn at once, however short the stage

    def stage_update(self, stage: Stage) -> None:
        task = self._tasks.get(stage.name)
        if task is None or self._progress is None:
            return
        self._progress.update(task, total=stage.total, completed=stage.done, **self._fields(stage))

    def stage_end(self, stage: Stage) -> None:
        task = self._tasks.pop(stage.name, None)
        if task is not None and self._progress is not None:
            # its last state drawn once: a stage shorter than a refresh still shows what it did
            self._progress.update(task, total=stage.total, completed=stage.done, **self._fields(stage))
            self._progress.refresh()
            self._progress.remove_task(task)
        if not self._tasks:
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class TerminalHandler(logging.Handler):
    """Hands records to a display: events from ``level`` up (unless meant for the log file only), other
    loggers' records from WARNING up, or everything when ``level`` is DEBUG."""

    def __init__(self, display, level: int = logging.INFO):
        super().__init__(logging.DEBUG)
        self.display = display
        self.threshold = level

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if _event(record) is not None:
                if not getattr(record, "terminal", True) and self.threshold > logging.DEBUG:
                    return
                if record.levelno < self.threshold:
                    return
            elif record.levelno < (self.threshold if self.threshold <= logging.DEBUG
                                   else max(self.threshold, logging.WARNING)):
                return
            self.display.record(record)
        except Exception:  # noqa: BLE001 - a display problem must never stop the run
            self.handleError(record)


def make_display(log_format: str, *, invocation_id: str, run_id=lambda: None):
    if log_format == "json":
        return JsonDisplay(invocation_id=invocation_id, run_id=run_id)
    env = os.environ
    if not (sys.stderr.isatty() or env.get("TTY_COMPATIBLE") == "1" or env.get("FORCE_COLOR")):
        return PlainDisplay()  # rich not even imported: short commands start faster
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    return LiveDisplay(console) if console.is_interactive else PlainDisplay()
