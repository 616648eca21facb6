"""Poll jobs to a terminal status and reconcile their rows into the ledger (results, outcomes, row state).

A job whose results cannot be loaded yet (an expired or refused result link, a crash) stays ``completed``
and is collected again by the next run, ``vanbulk status`` or ``vanbulk results``; one job's trouble never
stops the others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from connector.errors import ConnectorError, VanError
from connector.ledger import JobState
from connector.ledger.store import LedgerStateError
from connector.poll import FAILED, JobToPoll, internal_status, poll_jobs
from connector.redaction import redact
from connector.results import ResultFile, ResultFiles, download_results
from connector.run.progress import PollProgress
from connector.run.submit import delete_hosted

logger = logging.getLogger(__name__)

__all__ = ["collect", "load_job_results", "reload_from_raw"]


def _failure_message(errors: Sequence[Mapping[str, Any]]) -> str:
    return redact("; ".join(f"{e.get('code')}: {e.get('text')}" + (
        f" (referenceCode {e['referenceCode']})" if e.get("referenceCode") else "") for e in errors)) or "job failed"


def _file_records(files: Sequence[ResultFile]) -> list[dict]:
    return [{"url": f.url, "dateExpired": f.date_expired, "path": str(f.path)} for f in files]


def load_job_results(rt, job: Mapping[str, Any], body: Mapping[str, Any], *, ledger_lock=None) -> dict[str, int]:
    """A job reached a terminal status: fetch its result files and record every carried row's outcome.
    Idempotent (re-running replaces). A result link VAN refuses (expired, 403) is fetched once more with
    fresh links from the job; if that fails too the job is recorded ``completed`` and the error is raised.
    ``ledger_lock``: held for the ledger writes only (the downloads run without it).

    VAN's terminal status, the results and the hosted file's removal are recorded in one commit (the job's
    file is no longer needed once VAN has finished with it, so it goes first); only when loading fails is
    ``completed`` written apart, so the job is collected again."""
    L = rt.ledger
    lock = ledger_lock or contextlib.nullcontext()
    job_key, van_job_id = job["job_key"], job["van_job_id"]
    status = str(body.get("status"))
    errors = body.get("errors") or []
    errors_json = redact(json.dumps(errors)) if errors else None
    mts = str(job["mapping_types"]).split("+")
    if job.get("local_state") == JobState.RESULTS_LOADED:
        with lock:  # loaded before (`vanbulk results`): back to `completed`, then loaded again
            L.mark_completed(job_key, status, errors_json)
    try:
        if internal_status(status) == FAILED:
            gone = delete_hosted(rt, job.get("hosted_key"))
            with lock:  # VAN's own facts (its status, its errors with code, text and referenceCode) with the rows'
                counts = L.load_results(job, [], failed_message=_failure_message(errors),
                                        completed=(status, errors_json), hosted_deleted=gone)
            rt.events.emit("job_failed", f"VAN job {van_job_id} ({job['mapping_types']}) FAILED: "
                           f"{_failure_message(errors)} (its rows are retried by the next run)",
                           level=logging.WARNING, van_job_id=van_job_id, mapping_types=job["mapping_types"])
            return counts
        dest = Path(rt.settings.state_dir) / "results" / str(van_job_id)
        try:
            files = download_results(rt.client, body, dest)
        except VanError as exc:
            logger.warning("VAN job %s: result download failed (%s); fetching fresh links", van_job_id, exc)
            files = download_results(rt.client, rt.client.get_job(van_job_id), dest)
        rows = ResultFiles(files, mts, loaded_at=datetime.now(timezone.utc).replace(tzinfo=None))
        gone = delete_hosted(rt, job.get("hosted_key"))
        with lock:
            counts = L.load_results(job, rows, failed_message=None, result_files=_file_records(files),
                                    completed=(status, errors_json), hosted_deleted=gone)
    except LedgerStateError:  # the job moved on meanwhile (another collect loaded it): nothing to record
        raise
    except Exception:
        with lock:  # VAN finished the job: recorded, so `status` and the next run collect it again
            with contextlib.suppress(Exception):
                L.mark_completed(job_key, status, errors_json)
        raise
    rt.events.debug("job_done", f"VAN job {van_job_id} ({job['mapping_types']}): {status}; processed "
                    f"{counts.get('processed', 0)}, failed {counts.get('failed', 0)}, not in results "
                    f"{counts.get('not_in_results', 0)}", van_job_id=van_job_id, status=status, counts=counts)
    return counts


def reload_from_raw(rt, job: Mapping[str, Any]) -> dict[str, int] | None:
    """Re-parse the raw result files kept under ``state_dir/results/<jobId>/`` (links expired)."""
    van_job_id = job["van_job_id"]
    raw = sorted((Path(rt.settings.state_dir) / "results" / str(van_job_id)).glob("result-*.csv"))
    if not raw:
        return None
    files = [ResultFile(int(p.stem.split("-")[1]), p, "", None) for p in raw]
    if JobState(job["local_state"]) != JobState.COMPLETED:
        rt.ledger.mark_completed(job["job_key"], str(job.get("van_status") or ""), job.get("errors_json"))
    rows = ResultFiles(files, str(job["mapping_types"]).split("+"), loaded_at=datetime.now(timezone.utc).replace(tzinfo=None))
    return rt.ledger.load_results(job, rows, failed_message=None, result_files=_file_records(files))


def _problem(rt, problems: list[str] | None, msg: str, kind: str, van_job_id: int) -> None:
    """In the run's summary when there is one (printed once, at the end); otherwise a warning line now."""
    if problems is not None:
        rt.events.note(problems, msg, kind=kind, van_job_id=van_job_id)
    else:
        rt.events.emit(kind, msg, level=logging.WARNING, van_job_id=van_job_id)


