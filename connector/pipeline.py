"""The run: dbt build -> pre-flight -> export -> host -> submit -> poll -> results -> ledger.

``run(settings, ...)`` is the whole nightly job. Without ``VAN_API_KEY`` (``settings.simulated``) it starts
the embedded VAN simulator (demo credentials, state under ``state_dir/simulator``) and says so.

Submission protocol per chunk (why each step is where it is):

1. ``content_key`` = (mapping types, VAN target, database mode, CSV sha256). A job already recorded for it
   is not submitted again unless ``force`` (bulk imports cannot be undone; VAN has no delete).
2. Ledger row + the chunk's row keys written (``exported``), file hosted (``uploaded``).
3. State ``submitting`` committed BEFORE the POST; job id committed right after (``submitted``).
   A crash between leaves ``submitting``: later runs never resubmit it automatically (it is reported as
   ambiguous; check VAN's UI for a job whose description carries the job key, then use ``--force``).
4. Poll; on a terminal status, download every result file at once, parse, anti-join, delete the hosted file.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from connector.catalog import load_catalog
from connector.config import (SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY, ConfigError, Settings,
                              merge_static_values)
from connector.errors import (
    ConnectorError,
    VanPermissionError,
    VanValidationError,
    SubmitAmbiguous,
    VanConnectionError,
    VanError,
)
from connector.export import ROW_KEY, VAN_MAX_COLUMNS, Chunk, export_query
from connector.hosting import Host, open_host
from connector.ledger import AMBIGUOUS_STATES, Ledger, content_key, new_id, utcnow
from connector.payload import COLUMN_SEP, JobSpec, MappingSpec, build_payload, choose_resource_type
from connector.poll import FAILED, JobToPoll, internal_status, poll_jobs
from connector.redaction import redact, strip_query
from connector.results import download_results, parse_results
from connector.van_client import VanClient
from connector.warehouse import Warehouse

logger = logging.getLogger(__name__)

Echo = Callable[[str], None]

__all__ = ["MappingSummary", "Runtime", "RunSummary", "run", "runtime", "finish_jobs", "submit_chunk"]


# -- summary ---------------------------------------------------------------------------------------
@dataclass
class MappingSummary:
    mapping_type: str
    rows_checked: int = 0
    rejected: int = 0  # by pre-flight, never sent
    blocked: bool = False
    to_send: int = 0  # rows that passed pre-flight
    sent: int = 0  # rows in jobs submitted by this run
    unchanged: int = 0  # rows in chunks already submitted earlier with identical content
    processed: int = 0
    failed: int = 0
    not_in_results: int = 0
    pending: int = 0  # in jobs still running at VAN
    ambiguous: int = 0  # in chunks whose POST may or may not have reached VAN
    refused: int = 0  # in jobs VAN refused at POST (400/403): nothing imported, resubmittable
    chunks: int = 0
    van_job_ids: list[int] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: str
    status: str = "running"
    simulated: bool = False
    dry_run: bool = False
    warehouse: str = ""
    duckdb_path: str | None = None
    schema: str = ""
    mapping_types: dict[str, MappingSummary] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    data_docs_path: str | None = None

    def mt(self, name: str) -> MappingSummary:
        return self.mapping_types.setdefault(name, MappingSummary(name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return self.status in ("success", "dry_run")

    def render(self) -> str:
        cols = ["mapping type", "checked", "rejected", "sent", "unchanged", "processed", "failed",
                "not_in_results", "pending", "not_sent", "jobs"]
        rows = []
        for s in self.mapping_types.values():
            rows.append([s.mapping_type + (" (blocked)" if s.blocked else ""), s.rows_checked, s.rejected,
                         s.sent if not self.dry_run else f"{s.to_send} (dry run)", s.unchanged, s.processed,
                         s.failed, s.not_in_results, s.pending + s.ambiguous, s.refused,
                         ",".join(map(str, s.van_job_ids)) or "-"])
        widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows)] if rows else [len(c) for c in cols]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [f"run {self.run_id}: {self.status}" + (" (simulated VAN)" if self.simulated else ""),
                 fmt.format(*cols), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*map(str, r)) for r in rows]
        lines += self.messages
        where = self.duckdb_path or self.warehouse
        q = f"{self.schema}." if self.schema and self.schema != "main" else ""
        lines += ["", f"ledger: {where} (schema {self.schema})",
                  f"  duckdb {self.duckdb_path}" if self.duckdb_path else "",
                  f"  select mapping_type, row_status, count(*) from {q}van_bulk_row_results "
                  f"where run_id = '{self.run_id}' group by all;",
                  f"  select van_job_id, mapping_types, van_status, local_state, row_count, rows_failed "
                  f"from {q}van_bulk_jobs order by created_at desc;",
                  f"  select * from {q}van_bulk_row_latest where row_status <> 'processed';",
                  f"  select * from {q}van_preflight_rejects where run_id = '{self.run_id}';"]
        if self.data_docs_path:
            lines.append(f"pre-flight Data Docs: {self.data_docs_path}")
        return "\n".join(line for line in lines if line != "")


# -- runtime: VAN client, host, warehouse (and the simulator when there is no key) -------------------
@dataclass
class Runtime:
    settings: Settings
    warehouse: Warehouse
    ledger: Ledger
    client: VanClient | None
    host: Host | None
    catalog: Any
    echo: Echo
    api_target: str
    simulator: Any = None
    sleep: Callable[[float], None] = time.sleep


@contextmanager
def runtime(settings: Settings, *, echo: Echo | None = None, need_van: bool = True, need_host: bool = True,
            client: VanClient | None = None, host: Host | None = None, storage_options: dict | None = None,
            simulator_config: Any = None, sleep: Callable[[float], None] = time.sleep) -> Iterator[Runtime]:
    echo = echo or (lambda s: logger.info("%s", s))
    with ExitStack() as stack:
        sim = None
        if settings.simulated and need_van and client is None:
            from connector.simulator import SimulatorConfig, SimulatorServer

            sim = stack.enter_context(SimulatorServer(
                state_dir=Path(settings.state_dir) / "simulator", host="127.0.0.1", port=0,
                config=simulator_config or SimulatorConfig()))
            settings = settings.replace(api_base_url=sim.base_url, application_name=SIMULATOR_DEMO_APPLICATION,
                                        api_key=SIMULATOR_DEMO_KEY, use_simulator=True,
                                        poll_interval_seconds=min(settings.poll_interval_seconds, 0.5),
                                        poll_max_interval_seconds=min(settings.poll_max_interval_seconds, 2.0))
            echo(f"No VAN_API_KEY set: using the embedded VAN simulator at {sim.base_url} "
                 f"(demo credentials, state in {Path(settings.state_dir) / 'simulator'})")
        if client is None and need_van:
            client = stack.enter_context(VanClient.from_settings(settings, sleep=sleep))
        if host is None and need_host:
            host = stack.enter_context(open_host(settings, storage_options=storage_options))
            if host.name == "local" and not settings.simulated:
                echo("hosting: local file host; VAN must be able to reach it (set hosting_public_url or use s3://)")
        wh = stack.enter_context(Warehouse(settings.warehouse_url, settings.results_schema))
        ledger = Ledger(wh, settings.results_schema)
        ledger.ensure()
        # The VAN target identifies where jobs went; the simulator's port changes per run, its identity not.
        target = "simulator" if settings.simulated else strip_query(settings.api_base_url)
        yield Runtime(settings, wh, ledger, client, host, load_catalog(), echo, target, sim, sleep)


# -- submission ------------------------------------------------------------------------------------
def submit_chunk(rt: Runtime, spec: JobSpec, chunk: Chunk, chunk_count: int, *, run_id: str,
                 resource_type: str, source_relation: str, force: bool = False,
                 retry_of_run_id: str | None = None, mapping_rows: Sequence[tuple[str, str]] | None = None) -> dict:
    """Submit one chunk unless its content already has a job. Returns the ledger row (new or existing).

    ``mapping_rows`` (multi-mapping jobs): (source_row_key, mapping type) for each type a row has data for."""
    s = rt.settings
    ck = content_key(spec.mapping_names, rt.api_target, s.database_mode, chunk.sha256)
    existing = rt.ledger.find_by_content(ck)
    if existing and not force:
        existing["_skipped"] = True
        return existing
    job_key = new_id()
    rt.ledger.create_job({
        "job_key": job_key, "run_id": run_id, "content_key": ck, "mapping_types": spec.label,
        "resource_type": resource_type, "source_relation": source_relation, "api_target": rt.api_target,
        "database_mode": s.database_mode, "chunk_no": chunk.chunk_no, "chunk_count": chunk_count,
        "row_count": chunk.row_count, "file_name": chunk.file_name, "file_sha256": chunk.sha256,
        "zipped_bytes": chunk.zipped_bytes, "forced": bool(force and existing), "retry_of_run_id": retry_of_run_id,
    }, chunk.row_keys(), mapping_rows)
    hosted_key = f"{run_id}/{job_key}/{chunk.zip_path.name}"
    hosted = rt.host.put(chunk.zip_path, hosted_key)
    rt.ledger.update_job(job_key, local_state="uploaded", storage_uri=hosted.storage_uri, hosted_key=hosted_key)
    payload = build_payload(
        rt.catalog, spec, columns=chunk.columns, file_name=chunk.file_name, source_url=hosted.url,
        resource_type=resource_type,
        description=f"vanbulk {spec.label} run {run_id[:8]} chunk {chunk.chunk_no}/{chunk_count} job {job_key}",
        result_file_size_kb_limit=s.result_file_size_kb_limit)
    rt.ledger.update_job(job_key, local_state="submitting")  # committed before the POST: see module doc
    try:
        van_job_id = rt.client.create_job(payload)
    except SubmitAmbiguous as exc:
        rt.ledger.update_job(job_key, local_state="ambiguous", errors_json=_errors_json(exc))
        raise
    except VanError as exc:
        # VAN answered and refused (400/401/403, 429 after all retries) or was never reached: no job exists.
        definite = not isinstance(exc, VanConnectionError) or "cannot connect" in str(exc)
        rt.ledger.update_job(job_key, local_state="submit_failed" if definite else "ambiguous",
                             errors_json=_errors_json(exc))
        _delete_hosted(rt, hosted_key)
        exc.job_key = job_key  # the caller records the chunk's rows as refused
        raise
    rt.ledger.update_job(job_key, local_state="submitted", van_job_id=van_job_id, submitted_at=utcnow())
    rt.echo(f"submitted {spec.label} chunk {chunk.chunk_no}/{chunk_count}: {chunk.row_count} rows -> VAN job {van_job_id}")
    return rt.ledger.get_job(job_key)


def _errors_json(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or [{"code": type(exc).__name__, "text": str(exc)}]
    return redact(json.dumps(errors, default=str))


def _delete_hosted(rt: Runtime, hosted_key: str | None) -> None:
    if not hosted_key or rt.host is None:
        return
    try:
        rt.host.delete(hosted_key)
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the job's outcome
        logger.warning("could not delete hosted file %s: %s", hosted_key, exc)


# -- completion ------------------------------------------------------------------------------------
def finish_job(rt: Runtime, job: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """A job reached a terminal status: fetch and record its results (idempotent: re-running replaces)."""
    job_key, van_job_id = job["job_key"], job["van_job_id"]
    status = str(body.get("status"))
    mts = str(job["mapping_types"]).split("+")
    errors = body.get("errors") or []
    now = utcnow()
    rt.ledger.update_job(job_key, van_status=status, last_polled_at=now, completed_at=now,
                         errors_json=redact(json.dumps(errors)) if errors else None,
                         local_state="failed" if internal_status(status) == FAILED else "completed")
    files = []
    if internal_status(status) != FAILED:
        dest = Path(rt.settings.state_dir) / "results" / str(van_job_id)
        files = download_results(rt.client, body, dest)
        rows = parse_results(files, mts, job_key=job_key, van_job_id=van_job_id, run_id=job["run_id"], loaded_at=now)
        rt.ledger.replace_results(job_key, rows)
        rt.ledger.drop_uncarried_results(job_key)
    else:
        rt.ledger.replace_results(job_key, [])
    rt.ledger.add_not_in_results(job_key, mts, van_job_id, job["run_id"])
    if internal_status(status) == FAILED:
        # Every row of a failed job failed with the job's error (so retry-failed picks them up).
        msg = "; ".join(f"{e.get('code')}: {e.get('text')}" + (f" (referenceCode {e['referenceCode']})"
                                                              if e.get("referenceCode") else "") for e in errors)
        rt.ledger.wh.execute(
            f"update {rt.ledger.rel('van_bulk_row_results')} set row_status = 'failed', error_category = 'job_failed', "
            f"first_error_message = :m where job_key = :k", {"m": redact(msg) or "job failed", "k": job_key})
        rt.echo(f"VAN job {van_job_id} ({job['mapping_types']}) FAILED: {redact(msg)}")
    counts = rt.ledger.status_counts(job_key)
    rt.ledger.update_job(
        job_key, local_state="results_loaded" if internal_status(status) != FAILED else "failed",
        result_file_count=len(files),
        result_files_json=json.dumps([{"url": f.url, "dateExpired": f.date_expired, "path": str(f.path)} for f in files]),
        result_files_expire_at=min((f.date_expired for f in files if f.date_expired), default=None),
        rows_processed=counts.get("processed", 0), rows_failed=counts.get("failed", 0),
        rows_not_in_results=counts.get("not_in_results", 0))
    _delete_hosted(rt, job.get("hosted_key"))
    rt.ledger.update_job(job_key, hosted_deleted_at=utcnow())
    if internal_status(status) != FAILED:
        rt.echo(f"VAN job {van_job_id} ({job['mapping_types']}): {status}; processed {counts.get('processed', 0)}, "
                f"failed {counts.get('failed', 0)}, not in results {counts.get('not_in_results', 0)}")


def finish_jobs(rt: Runtime, jobs: Sequence[Mapping[str, Any]], *, timeout: float | None = None) -> list[dict]:
    """Poll ``jobs`` (ledger rows with a VAN job id) to the end; returns those still running at timeout."""
    by_key = {j["job_key"]: j for j in jobs if j.get("van_job_id") is not None}
    if not by_key:
        return []
    s = rt.settings
    now = time.time()

    def submitted(j) -> float:
        ts = j.get("submitted_at")
        return ts.replace(tzinfo=timezone.utc).timestamp() if isinstance(ts, datetime) else now

    to_poll = [JobToPoll(k, int(j["van_job_id"]), submitted(j)) for k, j in by_key.items()]

    def on_status(p: JobToPoll, body: Mapping[str, Any]) -> None:
        rt.ledger.update_job(p.job_key, van_status=str(body.get("status")), last_polled_at=utcnow(),
                             local_state="polling")

    def on_terminal(p: JobToPoll, body: Mapping[str, Any]) -> None:
        finish_job(rt, by_key[p.job_key], body)

    left = poll_jobs(rt.client, to_poll, interval=s.poll_interval_seconds, max_interval=s.poll_max_interval_seconds,
                     timeout=s.poll_timeout_seconds if timeout is None else timeout,
                     on_status=on_status, on_terminal=on_terminal, sleep=rt.sleep)
    for p in left:
        rt.ledger.update_job(p.job_key, local_state="timed_out")
    return [by_key[p.job_key] for p in left]


# -- the run ---------------------------------------------------------------------------------------
def resolve_mapping_types(catalog, select: Sequence[str] | None, database_mode: int) -> tuple[list[str], list[str]]:
    """(mapping type names, dbt selectors). Names select mapping types; anything else passes to dbt."""
    if not select:
        return [mt.name for mt in catalog.for_database_mode(database_mode)], []
    names, dbt_sel = [], []
    for item in select:
        for part in str(item).replace(",", " ").split():
            mt = catalog.find(part)
            if mt is not None:
                names.append(mt.name)
                dbt_sel.append(f"+{mt.staging_view}")  # with its parents (seeds, inputs)
            else:
                dbt_sel.append(part)
    return list(dict.fromkeys(names)), dbt_sel


def run(settings: Settings, select: Sequence[str] | None = None, *, dry_run: bool = False, resume: bool = False,
        force: bool = False, wait: bool = True, vars: Mapping[str, Any] | str | None = None,
        skip_dbt: bool = False, echo: Echo | None = None, preflight: Callable | None = None,
        static_values: Mapping[str, Mapping[str, Any]] | None = None,
        **runtime_kwargs: Any) -> RunSummary:
    """The whole nightly job; see the module docstring. Returns a summary accounting for every row."""
    echo = echo or (lambda s: logger.info("%s", s))
    run_id = new_id()
    with runtime(settings, echo=echo, need_host=not dry_run, **runtime_kwargs) as rt:
        s = rt.settings
        summary = RunSummary(run_id, simulated=s.simulated, dry_run=dry_run, warehouse=rt.warehouse.redacted_url(),
                             duckdb_path=rt.warehouse.duckdb_path, schema=rt.ledger.schema)
        rt.ledger.start_run(run_id, "run", selector=" ".join(select or []) or None, target=s.target,
                            dry_run=dry_run, simulated=s.simulated,
                            args={"resume": resume, "force": force, "wait": wait, "vars": vars})
        try:
            _run(rt, summary, select, dry_run=dry_run, resume=resume, force=force, wait=wait, vars=vars,
                 skip_dbt=skip_dbt, preflight=preflight, static_values=static_values or {})
        except BaseException as exc:
            summary.status = "error"
            summary.messages.append(f"error: {redact(exc)}")
            rt.ledger.finish_run(run_id, "error", summary.to_dict())
            raise
        rt.ledger.finish_run(run_id, summary.status, summary.to_dict())
        return summary


def _run(rt: Runtime, summary: RunSummary, select, *, dry_run, resume, force, wait, vars, skip_dbt,
         preflight, static_values) -> None:
    s, echo, run_id = rt.settings, rt.echo, summary.run_id
    earlier = rt.ledger.in_flight()
    if resume and earlier and not dry_run:
        echo(f"resuming {len(earlier)} job(s) in flight from earlier runs")
        finish_jobs(rt, earlier)
    elif earlier:
        summary.messages.append(f"{len(earlier)} job(s) from earlier runs still in flight: "
                                "`vanbulk status` or `vanbulk run --resume` collects them")
    names, dbt_select = resolve_mapping_types(rt.catalog, select, s.database_mode)
    if not skip_dbt:
        from connector.dbt_runner import build

        echo(f"dbt build ({' '.join(dbt_select) if dbt_select else 'all staging views'})")
        build(s, select=dbt_select or None, vars=vars)
    if rt.simulator is not None:
        from connector.demo_world import seed_simulator

        n_contacts, n_records = seed_simulator(rt.warehouse, rt.simulator)
        if n_contacts or n_records:
            echo(f"simulator: loaded the demo's existing VAN records ({n_contacts} contacts, {n_records} contributions)")
    names = [n for n in names if rt.warehouse.relation_exists(rt.catalog.get(n).staging_view, s.staging_schema)]
    if not names:
        summary.status = "success"
        summary.messages.append("no staging views to send")
        return
    resources = available = None
    if not dry_run:
        resources = rt.client.get_resources()
        available = [m.get("name") for m in rt.client.list_mapping_types() if isinstance(m, Mapping)]
    if preflight is None:
        from connector.preflight import run_preflight as preflight

    static_values = resolve_static_values(rt.catalog, s.static_values, static_values)
    echo(f"pre-flight checks: {', '.join(names)}")
    report = preflight(rt.warehouse, rt.catalog, names, run_id, s,
                       available_mapping_types=set(available) if available is not None else None,
                       static_values=static_values)
    summary.data_docs_path = str(getattr(report, "data_docs_path", "") or "") or None
    submitted: list[dict] = []
    plans = _plan_combined(rt, summary, names, report, static_values)
    in_plan = {n: p for p in plans for n in p.names}
    for name in names:
        mt = rt.catalog.get(name)
        res = report.results.get(name) if hasattr(report.results, "get") else report.results[name]
        ms = summary.mt(name)
        if res is None:
            continue
        ms.rows_checked, ms.rejected, ms.blocked = int(res.rows_checked), int(res.rows_rejected), bool(res.blocked)
        if name in in_plan:
            plan = in_plan[name]
            ms.rejected = plan.rejected[name]
            if name != plan.names[0]:  # the extra's rows whose key the primary view lacks go in a job of their own
                submitted += _send_view(rt, summary, JobSpec((MappingSpec(name, dict(static_values.get(name, {}))),)),
                                        plan.alone_sql[name], f"{s.staging_schema}.{mt.staging_view}", resources,
                                        dry_run=dry_run, force=force, part=2)
            continue
        if res.blocked:
            reasons = "; ".join(getattr(res, "block_reasons", None) or []) or "blocked by pre-flight"
            msg = (f"{name}: blocked ({reasons}); nothing sent, all {ms.rejected} row(s) recorded in "
                   "van_preflight_rejects")
            echo(msg)
            summary.messages.append(msg)
            continue
        for part_no, (sql, group) in enumerate(_passing_sqls(res), start=1):
            statics = dict(static_values.get(name, {}))
            need = [f.name for f in mt.required_fields if not f.can_be_mapped_to_column and f.name not in statics]
            if need:
                msg = (f"{name}: required field(s) {', '.join(need)} cannot come from a column; give them with "
                       f"--static {name}.{need[0]}=VALUE (not sent)")
                echo(msg)
                summary.messages.append(msg)
                ms.refused += ms.rows_checked - ms.rejected
                break
            submitted += _send_view(rt, summary, JobSpec((MappingSpec(name, statics),)), sql,
                                    f"{s.staging_schema}.{mt.staging_view}", resources, dry_run=dry_run,
                                    force=force, part=part_no, only_columns=group)
    for plan in plans:
        submitted += _send_view(rt, summary, plan.spec, plan.sql, plan.relation, resources, dry_run=dry_run,
                                force=force, columns=[c for c, _, _ in plan.columns], carried=plan.carried)
    if dry_run:
        summary.status = "dry_run"
        return
    if wait and submitted:
        echo(f"waiting for {len(submitted)} VAN job(s)")
        left = finish_jobs(rt, submitted)
        if left:
            summary.messages.append(f"{len(left)} job(s) still running after {s.poll_timeout_seconds:.0f}s; "
                                    "`vanbulk status` or `vanbulk run --resume` collects them")
    _account(rt, summary)
    summary.status = "success"


def _passing_sqls(res) -> list[tuple[str, list[str] | None]]:
    """(SELECT, columns) per file: pre-flight may split a view into column groups (disclosure categories)."""
    sqls = list(getattr(res, "split_rows_sql", None) or [])
    groups = list(getattr(res, "split", None) or [])
    if sqls:
        return [(sql, list(groups[i]) if i < len(groups) else None) for i, sql in enumerate(sqls)]
    return [(res.passing_rows_sql, None)]


def _send_view(rt: Runtime, summary: RunSummary, spec: JobSpec, sql: str, relation: str, resources, *,
               dry_run: bool, force: bool, part: int = 1, retry_of_run_id: str | None = None,
               only_columns: Sequence[str] | None = None, columns: Sequence[str] | None = None,
               carried: Mapping[str, set[str]] | None = None) -> list[dict]:
    """Export ``sql`` and submit each chunk. A combined job passes its ``columns`` and ``carried``: the keys
    each extra mapping type has data for (the first mapping type carries every row of the file)."""
    s = rt.settings
    mts = [rt.catalog.get(n) for n in spec.mapping_names]
    if columns is None:
        columns = _file_columns(rt, mts, relation, {m.name: m.static_values for m in spec.mappings})
    columns = list(columns)
    if only_columns:
        keep = {c.lower() for c in only_columns} | {ROW_KEY}
        columns = [c for c in columns if c.lower() in keep]
    out_dir = Path(s.state_dir) / "exports" / summary.run_id
    chunks = export_query(rt.warehouse, sql, columns, out_dir, f"{spec.label.replace('+', '_')}-p{part}",
                          max_zipped_bytes=s.max_zipped_bytes, max_rows_per_chunk=s.max_rows_per_chunk)
    resource_type = choose_resource_type(mts, resources) if not dry_run else None
    jobs: list[dict] = []
    for c in chunks:
        mapping_rows = None
        per_mt = {name: c.row_count for name in spec.mapping_names}
        if carried is not None:
            primary = spec.mapping_names[0]
            mapping_rows = []
            for k in c.row_keys():
                mapping_rows.append((k, primary))
                mapping_rows += [(k, name) for name in spec.mapping_names[1:] if k in carried.get(name, ())]
            per_mt = {name: sum(1 for _, m in mapping_rows if m == name) for name in spec.mapping_names}
        for name in spec.mapping_names:
            summary.mt(name).to_send += per_mt[name]
            summary.mt(name).chunks += 1
        if dry_run:
            ck = content_key(spec.mapping_names, rt.api_target, s.database_mode, c.sha256)
            if rt.ledger.find_by_content(ck) and not force:
                for name in spec.mapping_names:
                    summary.mt(name).unchanged += per_mt[name]
            rt.echo(f"[dry run] {spec.label} chunk {c.chunk_no}/{len(chunks)}: {c.row_count} rows, "
                    f"{c.zipped_bytes} bytes zipped -> {c.zip_path}")
            continue
        try:
            job = submit_chunk(rt, spec, c, len(chunks), run_id=summary.run_id, resource_type=resource_type,
                               source_relation=relation, force=force, retry_of_run_id=retry_of_run_id,
                               mapping_rows=mapping_rows)
        except (VanValidationError, VanPermissionError) as exc:
            # VAN refused this job (no job exists; ledger row submit_failed): the other mapping types go on.
            # Its rows get row_status 'refused' with VAN's error, counted by _account.
            msg = redact(f"{spec.label} chunk {c.chunk_no}: VAN refused the job: {exc}")
            rt.echo(msg)
            summary.messages.append(msg)
            if getattr(exc, "job_key", None):
                rt.ledger.add_refused(exc.job_key, spec.mapping_names, summary.run_id,
                                      redact(f"VAN refused the job at POST: {exc}"))
            else:  # not recorded in the ledger: count here so the summary still adds up
                for name in spec.mapping_names:
                    summary.mt(name).refused += per_mt[name]
            continue
        finally:
            c.zip_path.unlink(missing_ok=True)
            c.keys_path.unlink(missing_ok=True)
        if job.pop("_skipped", False):
            state = job["local_state"]
            for name in spec.mapping_names:
                if state in AMBIGUOUS_STATES:
                    summary.mt(name).ambiguous += per_mt[name]
                else:
                    summary.mt(name).unchanged += per_mt[name]
            msg = (f"{spec.label} chunk {c.chunk_no}: identical content already "
                   + (f"in VAN job {job['van_job_id']} ({job['van_status'] or job['local_state']})"
                      if job.get("van_job_id") else f"recorded as {state} (job key {job['job_key']}); "
                      "its POST may or may not have reached VAN: check VAN, then --force to resubmit")
                   + "; not resubmitted")
            rt.echo(msg)
            if state in AMBIGUOUS_STATES:
                summary.messages.append(msg)
            continue
        for name in spec.mapping_names:
            summary.mt(name).sent += per_mt[name]
        jobs.append(job)
    return jobs


def resolve_static_values(catalog, *layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, str]]:
    """Settings' ``static_values`` merged with the CLI's (later wins), keyed by canonical mapping type name."""
    out: dict[str, dict[str, str]] = {}
    for layer in layers:  # resolved per layer, so a display name in one layer and the API name in another merge
        for mt_name, fields in merge_static_values(layer).items():
            mt = catalog.find(mt_name)
            if mt is None:
                raise ConfigError(f"static_values: unknown mapping type {mt_name!r}")
            out.setdefault(mt.name, {}).update(fields)
    return out


def excluded_by_statics(catalog, mt, statics: Mapping[str, Any]) -> set[str]:
    """Fields (lower case) whose parent is a static value outside their ``limitedToParentValues``.

    VAN refuses a job that maps such a field (CF201 of group 502 under CustomFieldGroupID 501), so the file
    leaves the column out; pre-flight has already rejected every row that carries a value in it."""
    from connector.preflight.rules import accepted_values

    given = {k.lower(): str(v).strip() for k, v in (statics or {}).items()}
    out: set[str] = set()
    for f in mt.fields:
        for p in f.parents:
            v = given.get(p.parent_field.lower())
            if v is None or p.limited_to_parent_values is None:
                continue
            ids, names = accepted_values(catalog, mt, p.parent_field, p.limited_to_parent_values)
            if v not in set(ids) | set(p.limited_to_parent_values) and v.lower() not in names:
                out.add(f.name.lower())
    return out


def _file_columns(rt: Runtime, mts, relation: str, statics: Mapping[str, Mapping[str, Any]] | None = None
                  ) -> list[str]:
    """``source_row_key``, key columns, then every column-mappable field the view carries (contract order),
    minus fields a static parent value does not allow."""
    schema, view = relation.split(".", 1)
    have = {c.lower(): c for c in rt.warehouse.columns(view, schema)}
    cols: list[str] = []
    for mt in mts:
        drop = excluded_by_statics(rt.catalog, mt, (statics or {}).get(mt.name, {}))
        for c in mt.staging_columns:
            if c.lower() in have and c not in cols and c.lower() not in drop:
                cols.append(have[c.lower()])
    if ROW_KEY not in cols:
        raise ConnectorError(f"{relation} has no {ROW_KEY} column")
    return cols


# -- multi-mapping (combined) jobs ---------------------------------------------------------------------
COMBINED_RULE = "combined_job"
KEY_CONFLICT_RULE = "combined_key_conflict"


@dataclass
class CombinedPlan:
    names: list[str]  # primary first
    spec: JobSpec
    relation: str  # label for the ledger: the primary view + the extras'
    columns: list[tuple[str, int, str]]  # (file column, view index, view column)
    sql: str
    carried: dict[str, set[str]]  # extra mapping type -> keys of the file that carry its data
    alone_sql: dict[str, str]  # extra mapping type -> its passing rows whose key the primary view lacks
    rejected: dict[str, int]  # distinct rejected keys per mapping type after waiver and propagation


def combined_columns(views: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> list[tuple[str, int, str]]:
    """File columns of a combined job: ``views`` = (mapping type, its file columns, its key columns), primary
    first. Returns (file column, view index, view column): ``source_row_key`` and key columns once (from the
    first view that has them), every other column once; a name already taken is prefixed
    ``<MappingType>__`` (the payload binds such a column to that mapping type). More than VAN's 50: error."""
    out: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for i, (name, cols, key_cols) in enumerate(views):
        keys = {k.lower() for k in key_cols} | {ROW_KEY.lower()}
        for c in cols:
            alias = c
            if c.lower() in seen:
                if c.lower() in keys:
                    continue
                alias = f"{name}{COLUMN_SEP}{c}"
                if alias.lower() in seen:
                    raise ConnectorError(f"combined job: column {alias} twice")
            out.append((alias, i, c))
            seen.add(alias.lower())
    if len(out) > VAN_MAX_COLUMNS:
        raise ConnectorError(
            f"combined job {'+'.join(v[0] for v in views)}: {len(out)} file columns, VAN accepts at most "
            f"{VAN_MAX_COLUMNS}; combine fewer mapping types")
    return out


