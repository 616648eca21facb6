"""Export a ``SendPlan`` to zipped CSV chunks, host each, and submit it to VAN (the protocol: ledger/store.py).

``submit_chunk`` returns what happened to one chunk as a value (``Submitted``, ``Skipped``, ``Refused``,
``Ambiguous``, ``Claimed``) instead of raising, so one chunk's failure never stops the others.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from connector.errors import SubmitAmbiguous, VanConnectError, VanConnectionError, VanError
from connector.export import Chunk, export_query
from connector.ledger import JobState, LedgerStateError, RowClaimConflict, content_key, new_id
from connector.payload import JobSpec, build_payload, choose_resource_type
from connector.redaction import redact
from connector.run.plan import SendPlan

logger = logging.getLogger(__name__)

__all__ = ["Ambiguous", "Claimed", "Refused", "Skipped", "Submitted", "send", "submit_chunk"]


@dataclass(frozen=True)
class Submitted:
    job: dict


@dataclass(frozen=True)
class Skipped:  # identical content already has a job that must not be sent again
    job: dict


@dataclass(frozen=True)
class Refused:  # VAN refused the POST (or was never reached): no job exists
    job_key: str
    message: str


@dataclass(frozen=True)
class Ambiguous:  # the POST may or may not have reached VAN
    job_key: str
    message: str


@dataclass(frozen=True)
class Claimed:  # another job holds some rows; nothing POSTed
    job_key: str
    message: str


def _errors_json(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or [{"code": type(exc).__name__, "text": str(exc)}]
    return redact(json.dumps(errors, default=str))


def delete_hosted(rt, hosted_key: str | None) -> bool:
    """Remove a job's file from the host; True when it is gone (a failure is logged, never raised)."""
    if not hosted_key or rt.host is None:
        return False
    try:
        rt.host.delete(hosted_key)
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the job's outcome
        logger.warning("could not delete hosted file %s: %s", hosted_key, exc)
        return False
    return True


def _mapping_rows(chunk: Chunk, names: Sequence[str], carried) -> Iterator[tuple[str, str]]:
    """(key, mapping type) for each type a row has data for: the primary carries every row of the file."""
    for k in chunk.row_keys():
        yield k, names[0]
        for name in names[1:]:
            if carried is None or k in carried.get(name, ()):
                yield k, name


def submit_chunk(rt, spec: JobSpec, chunk: Chunk, chunk_count: int, *, run_id: str, resource_type: str,
                 source_relation: str, force: bool = False, retry_of_run_id: str | None = None,
                 carried=None, refresh: bool = False):
    """Submit one chunk unless its content already has a job that blocks it (``force`` overrides that guard;
    never the row claim; ``refresh``, a --full-refresh, lets content VAN already processed go again, but not
    content in a job still open or ambiguous). Returns one of the result values above."""
    s, L = rt.settings, rt.ledger
    ck = content_key(spec.mapping_names, rt.api_target, s.database_mode, chunk.sha256)
    # Without --force the job row is written only while no job blocks its content, in the same statement: the
    # guard costs no query of its own (the blocking job is read only when there is one, to say which).
    existing = L.blocking_job_for_content(ck, processed_blocks=not refresh) if force else None
    job_key = new_id()
    fields = {
        "job_key": job_key, "run_id": run_id, "content_key": ck, "mapping_types": spec.label,
        "resource_type": resource_type, "source_relation": source_relation, "api_target": rt.api_target,
        "database_mode": s.database_mode, "chunk_no": chunk.chunk_no, "chunk_count": chunk_count,
        "row_count": chunk.row_count, "file_name": chunk.file_name, "file_sha256": chunk.sha256,
        "zipped_bytes": chunk.zipped_bytes, "forced": bool(force and existing), "retry_of_run_id": retry_of_run_id,
    }
    one_type_file = carried is None and len(spec.mapping_names) == 1  # the engine reads the keys from the file
    rows = None if one_type_file else list(_mapping_rows(chunk, spec.mapping_names, carried))
    pairs = chunk.row_count if one_type_file else len(rows)  # (record_job checks the file holds exactly these)
    guard = None if force else not refresh
    for _ in range(3):  # a blocking job that ended between the two statements no longer blocks: write it again
        if one_type_file:
            recorded = L.record_job(fields, csv_path=chunk.csv_path, columns=chunk.columns,
                                    mapping_type=spec.mapping_names[0], unless_blocked=guard)
        else:
            recorded = L.record_job(fields, rows, unless_blocked=guard)
        if recorded is not None:
            break
        blocking = L.blocking_job_for_content(ck, processed_blocks=not refresh)
        if blocking is not None:
            return Skipped(blocking)
    else:
        raise LedgerStateError(f"content {ck} of {spec.label} chunk {chunk.chunk_no}: blocked, then not, three times")
    hosted_key = f"{run_id}/{job_key}/{chunk.zip_path.name}"
    hosted = rt.host.put(chunk.zip_path, hosted_key)
    L.mark_uploaded(job_key, hosted.storage_uri, hosted_key)
    payload = build_payload(
        rt.catalog, spec, columns=chunk.columns, file_name=chunk.file_name, source_url=hosted.url,
        resource_type=resource_type,
        description=f"vanbulk {spec.label} run {run_id[:8]} chunk {chunk.chunk_no}/{chunk_count} job {job_key}",
        result_file_size_kb_limit=s.result_file_size_kb_limit)
    try:
        L.mark_submitting(job_key, run_id, carried=pairs)  # claims the rows; committed before the POST
    except RowClaimConflict as exc:
        L.mark_claimed_elsewhere(job_key, str(exc))
        delete_hosted(rt, hosted_key)
        return Claimed(job_key, str(exc))
    try:
        van_job_id = rt.client.create_job(payload)
    except SubmitAmbiguous as exc:
        L.mark_ambiguous(job_key, _errors_json(exc))
        return Ambiguous(job_key, str(exc))
    except VanConnectError as exc:  # never reached VAN: nothing was created
        L.mark_refused(job_key, spec.mapping_names, run_id, redact(f"VAN was not reached: {exc}"),
                       _errors_json(exc))
        delete_hosted(rt, hosted_key)
        return Refused(job_key, str(exc))
    except VanConnectionError as exc:  # the request may have been sent: treat as possibly landed
        L.mark_ambiguous(job_key, _errors_json(exc))
        return Ambiguous(job_key, str(exc))
    except VanError as exc:  # VAN answered and refused (400/401/403, 429 after all retries): no job exists
        L.mark_refused(job_key, spec.mapping_names, run_id, redact(f"VAN refused the job at POST: {exc}"),
                       _errors_json(exc))
        delete_hosted(rt, hosted_key)
        return Refused(job_key, str(exc))
    submitted_at = L.mark_submitted(job_key, van_job_id)
    # the ledger's row as written (not read back: one statement less a job)
    return Submitted({**fields, "local_state": JobState.SUBMITTED.value, "storage_uri": hosted.storage_uri,
                      "hosted_key": hosted_key, "van_job_id": int(van_job_id), "submitted_at": submitted_at})