def collect(rt, jobs: Sequence[Mapping[str, Any]], *, timeout: float | None = None,
            problems: list[str] | None = None) -> list[dict]:
    """Poll ``jobs`` (ledger rows with a VAN job id) and load each one's results as it ends. ``timeout``
    None: up to ``poll_timeout_seconds`` (jobs still running are then ``timed_out``); 0: one look each.
    Returns the jobs still running. A job whose results fail to load is reported in ``problems``.

    Jobs are polled ``collect_workers`` at a time, and a finished job's results are downloaded and loaded on
    a worker thread while the rest are still polled; ledger writes take one lock (a single writer)."""
    by_key = {j["job_key"]: j for j in jobs if j.get("van_job_id") is not None}
    if not by_key:
        return []
    s, now = rt.settings, time.time()
    one_look = timeout is not None and timeout <= 0
    ledger_lock = threading.RLock()  # one writer on the ledger while jobs are collected concurrently
    report_lock = threading.Lock()  # the progress display and the problems list

    def submitted(j) -> float:
        ts = j.get("submitted_at")
        return ts.replace(tzinfo=timezone.utc).timestamp() if isinstance(ts, datetime) else now

    # what the ledger holds per job: a poll that finds VAN's status unchanged writes nothing
    recorded = {k: (j.get("local_state"), j.get("van_status")) for k, j in by_key.items()}

    def on_status(p: JobToPoll, body: Mapping[str, Any]) -> None:
        if internal_status(body.get("status")) == "running":
            seen = (JobState.POLLING.value, str(body.get("status")))
            if recorded.get(p.job_key) != seen:
                with ledger_lock:
                    rt.ledger.mark_polled(p.job_key, seen[1])
                recorded[p.job_key] = seen
            with report_lock:
                tracker.status(p.van_job_id, str(body.get("status")))

    def on_terminal(p: JobToPoll, body: Mapping[str, Any]) -> None:
        with report_lock:
            tracker.finished(p.van_job_id, str(body.get("status")))
        try:  # (the job as given: its key, VAN id, mapping types, row count and hosted file do not change)
            load_job_results(rt, by_key[p.job_key], body, ledger_lock=ledger_lock)
        except ConnectorError as exc:  # this job only: it stays `completed` and is collected again later
            msg = redact(f"VAN job {p.van_job_id}: results not loaded ({exc}); `vanbulk status` or the next run "
                         "collects them again")
            with report_lock:
                _problem(rt, problems, msg, "results_not_loaded", p.van_job_id)

    def on_error(p: JobToPoll, exc: VanError) -> None:
        with ledger_lock:
            state = (rt.ledger.job(p.job_key) or {}).get("local_state")
        msg = redact(f"VAN job {p.van_job_id}: polling failed ({exc}); it stays in the ledger as {state} and is "
                     "polled again later")
        with report_lock:
            tracker.finished(p.van_job_id, "polling failed")
            _problem(rt, problems, msg, "polling_failed", p.van_job_id)

    with rt.events.stage("poll", "VAN jobs", total=len(by_key)) as st:
        tracker = PollProgress(rt.events, st)
        left = poll_jobs(rt.client, [JobToPoll(k, int(j["van_job_id"]), submitted(j)) for k, j in by_key.items()],
                         interval=s.poll_interval_seconds, max_interval=s.poll_max_interval_seconds,
                         timeout=s.poll_timeout_seconds if timeout is None else timeout,
                         on_status=on_status, on_terminal=on_terminal, on_error=on_error, sleep=rt.sleep,
                         workers=max(1, int(getattr(s, "collect_workers", 1) or 1)))
    tracker.end(len(left), one_look)
    if timeout is None:
        for p in left:
            job = rt.ledger.job(p.job_key)
            rt.ledger.mark_polled(p.job_key, str(job.get("van_status") or ""), timed_out=True)
    return [by_key[p.job_key] for p in left]