def _plan_combined(rt: Runtime, summary: RunSummary, names: Sequence[str], report,
                   static_values: Mapping[str, Mapping[str, Any]]) -> list[CombinedPlan]:
    """``settings.combined_jobs`` for this run: adjust the run's rejects (waive the extras' key-required
    rejects for keys the creating primary carries; reject a key in every included view once it is rejected
    in one) and build each combined file's SELECT. See docs/connector.md "Multi-mapping jobs"."""
    s, cat, wh = rt.settings, rt.catalog, rt.warehouse
    if not s.combined_jobs:
        return []
    from connector.preflight.rejects import ensure_table

    rejects = ensure_table(wh, rt.ledger.schema)
    q, run_id = wh.quote, summary.run_id
    plans: list[CombinedPlan] = []
    used: set[str] = set()
    for entry in s.combined_jobs:
        wanted = []
        for n in entry["mapping_types"]:
            mt = cat.find(n)
            if mt is None:
                raise ConfigError(f"combined_jobs: unknown mapping type {n!r}")
            if mt.name in used or mt.name in wanted:
                raise ConfigError(f"combined_jobs: {mt.name} is in more than one combined job")
            wanted.append(mt.name)
        used |= set(wanted)
        included = []
        for n in wanted:
            res = report.results.get(n) if n in names else None
            mt = cat.get(n)
            statics = static_values.get(n, {})
            if res is None or res.blocked or len(_passing_sqls(res)) > 1 or any(
                    not f.can_be_mapped_to_column and f.name not in statics for f in mt.required_fields):
                continue  # not selected, blocked, split by disclosure or missing a static value: handled alone
            included.append(n)
        if len(included) < 2 or included[0] != wanted[0]:
            if any(n in names for n in wanted):
                msg = (f"combined job {entry['name']}: not combined this run (needs {wanted[0]} and at least one "
                       f"extra, selected and not blocked); {', '.join(n for n in wanted if n in names)} sent alone")
                rt.echo(msg)
                summary.messages.append(msg)
            continue
        plans.append(_plan_one(rt, run_id, included, report, static_values, rejects))
    return plans


