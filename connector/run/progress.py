"""The run's long stages as the user watches them: pre-flight, export + submit, polling.

Each keeps the counts its live display shows (connector/events.py ``Stage``) and ends in one event line
with what the summary table does not say (time taken, rate, VAN's statuses). Per-job detail goes to the
run's log file only: the summary names every job once.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import Counter
from typing import Any, Callable

from connector.events import Events, Stage

__all__ = ["PollProgress", "SubmitProgress", "accepts", "accepts_progress", "dbt_progress", "run_preflight_stage"]


def dbt_progress(stage: Stage) -> Callable[[dict], None]:
    """``on_event`` for dbt's structured log: the bar is dbt's nodes done of its total (models, seeds, tests),
    the detail the node that just finished; before the first node, what dbt is doing (parsing, found ...)."""
    from connector.dbt_runner import node_progress

    def on_event(event: dict) -> None:
        node = node_progress(event)
        if node is None:
            if event.get("info", {}).get("name") == "FoundStats":
                stage.update(detail=str(event["info"].get("msg", "")))
            return
        _, total, desc = node
        stage.update(1, total=total, detail=desc)
    return on_event


def accepts(fn: Callable, parameter: str) -> bool:
    """Whether a pre-flight function takes ``parameter=`` (older or hand-written ones may not)."""
    try:
        return parameter in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def accepts_progress(fn: Callable) -> bool:
    """Whether a pre-flight function takes ``progress=`` (called with (mapping type, its result) as each
    mapping type's checks finish). Older ones do not: the stage then shows elapsed time only."""
    return accepts(fn, "progress")


def run_preflight_stage(events: Events, preflight: Callable, warehouse, catalog, names: list[str], run_id: str,
                        settings, *, done_line: bool = True, **kwargs: Any):
    """``preflight(...)`` inside a live stage: n/N mapping types and the rejects so far, when it reports.
    ``done_line``: end with one line of totals (``validate`` prints its own report instead)."""
    started = time.monotonic()
    hook = accepts_progress(preflight)
    phases = hook and accepts(preflight, "on_phase")
    # Without the hook the count would sit at 0/N: an indeterminate bar (elapsed time) is the honest display.
    # With phases the count has two more steps after the mapping types' SQL checks (Great Expectations, Data
    # Docs): the bar is not full, and its clock not stopped, while those still run.
    total = (len(names) + (2 if phases else 0)) if hook else None
    with events.stage("preflight", "pre-flight", total=total,
                      detail="" if hook else f"checking {len(names)} mapping type(s)") as st:
        rejected = 0

        def progress(mapping_type: str, result: Any = None) -> None:
            nonlocal rejected
            rejected += int(getattr(result, "rows_rejected", 0) or 0)
            st.update(1, detail=f"rejects so far {rejected} · {mapping_type}")
            events.debug("preflight_checked", f"pre-flight: {mapping_type} checked", mapping_type=mapping_type,
                         rows_checked=getattr(result, "rows_checked", None),
                         rows_rejected=getattr(result, "rows_rejected", None),
                         blocked=getattr(result, "blocked", None))

        def on_phase(name: str, n: int) -> None:
            steps = {"gx": (len(names), f"Great Expectations: validating {n} view(s)"),
                     "docs": (len(names) + 1, f"Data Docs: adding the rejected rows to {n} page(s)"),
                     "done": (len(names) + 2, "")}
            done, detail = steps.get(name, (st.done, name))
            st.update(max(done - st.done, 0), detail=f"rejects so far {rejected}" + (f" · {detail}" if detail else ""))

        if hook:
            kwargs["progress"] = progress
        if phases:
            kwargs["on_phase"] = on_phase
        report = preflight(warehouse, catalog, names, run_id, settings, **kwargs)
    if not done_line:
        return report
    results = getattr(report, "results", {}) or {}
    rejected = sum(int(getattr(r, "rows_rejected", 0) or 0) for r in results.values())
    blocked = sum(1 for r in results.values() if getattr(r, "blocked", False))
    warned = sum(int(getattr(r, "rows_warned", 0) or 0) for r in results.values())
    carried = sorted({getattr(r, "checked_in", "") or r.carried_from for r in results.values()
                      if getattr(r, "carried_from", "")})
    n_carried = sum(1 for r in results.values() if getattr(r, "carried_from", ""))
    events.emit("preflight_done", f"pre-flight: {len(results)} mapping type(s) in {time.monotonic() - started:.1f}s; "
                f"{rejected} row(s) rejected" + (f", {warned} sent with a warning" if warned else "")
                + (f", {blocked} mapping type(s) blocked" if blocked else "")
                + (f"; {n_carried} unchanged since their check in run {', '.join(c[:8] for c in carried)}: "
                   "its findings carried over (`--recheck` checks again)" if n_carried else ""),
                mapping_types=len(results), rows_rejected=rejected, rows_warned=warned, blocked=blocked,
                carried_over=n_carried, seconds=round(time.monotonic() - started, 1))
    return report


class SubmitProgress:
    """Rows exported (and rows/s) and jobs submitted, for the export + submit stage."""

    def __init__(self, events: Events, stage: Stage, dry_run: bool):
        self.events, self.stage, self.dry_run = events, stage, dry_run
        self.rows = 0
        self.export_seconds = 0.0  # rows/s is the export's rate, not the submissions'
        self._export_started = time.monotonic()
        self.jobs = 0
        self.files = 0
        self._base = 0  # rows of earlier plans
        self.started = time.monotonic()

    def _rate(self, running: bool = False) -> float:
        secs = self.export_seconds + (time.monotonic() - self._export_started if running else 0.0)
        return self.rows / secs if secs > 0 else 0.0

    def _detail(self, label: str, running: bool = False) -> str:
        rate = self._rate(running)
        what = "file(s) written" if self.dry_run else "job(s) submitted"
        return f"{label} · {self.rows:,} rows exported ({rate:,.0f} rows/s) · {self.jobs if not self.dry_run else self.files} {what}"

    def exporting(self, label: str) -> Callable[[int], None]:
        """``on_progress`` for one plan's export: rows so far in it."""
        self._base = self.rows
        self._export_started = time.monotonic()
        self.stage.update(detail=self._detail(label, running=True))

        def on_progress(n: int) -> None:
            self.rows = self._base + n
            self.stage.update(detail=self._detail(label, running=True))
        return on_progress

    def exported(self, label: str, rows: int) -> None:
        self.rows = self._base + rows
        self.export_seconds += time.monotonic() - self._export_started

    def chunk(self, label: str, chunk, van_job_id: int | None = None) -> None:
        self.files += 1
        if van_job_id is not None:
            self.jobs += 1
            self.events.debug("job_submitted", f"submitted {label} chunk {chunk.chunk_no}: {chunk.row_count} rows "
                              f"-> VAN job {van_job_id}", van_job_id=van_job_id, rows=chunk.row_count,
                              zipped_bytes=chunk.zipped_bytes)
        else:
            self.events.debug("chunk_written", f"{label} chunk {chunk.chunk_no}: {chunk.row_count} rows, "
                              f"{chunk.zipped_bytes} bytes zipped -> {chunk.zip_path}", rows=chunk.row_count,
                              path=str(chunk.zip_path))
        self.stage.update(detail=self._detail(label))

    def done(self, out_dir) -> None:
        secs = time.monotonic() - self.started
        rate = f" (export {self._rate():,.0f} rows/s)" if self.rows >= 10_000 else ""  # below: noise
        if not self.rows and not self.files:
            msg = "export: nothing to send"
        elif self.dry_run:
            msg = f"export: {self.rows:,} rows in {self.files} file(s) in {secs:.1f}s{rate}, kept in {out_dir}"
        else:
            msg = f"export + submit: {self.jobs} job(s), {self.rows:,} rows exported in {secs:.1f}s{rate}"
        self.events.emit("submit_done", msg, rows=self.rows, jobs=self.jobs, files=self.files,
                         seconds=round(secs, 1), dry_run=self.dry_run)


class PollProgress:
    """Jobs at VAN (by VAN's status) and done (by VAN's final status), for the polling stage."""

    def __init__(self, events: Events, stage: Stage):
        self.events, self.stage = events, stage
        self.at_van: dict[int, str] = {}
        self.done: Counter[str] = Counter()
        self.started = time.monotonic()

    @staticmethod
    def _counts(c: Counter) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(c.items()))

    def _detail(self) -> str:
        parts = []
        if self.at_van:
            parts.append("at VAN: " + self._counts(Counter(self.at_van.values())))
        if self.done:
            parts.append("done: " + self._counts(self.done))
        return " · ".join(parts)

    def status(self, van_job_id: int, status: str) -> None:
        if self.at_van.get(van_job_id) != status:
            self.events.debug("job_status", f"VAN job {van_job_id}: {status}", van_job_id=van_job_id, status=status)
        self.at_van[van_job_id] = status
        self.stage.update(detail=self._detail())

    def finished(self, van_job_id: int, status: str) -> None:
        self.at_van.pop(van_job_id, None)
        self.done[status] += 1
        self.stage.update(1, detail=self._detail())

    def end(self, left: int, one_look: bool) -> None:
        secs = time.monotonic() - self.started
        n = sum(self.done.values())
        if not n and one_look:
            return  # a look at earlier jobs that found none finished: nothing to say
        msg = f"VAN: {n} job(s) finished in {secs:.0f}s" + (f" ({self._counts(self.done)})" if n else "")
        if left:
            msg += f"; {left} still at VAN"
        self.events.emit("poll_done", msg, level=logging.INFO, finished=dict(self.done), left=left,
                         seconds=round(secs, 1))
