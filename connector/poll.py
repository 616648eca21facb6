"""Poll bulk import jobs to a terminal status; jobs can take hours.

An explicit status map (the Airbyte async-job idea) turns VAN's statuses, including the spellings the docs
disagree on, into four internal states. The interval grows from ``poll_interval_seconds`` by 1.5x up to
``poll_max_interval_seconds``; after ``poll_timeout_seconds`` the jobs are left running at VAN and the
ledger keeps them ``polling`` so ``vanbulk status`` / ``vanbulk run --resume`` picks them up later.
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from connector.errors import VanError, VanNotFound

logger = logging.getLogger(__name__)

RUNNING, COMPLETED, COMPLETED_WITH_ERRORS, FAILED = "running", "completed", "completed_with_errors", "failed"

STATUS_MAP = {
    "pending": RUNNING,
    "inprogress": RUNNING,
    "inprogresswitherrors": RUNNING,
    "completed": COMPLETED,
    "complete": COMPLETED,  # the workflow page's spelling
    "completedwitherrors": COMPLETED_WITH_ERRORS,
    "completedwitherror": COMPLETED_WITH_ERRORS,  # the resultFiles note's spelling
    "failed": FAILED,
    "error": FAILED,  # the Job Error note says "unless status is Error"
}

# A job may 404 right after POST (Parsons #349): tolerate that for this long after submission.
NOT_VISIBLE_GRACE_SECONDS = 300.0

__all__ = ["JobToPoll", "internal_status", "is_terminal", "poll_jobs", "STATUS_MAP"]


def internal_status(van_status: str | None) -> str:
    return STATUS_MAP.get(str(van_status or "").replace(" ", "").lower(), RUNNING)


def is_terminal(van_status: str | None) -> bool:
    return internal_status(van_status) != RUNNING


@dataclass
class JobToPoll:
    job_key: str
    van_job_id: int
    submitted_at: float  # unix seconds


def poll_jobs(client, jobs: list[JobToPoll], *, interval: float, max_interval: float, timeout: float,
              on_status: Callable[[JobToPoll, Mapping[str, Any]], None] | None = None,
              on_terminal: Callable[[JobToPoll, Mapping[str, Any]], None],
              on_error: Callable[[JobToPoll, VanError], None] | None = None,
              sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
              workers: int = 1) -> list[JobToPoll]:
    """Poll until every job is terminal (``on_terminal`` runs at once for each) or ``timeout``.

    Returns the jobs still running when the time ran out (empty when all finished). A job VAN answers
    with a non-retriable error is handed to ``on_error`` and dropped (without it, the error is raised).

    ``workers`` > 1: each round looks at the jobs concurrently, and ``on_terminal`` (downloading and loading
    a job's results) runs on its own threads while the other jobs are still polled; this returns once every
    ``on_terminal`` has finished (the first exception one raised is raised then). ``on_status``/``on_error``
    stay on the calling thread. ``on_terminal`` must be safe to run concurrently with those.
    """
    if workers <= 1:
        return _poll(client, jobs, interval=interval, max_interval=max_interval, timeout=timeout,
                     on_status=on_status, on_terminal=on_terminal, on_error=on_error, sleep=sleep, clock=clock,
                     look=None)
    collecting: list[Future] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="vanbulk-poll") as lookers, \
            ThreadPoolExecutor(workers, thread_name_prefix="vanbulk-collect") as collectors:
        try:
            return _poll(client, jobs, interval=interval, max_interval=max_interval, timeout=timeout,
                         on_status=on_status, on_error=on_error, sleep=sleep, clock=clock,
                         on_terminal=lambda job, body: collecting.append(collectors.submit(on_terminal, job, body)),
                         look=lambda batch: list(lookers.map(lambda j: _look(client, j), batch)))
        finally:
            errors = [f.exception() for f in collecting]  # waits for each
            first = next((e for e in errors if e is not None), None)
            if first is not None and sys.exc_info()[1] is None:
                raise first


def _look(client, job: JobToPoll) -> tuple[Mapping[str, Any] | None, VanError | None]:
    try:
        return client.get_job(job.van_job_id), None
    except VanError as exc:
        return None, exc


def _poll(client, jobs, *, interval, max_interval, timeout, on_status, on_terminal, on_error, sleep, clock,
          look) -> list[JobToPoll]:
    pending = list(jobs)
    start = clock()
    delay = max(interval, 0.0)
    last_status: dict[str, str] = {}
    while pending:
        still: list[JobToPoll] = []
        answers = look(pending) if look is not None else (_look(client, j) for j in pending)
        for job, (body, exc) in zip(pending, answers):
            if isinstance(exc, VanNotFound):
                if clock() - job.submitted_at < NOT_VISIBLE_GRACE_SECONDS:
                    logger.info("job %s not visible yet", job.van_job_id)
                    still.append(job)
                    continue
                if on_error is None:
                    raise exc
                on_error(job, exc)
                continue
            if exc is not None:
                if not exc.retriable:
                    if on_error is None:
                        raise exc
                    on_error(job, exc)
                    continue
                logger.warning("polling job %s: %s; will retry", job.van_job_id, exc)
                still.append(job)
                continue
            status = str(body.get("status"))
            if on_status:
                on_status(job, body)
            if last_status.get(job.job_key) != status:
                logger.info("job %s: %s (%.0fs elapsed)", job.van_job_id, status, clock() - start)
                last_status[job.job_key] = status
            if is_terminal(status):
                on_terminal(job, body)
            else:
                still.append(job)
        pending = still
        if not pending:
            break
        if clock() - start + delay > timeout:
            return pending
        sleep(delay)
        delay = min(max_interval, max(delay * 1.5, 0.05))
    return []