def _plan_one(rt: Runtime, run_id: str, included: list[str], report, static_values, rejects: str) -> CombinedPlan:
    s, cat, wh = rt.settings, rt.catalog, rt.warehouse
    q = wh.quote
    primary, extras = included[0], included[1:]
    pmt = cat.get(primary)
    views = {n: wh.relation(cat.get(n).staging_view, s.staging_schema) for n in included}
    passing = {n: report.results[n].passing_rows_sql for n in included}
    p_fields = {f.name.lower() for f in pmt.fields}
    label = "+".join(included)
    now = utcnow()
    with wh.begin() as c:
        ex = lambda sql, **kw: c.execute(sa_text(sql), {"r": run_id, "t": now, **kw})  # noqa: E731
        for e in extras:
            emt = cat.get(e)
            for k in [k for k in emt.key_columns if k.lower() not in {f.name.lower() for f in emt.fields}]:
                if k.lower() in p_fields or pmt.meta.get("createsRecords"):
                    # The primary creates (or names) the record in the same job: a blank key is not an error.
                    ex(f"delete from {rejects} where run_id = :r and mapping_type = :m and rule = 'required' "
                       f"and lower(column_name) = lower(:k) and source_row_key in (select source_row_key from "
                       f"({passing[primary]}) p) and source_row_key not in (select x.source_row_key from {rejects} x "
                       f"where x.run_id = :r and x.mapping_type = :m and not (x.rule = 'required' "
                       f"and lower(x.column_name) = lower(:k)))", m=e, k=k)
                if k in pmt.staging_columns:
                    # One key column in the file (the primary's): an extra naming another record is rejected.
                    ex(f"insert into {rejects} (run_id, mapping_type, source_row_key, rule, column_name, value, "
                       f"message, checked_at) select :r, :m, e.source_row_key, :rule, :k, e.{q(k)}, "
                       f"'{k} differs from {primary}''s {k} for the same source_row_key (combined job)', :t "
                       f"from {views[e]} e join {views[primary]} p on p.source_row_key = e.source_row_key "
                       f"where e.{q(k)} is not null and trim(e.{q(k)}) <> '' and (p.{q(k)} is null "
                       f"or trim(p.{q(k)}) <> trim(e.{q(k)})) and not exists (select 1 from {rejects} x "
                       f"where x.run_id = :r and x.mapping_type = :m and x.source_row_key = e.source_row_key)",
                       m=e, k=k, rule=KEY_CONFLICT_RULE)
        in_list = ", ".join(f"'{n}'" for n in included)
        for n in included:  # rejected in one included view: sent in none
            ex(f"insert into {rejects} (run_id, mapping_type, source_row_key, rule, column_name, value, message, "
               f"checked_at) select distinct :r, :m, v.source_row_key, :rule, cast(null as varchar), "
               f"cast(null as varchar), 'rejected in another mapping type of the combined job {label}', :t "
               f"from {views[n]} v where exists (select 1 from {rejects} x where x.run_id = :r "
               f"and x.mapping_type in ({in_list}) and x.source_row_key = v.source_row_key) and not exists ("
               f"select 1 from {rejects} x where x.run_id = :r and x.mapping_type = :m "
               f"and x.source_row_key = v.source_row_key)", m=n, rule=COMBINED_RULE)
    rejected = {n: int(wh.scalar(f"select count(distinct source_row_key) from {rejects} where run_id = :r "
                                 "and mapping_type = :m", {"r": run_id, "m": n}) or 0) for n in included}
    per_view = []
    for n in included:
        mt = cat.get(n)
        per_view.append((n, _file_columns(rt, [mt], f"{s.staging_schema}.{mt.staging_view}",
                                          {n: static_values.get(n, {})}), mt.key_columns))
    columns = combined_columns(per_view)
    alias = {0: "p", **{i: f"e{i}" for i in range(1, len(included))}}
    select = ", ".join(f"{alias[i]}.{q(src)} as {q(col)}" for col, i, src in columns)
    joins = "".join(f" left join ({passing[e]}) e{i} on e{i}.source_row_key = p.source_row_key"
                    for i, e in enumerate(extras, start=1))
    sql = f"select {select} from ({passing[primary]}) p{joins}"
    carried = {e: {str(k) for (k,) in wh.fetchall(
        f"select e.source_row_key from ({passing[e]}) e where e.source_row_key in (select source_row_key from "
        f"({passing[primary]}) p)")} for e in extras}
    alone = {e: f"select e.* from ({passing[e]}) e where e.source_row_key not in (select source_row_key "
                f"from {views[primary]} where source_row_key is not null)" for e in extras}
    specs = tuple(MappingSpec(n, dict(static_values.get(n, {}))) for n in included)
    relation = " + ".join(f"{s.staging_schema}.{cat.get(n).staging_view}" for n in included)
    return CombinedPlan(included, JobSpec(specs), relation, columns, sql, carried, alone, rejected)


