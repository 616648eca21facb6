"""The run's event stream: each fact once, when it happens (dbt's structured events, in small).

An event is a log record of the ``connector.events`` logger carrying ``event`` (its kind) and ``data``
(a JSON-able dict). Where it ends up is the handlers' business (connector/logging_setup.py): the run's log
file gets every record; the terminal (connector/progress.py) prints an event as one line, or one JSON object
with ``--log-format json``. ``Events.note`` records a fact the run summary prints at the end: it goes to the
log file now and to the terminal only once, inside the summary.

A **stage** is a long step (pre-flight, export and submit, polling) with a count that moves; its updates
drive the live display on a terminal (``set_live``) and are never log lines, so they cannot repeat a fact.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

logger = logging.getLogger("connector.events")

Echo = Callable[[str], None]

__all__ = ["Events", "LiveDisplay", "Stage", "add_observer", "remove_observer", "set_live"]


@dataclass
class Stage:
    """A long step with a count: ``done`` of ``total`` (None: unknown) and named ``fields`` the display shows."""

    name: str
    label: str
    total: int | None = None
    done: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, advance: int = 0, *, total: int | None = None, **fields: Any) -> None:
        self.done += advance
        if total is not None:
            self.total = total
        self.fields.update(fields)
        for live in (*_live, *_observers):
            live.stage_update(self)


class LiveDisplay(Protocol):
    def stage_start(self, stage: Stage) -> None: ...
    def stage_update(self, stage: Stage) -> None: ...
    def stage_end(self, stage: Stage) -> None: ...


_live: list[LiveDisplay] = []
_observers: list[LiveDisplay] = []  # besides the terminal: the run's status snapshot (connector/run/snapshot.py)


def set_live(display: LiveDisplay | None) -> None:
    """The terminal display stages report to (the CLI sets it for the command; None: no display)."""
    _live[:] = [display] if display is not None else []


def add_observer(observer: LiveDisplay) -> None:
    _observers.append(observer)


def remove_observer(observer: LiveDisplay) -> None:
    if observer in _observers:
        _observers.remove(observer)


class Events:
    """What the run reports. ``echo`` (the Python API's callback) also receives every terminal line."""

    def __init__(self, echo: Echo | None = None):
        self.echo = echo

    def emit(self, kind: str, msg: str, *, level: int = logging.INFO, terminal: bool = True, **data: Any) -> None:
        logger.log(level, msg, extra={"event": kind, "data": data, "terminal": terminal})
        if self.echo is not None and terminal and level >= logging.INFO:
            self.echo(msg)

    def say(self, msg: str) -> None:
        """A free-text line (the ``echo`` of older call sites)."""
        self.emit("message", msg)

    def debug(self, kind: str, msg: str, **data: Any) -> None:
        """A detail for the log file only (per-job status, per-chunk export)."""
        self.emit(kind, msg, level=logging.DEBUG, terminal=False, **data)

    def note(self, messages: list[str], msg: str, *, kind: str = "note", level: int = logging.WARNING,
             **data: Any) -> None:
        """A fact the run summary prints (``messages``): logged now, shown on the terminal once, at the end."""
        messages.append(msg)
        self.emit(kind, msg, level=level, terminal=False, **data)

    @contextmanager
    def stage(self, name: str, label: str, total: int | None = None, **fields: Any) -> Iterator[Stage]:
        st = Stage(name, label, total, fields=dict(fields))
        self.debug(f"{name}_started", f"{label}: started", total=total)
        for live in (*_live, *_observers):
            live.stage_start(st)
        try:
            yield st
        finally:
            for live in (*_live, *_observers):
                live.stage_end(st)
