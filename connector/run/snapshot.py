"""What a run publishes for `vanbulk status` in another terminal: ``<state_dir>/run-status.json``.

A run holds the writer lock, and on DuckDB the file itself: DuckDB lets one process open a file read-write and
no other process open it at all meanwhile, so a second terminal cannot read the ledger. The run therefore writes
a small snapshot of what it is doing (its stage and count, its last event line, the jobs it knows of) whenever
that changes: at each stage start and end, each event, and each job transition seen by the export and polling
stages (at most every ``MIN_INTERVAL`` seconds in between). Each write is atomic (a temporary file renamed over
the old one), so a reader sees one whole snapshot or the previous one. The run's last write says ``finished``
with its status; a snapshot whose process is gone is one from a run that was killed.

Only what `vanbulk status` prints goes in: no URLs, no keys, no row data. On PostgreSQL and BigQuery `status`
reads the ledger itself during a run; the snapshot only adds the stage (it holds no jobs there).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.events import Stage, add_observer, remove_observer

__all__ = ["JOB_COLUMNS", "SNAPSHOT_FILE", "process_alive", "publish_status", "read_snapshot", "snapshot_path"]

SNAPSHOT_FILE = "run-status.json"
MIN_INTERVAL = 0.5  # seconds between two writes driven by a stage's count (starts, ends and events always write)
# The job columns `vanbulk status` shows (connector/cli/jobs.py), nothing else of the job row.
JOB_COLUMNS = ("job_key", "van_job_id", "mapping_types", "van_status", "local_state", "row_count", "rows_processed",
               "rows_failed", "rows_not_in_results", "created_at")
# Stages during which the run's ledger may be read from the run's own process (dbt has the DuckDB file then).
_LEDGER_STAGES = {"submit", "poll"}


def snapshot_path(state_dir: Path | str) -> Path:
    return Path(state_dir) / SNAPSHOT_FILE


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def job_view(job: dict) -> dict:
    return {k: (str(job[k]) if k == "created_at" and job.get(k) is not None else job.get(k)) for k in JOB_COLUMNS}


class StatusPublisher(logging.Handler):
    """A stage observer (connector/events.py) and a handler of the run's events that rewrites the snapshot."""

    def __init__(self, path: Path, run_id: str, command: str, ledger, job_limit: int | None = 100,
                 read_jobs: bool = True):
        super().__init__(logging.INFO)
        self.path, self.ledger, self.job_limit, self.read_jobs = path, ledger, job_limit, read_jobs
        self.doc: dict[str, Any] = {"run_id": run_id, "command": command, "pid": os.getpid(),
                                    "host": socket.gethostname(), "started_at": _now(), "state": "running",
                                    "status": "running", "stage": None, "last_event": None, "jobs": [],
                                    "jobs_total": 0}
        self._stages: dict[str, Stage] = {}
        self._written = 0.0
        self._lock = threading.RLock()

    # -- the snapshot -------------------------------------------------------------------------------
    def _refresh_jobs(self) -> None:
        """The ledger's jobs, read only when the run's own connection may read it (not during dbt)."""
        if not self.read_jobs or (self._stages and not set(self._stages) <= _LEDGER_STAGES):
            return
        try:
            jobs = self.ledger.recent_jobs(self.job_limit)
            self.doc["jobs_total"] = self.ledger.count_jobs()
        except Exception:
            logging.getLogger(__name__).debug("status snapshot: ledger not readable now", exc_info=True)
            return
        self.doc["jobs"] = [job_view(j) for j in jobs]

    def write(self, *, jobs: bool = True, force: bool = True) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._written < MIN_INTERVAL:
                return
            if jobs:
                self._refresh_jobs()
            stage = next(reversed(self._stages.values()), None)
            self.doc["stage"] = None if stage is None else {
                "name": stage.name, "label": stage.label, "done": stage.done, "total": stage.total,
                "detail": str(stage.fields.get("detail") or ""), "elapsed_s": round(stage.elapsed, 1)}
            self.doc["updated_at"] = _now()
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps(self.doc, default=str), encoding="utf-8")
                os.replace(tmp, self.path)  # atomic: a reader sees the old snapshot or this one
            except OSError:
                logging.getLogger(__name__).debug("status snapshot not written", exc_info=True)
            self._written = now

    # -- stage observer ------------------------------------------------------------------------------
    def stage_start(self, stage: Stage) -> None:
        self._stages[stage.name] = stage
        self.write(jobs=False)

    def stage_update(self, stage: Stage) -> None:
        self.write(jobs=stage.name in _LEDGER_STAGES, force=False)

    def stage_end(self, stage: Stage) -> None:
        self._stages.pop(stage.name, None)
        self.write(jobs=stage.name in _LEDGER_STAGES or not self._stages)

    # -- events --------------------------------------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) is None or not getattr(record, "terminal", True):
            return
        from connector.redaction import redact

        self.doc["last_event"] = redact(record.getMessage())
        self.write(jobs=False)

    def finish(self, status: str) -> None:
        self.doc.update(state="finished", status=str(status), finished_at=_now())
        self._stages.clear()
        self.write()


@contextmanager
def publish_status(rt, run_id: str, command: str) -> Iterator[StatusPublisher]:
    """The run's snapshot for the length of ``with``; ``finish(status)`` writes its last one."""
    from connector.events import logger as events_logger

    # Jobs only where nobody else can read the ledger (DuckDB): elsewhere `status` reads it itself, and a
    # query per job change would cost a warehouse like BigQuery for nothing.
    engine = getattr(getattr(rt, "warehouse", None), "ops", None)
    pub = StatusPublisher(snapshot_path(rt.settings.state_dir), run_id, command, rt.ledger,
                          read_jobs=engine is None or engine.writer_lock == "file")
    pub.path.parent.mkdir(parents=True, exist_ok=True)
    pub.write()
    add_observer(pub)
    events_logger.addHandler(pub)
    try:
        yield pub
    finally:
        events_logger.removeHandler(pub)
        remove_observer(pub)


def process_alive(pid: int | None, host: str | None) -> bool:
    """Whether the process that wrote a snapshot still runs (on another host: assumed so)."""
    if not pid:
        return False
    if host and host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_snapshot(state_dir: Path | str) -> dict | None:
    """The last snapshot, with ``alive``: whether its run is still going (running and its process alive)."""
    try:
        doc = json.loads(snapshot_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    doc["alive"] = doc.get("state") == "running" and process_alive(doc.get("pid"), doc.get("host"))
    return doc