def sa_text(sql: str):
    import sqlalchemy as sa

    return sa.text(sql)


def _account(rt: Runtime, summary: RunSummary) -> None:
    """Fill processed / failed / not_in_results / pending from the ledger for this run's jobs."""
    L = rt.ledger
    for r in L.query(f"select r.mapping_type, r.row_status, count(*) as n from {L.rel('van_bulk_row_results')} r "
                     f"join {L.rel('van_bulk_jobs')} j on j.job_key = r.job_key where j.run_id = :r "
                     "group by r.mapping_type, r.row_status", {"r": summary.run_id}):
        ms = summary.mt(r["mapping_type"])
        if r["row_status"] in ("processed", "failed", "not_in_results", "refused"):
            setattr(ms, r["row_status"], getattr(ms, r["row_status"]) + int(r["n"]))
    for j in L.jobs(run_id=summary.run_id):
        names = str(j["mapping_types"]).split("+")
        waiting = j["local_state"] in ("submitted", "polling", "timed_out", *AMBIGUOUS_STATES)
        carried = L.carried_counts(j["job_key"]) if waiting and len(names) > 1 else {}
        for name in names:
            ms = summary.mt(name)
            n = carried.get(name, 0) if carried else int(j["row_count"] or 0)
            if j["van_job_id"] is not None and j["van_job_id"] not in ms.van_job_ids:
                ms.van_job_ids.append(int(j["van_job_id"]))
            if j["local_state"] in ("submitted", "polling", "timed_out"):
                ms.pending += n
            elif j["local_state"] in AMBIGUOUS_STATES:
                ms.ambiguous += n
