"""The Python API for orchestrators (Airflow, Dagster, Prefect, cron): the same operations as the CLI.

>>> from connector import load_settings, run
>>> summary = run(load_settings("path/to/project"), select=["ActivistCode"])
>>> summary.ok, summary.mapping_types["ActivistCode"].failed
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx

from connector.config import Settings
from connector.errors import ConnectorError, VanError
from connector.ledger import new_id, utcnow
from connector.payload import JobSpec, MappingSpec
from connector.pipeline import (
    RunSummary,
    _account,
    _send_view,
    finish_job,
    finish_jobs,
    resolve_static_values,
    run,
    runtime,
)
from connector.redaction import redact
from connector.results import ResultFile, parse_results

logger = logging.getLogger(__name__)

__all__ = ["CheckResult", "debug", "refresh_catalog", "results", "retry_failed", "run", "status"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def status(settings: Settings, *, wait: bool = False, limit: int = 20, echo: Callable[[str], None] | None = None,
           **runtime_kwargs: Any) -> list[dict]:
    """Poll every job in flight once (or until done with ``wait``), load results of finished ones,
    and return the most recent jobs from the ledger."""
    with runtime(settings, echo=echo, **runtime_kwargs) as rt:
        flying = rt.ledger.in_flight()
        if flying:
            rt.echo(f"{len(flying)} job(s) in flight: polling")
            finish_jobs(rt, flying, timeout=None if wait else 0.0)
        return rt.ledger.query(f"select * from {rt.ledger.rel('van_bulk_jobs')} order by created_at desc limit {int(limit)}")


def results(settings: Settings, van_job_id: int, *, echo: Callable[[str], None] | None = None,
            **runtime_kwargs: Any) -> dict:
    """(Re)fetch a job's result files and reload its rows. Uses the raw copies when VAN's links expired."""
    with runtime(settings, echo=echo, **runtime_kwargs) as rt:
        job = rt.ledger.get_job(van_job_id=van_job_id)
        if job is None:
            raise ConnectorError(f"VAN job {van_job_id} is not in the ledger")
        body = rt.client.get_job(van_job_id)
        try:
            finish_job(rt, job, body)
        except VanError as exc:
            raw = sorted((Path(rt.settings.state_dir) / "results" / str(van_job_id)).glob("result-*.csv"))
            if not raw:
                raise
            rt.echo(f"result links unusable ({exc}); re-parsing {len(raw)} raw file(s) kept locally")
            files = [ResultFile(int(p.stem.split("-")[1]), p, "", None) for p in raw]
            mts = str(job["mapping_types"]).split("+")
            rt.ledger.replace_results(job["job_key"], parse_results(
                files, mts, job_key=job["job_key"], van_job_id=van_job_id, run_id=job["run_id"], loaded_at=utcnow()))
            rt.ledger.add_not_in_results(job["job_key"], mts, van_job_id, job["run_id"])
        return rt.ledger.get_job(job["job_key"])


def retry_failed(settings: Settings, run_id: str, *, wait: bool = True, force: bool = False,
                 echo: Callable[[str], None] | None = None, **runtime_kwargs: Any) -> RunSummary:
    """A new job per mapping type from the rows of ``run_id`` that failed or were absent from VAN's results
    (and have not been processed since), read fresh from the staging view so fixed data goes out."""
    if not _RUN_ID.match(run_id or ""):
        raise ConnectorError(f"not a run id: {run_id!r}")
    new_run = new_id()
    with runtime(settings, echo=echo, **runtime_kwargs) as rt:
        s, L = rt.settings, rt.ledger
        summary = RunSummary(new_run, simulated=s.simulated, warehouse=rt.warehouse.redacted_url(),
                             duckdb_path=rt.warehouse.duckdb_path, schema=L.schema)
        L.start_run(new_run, "retry-failed", selector=run_id, simulated=s.simulated, args={"retry_of": run_id})
        rows = L.query(
            f"select r.mapping_type, count(*) as n from {L.rel('van_bulk_row_results')} r "
            f"join {L.rel('van_bulk_jobs')} j on j.job_key = r.job_key where j.run_id = :r "
            "and r.row_status <> 'processed' group by r.mapping_type", {"r": run_id})
        if not rows:
            rt.echo(f"run {run_id}: no failed rows")
        resources = rt.client.get_resources()
        statics = resolve_static_values(rt.catalog, s.static_values)
        jobs: list[dict] = []
        for row in rows:
            mt = rt.catalog.get(row["mapping_type"])
            view = rt.warehouse.relation(mt.staging_view, s.staging_schema)
            q = rt.warehouse.quote
            # Rows failed in that run, unless a later job processed them (latest view).
            sql = (f"select v.* from {view} v where exists (select 1 from {L.rel('van_bulk_row_results')} r "
                   f"join {L.rel('van_bulk_jobs')} j on j.job_key = r.job_key where j.run_id = '{run_id}' "
                   f"and r.mapping_type = '{mt.name}' and r.row_status <> 'processed' "
                   f"and r.source_row_key = v.{q('source_row_key')}) and not exists (select 1 from "
                   f"{L.rel('van_bulk_row_latest')} l where l.mapping_type = '{mt.name}' "
                   f"and l.source_row_key = v.{q('source_row_key')} and l.row_status = 'processed')")
            rt.echo(f"{mt.name}: {row['n']} failed row(s) in run {run_id}")
            summary.mt(mt.name).rows_checked = int(row["n"])
            jobs += _send_view(rt, summary, JobSpec((MappingSpec(mt.name, statics.get(mt.name, {})),)), sql,
                               f"{s.staging_schema}.{mt.staging_view}", resources, dry_run=False, force=force,
                               retry_of_run_id=run_id)
        if wait and jobs:
            finish_jobs(rt, jobs)
        _account(rt, summary)
        summary.status = "success"
        L.finish_run(new_run, "success", summary.to_dict())
        return summary


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str


def debug(settings: Settings, *, echo: Callable[[str], None] | None = None, **runtime_kwargs: Any) -> list[CheckResult]:
    """Check key, database mode, permissions, storage and warehouse; never raises for a failed check."""
    checks: list[CheckResult] = []
    mode = {0: "VoterFile / My Voters", 1: "My Campaign"}[settings.database_mode]
    checks.append(CheckResult("settings", True, f"database mode {settings.database_mode} ({mode}); "
                              f"{'simulated VAN (no VAN_API_KEY)' if settings.simulated else settings.api_base_url}; "
                              f"application {settings.application_name!r}"))
    try:
        with runtime(settings, echo=echo, **runtime_kwargs) as rt:
            checks.append(CheckResult("warehouse", True, f"{rt.warehouse.redacted_url()} (ledger schema {rt.ledger.schema})"))
            try:
                res = rt.client.get_resources()
                checks.append(CheckResult("api key", True, f"accepted; resource types: {', '.join(res)}"))
                names = {m.get("name") for m in rt.client.list_mapping_types()}
                expected = {mt.name for mt in rt.catalog.for_database_mode(rt.settings.database_mode)}
                missing = sorted(expected - names)
                # Permission-gated types (e.g. Suppressions) are missing by default: VAN support enables them.
                gated = [m for m in missing if rt.catalog.get(m).requires_permission]
                other = [m for m in missing if m not in gated]
                checks.append(CheckResult(
                    "permissions", not other, f"{len(names & expected)}/{len(expected)} catalogue mapping types "
                    f"available" + (f"; not available to this key: {', '.join(other)}" if other else "")
                    + (f"; need enabling by VAN support: {', '.join(gated)}" if gated else "")))
            except VanError as exc:
                checks.append(CheckResult("api key", False, str(exc)))
            checks.append(_check_storage(rt))
    except Exception as exc:  # noqa: BLE001 - report, don't crash
        checks.append(CheckResult("runtime", False, redact(exc)))
    return checks


def _check_storage(rt) -> CheckResult:
    key = f"debug/{secrets.token_hex(8)}.txt"
    try:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "probe.txt"
            p.write_bytes(b"vanbulk")
            hosted = rt.host.put(p, key)
        got = httpx.get(hosted.url, timeout=15).content
        rt.host.delete(key)
        gone = not rt.host.exists(key)
        ok = got == b"vanbulk" and gone
        return CheckResult("storage", ok, f"{rt.host.name}: upload, signed GET and delete "
                           f"{'work' if ok else 'FAILED'} ({hosted.storage_uri.rsplit('/', 2)[0]})")
    except Exception as exc:  # noqa: BLE001
        return CheckResult("storage", False, redact(exc))


def refresh_catalog(settings: Settings, out_dir: str | Path, *, names: Sequence[str] | None = None,
                    echo: Callable[[str], None] | None = None, **runtime_kwargs: Any) -> list[str]:
    """Write live metadata (mapping types, predefined values, resources) in the catalogue's layout.

    Point ``VANBULK_CATALOG_DIR`` at ``out_dir``: it overlays the packaged files name by name, and the
    packaged ``meta/`` (formats, keys, evidence) stays in force for mapping types it already knows.
    """
    out = Path(out_dir)
    with runtime(settings, echo=echo, need_host=False, **runtime_kwargs) as rt:
        c = rt.client
        (out / "mapping_types").mkdir(parents=True, exist_ok=True)
        (out / "resources.json").write_text(json.dumps(c.get_resources(), indent=2) + "\n")
        wanted = list(names) if names else [m["name"] for m in c.list_mapping_types()]
        for name in wanted:
            body = c.get_mapping_type(name)
            (out / "mapping_types" / f"{body['name']}.json").write_text(json.dumps(body, indent=2) + "\n")
            for f in body.get("fields") or []:
                if f.get("hasPredefinedValues"):
                    items = c.get_field_values(body["name"], f["name"])
                    d = out / "values" / body["name"]
                    d.mkdir(parents=True, exist_ok=True)
                    (d / f"{f['name']}.json").write_text(json.dumps(
                        {"items": items, "nextPageLink": None, "count": len(items)}, indent=2) + "\n")
            rt.echo(f"catalog: {body['name']} ({len(body.get('fields') or [])} fields)")
        return wanted
