"""`vanbulk status` while another command holds the writer lock: a read, never a write, never a poll.

Where the ledger can be read by a second process (PostgreSQL, BigQuery) its tables are read as they are (no
``ensure``, no lock); the run in progress is its ``running`` row in ``van_bulk_runs``, with the stage from the
run's snapshot when it runs from this project. A DuckDB file cannot be opened at all while its writer has it
open, so there the run's snapshot (connector/run/snapshot.py) is the whole answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from connector.ledger import Ledger, RunStatus
from connector.ledger.schema import RUNS
from connector.redaction import strip_query
from connector.run.snapshot import job_view, read_snapshot
from connector.warehouse import Warehouse

__all__ = ["StatusView", "observe"]

NO_SNAPSHOT_YET = ("a vanbulk command holds this DuckDB file and has published no status snapshot yet (it is "
                   "starting, or is not a run); try again in a moment")


@dataclass
class StatusView:
    """What `vanbulk status` shows: the jobs (newest first), how many there are, and the run in progress."""

    jobs: list[dict]
    jobs_total: int
    running: dict | None = None  # run_id, command, pid, host, started_at, stage, last_event (as known)
    source: str = "ledger"  # or "run snapshot" (DuckDB during a run)
    notes: list[str] = field(default_factory=list)

    @property
    def left_out(self) -> int:
        return max(self.jobs_total - len(self.jobs), 0)

    def to_dict(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "jobs_total": self.jobs_total, "left_out": self.left_out,
                "running": self.running, "source": self.source, "notes": self.notes}


def _running_row(ledger: Ledger, api_target: str) -> dict | None:
    rows = ledger._query(f"select run_id, command, pid, host, invoked_at from {ledger.rel(RUNS)} where status = "
                         f"'{RunStatus.RUNNING}' and (api_target = :t or api_target is null) order by invoked_at "
                         "desc limit 1", {"t": api_target})
    if not rows:
        return None
    r = rows[0]
    return {"run_id": r["run_id"], "command": r["command"], "pid": r["pid"], "host": r["host"],
            "started_at": str(r["invoked_at"])[:19], "stage": None, "last_event": None}


def observe(settings, limit: int | None) -> StatusView:
    """The ledger (or the run's snapshot) as it is now, for a reader that does not hold the writer lock."""
    snap = read_snapshot(settings.state_dir)
    live = snap if snap and snap.get("alive") else None
    wh = Warehouse(settings.warehouse_url, settings.results_schema)
    try:
        if wh.ops.writer_lock == "file":  # DuckDB: the writer has the file; only its snapshot can be read
            if live is None:
                return StatusView([], 0, running={"run_id": None, "stage": None, "last_event": None},
                                  source="run snapshot",
                                  notes=[NO_SNAPSHOT_YET])
            jobs = live.get("jobs") or []
            return StatusView(jobs[:limit] if limit is not None else jobs, int(live.get("jobs_total") or len(jobs)),
                              running=_run_of(live), source="run snapshot")
        target = "simulator" if settings.simulated else strip_query(settings.api_base_url)
        ledger = Ledger(wh, settings.results_schema, api_target=target, database_mode=settings.database_mode)
        try:
            jobs, total = ledger.recent_jobs(limit), ledger.count_jobs()
        except sa.exc.ProgrammingError:  # the first run has not created the ledger yet
            jobs, total = [], 0
        running = _run_of(live) if live else None
        if running is None:
            try:
                running = _running_row(ledger, target)
            except sa.exc.ProgrammingError:
                running = None
        return StatusView([job_view(j) for j in jobs], total, running=running)
    finally:
        wh.dispose()


def _run_of(snap: dict) -> dict:
    return {k: snap.get(k) for k in ("run_id", "command", "pid", "host", "started_at", "stage", "last_event",
                                     "updated_at")}