def send(rt, summary, plan: SendPlan, resources, *, dry_run: bool, force: bool, progress=None) -> list[dict]:
    """Export ``plan`` and submit each chunk; returns the ledger rows of the jobs submitted. ``progress``:
    a ``run.progress.SubmitProgress`` (rows exported, jobs submitted) for the live display. A plan that sends
    no row (``planned_rows == 0``: every row unchanged or held) exports nothing: no query, no empty file."""
    if plan.planned_rows == 0:
        return []
    s = rt.settings
    mts = [rt.catalog.get(n) for n in plan.mapping_names]
    out_dir = Path(s.state_dir) / "exports" / summary.run_id
    chunks = export_query(rt.warehouse, plan.sql, plan.columns, out_dir,
                          f"{plan.spec.label.replace('+', '_')}-p{plan.part}",
                          max_zipped_bytes=s.max_zipped_bytes, max_rows_per_chunk=s.max_rows_per_chunk,
                          on_progress=progress.exporting(plan.spec.label) if progress else None)
    if progress:
        progress.exported(plan.spec.label, sum(c.row_count for c in chunks))
    resource_type = choose_resource_type(mts, resources) if not dry_run else None
    jobs: list[dict] = []
    for c in chunks:
        per_mt = {name: c.row_count for name in plan.mapping_names}
        if plan.carried is not None:
            pairs = list(_mapping_rows(c, plan.mapping_names, plan.carried))
            per_mt = {name: sum(1 for _, m in pairs if m == name) for name in plan.mapping_names}
        for name in plan.mapping_names:
            summary.mt(name).chunks += 1
        if dry_run:
            if progress:
                progress.chunk(plan.spec.label, c)
            continue
        try:
            outcome = submit_chunk(rt, plan.spec, c, len(chunks), run_id=summary.run_id, resource_type=resource_type,
                                   source_relation=plan.relation, force=force,
                                   retry_of_run_id=plan.retry_of_run_id, carried=plan.carried, refresh=plan.refresh)
        finally:
            c.zip_path.unlink(missing_ok=True)
            c.csv_path.unlink(missing_ok=True)
        label = f"{plan.spec.label} chunk {c.chunk_no}"
        if progress:
            progress.chunk(plan.spec.label, c, outcome.job["van_job_id"] if isinstance(outcome, Submitted) else None)
        if isinstance(outcome, Submitted):
            for name in plan.mapping_names:
                summary.mt(name).sent += per_mt[name]
            jobs.append(outcome.job)
            continue
        if isinstance(outcome, Skipped):
            job = outcome.job
            state = JobState(job["local_state"])
            msg = (f"{label}: identical content already in job {job['job_key']} "
                   + (f"(VAN job {job['van_job_id']}, {job['van_status'] or state})" if job.get("van_job_id")
                      else f"({state}: its POST may or may not have reached VAN)")
                   + "; not resubmitted (`--force` sends it anyway)")
            for name in plan.mapping_names:
                summary.mt(name).unchanged += per_mt[name]
        elif isinstance(outcome, Refused):
            msg = redact(f"{label}: VAN refused the job: {outcome.message} (rows recorded as refused; the next "
                         "run sends them again)")
        elif isinstance(outcome, Ambiguous):
            msg = redact(f"{label}: the POST may or may not have reached VAN ({outcome.message}); job key "
                         f"{outcome.job_key}: see docs/sync.md, 'Ambiguous submissions'")
        else:
            msg = f"{label}: {outcome.message}"
            for name in plan.mapping_names:
                summary.mt(name).claimed_elsewhere += per_mt[name]
        rt.events.note(summary.messages, msg, kind="chunk_not_submitted", chunk=label)
    return jobs
