"""The Python API for orchestrators (Airflow, Dagster, Prefect, cron): the same operations as the CLI.

>>> from connector import load_settings, run
>>> summary = run(load_settings("path/to/project"), select=["ActivistCode"])
>>> summary.ok, summary.mapping_types["ActivistCode"].failed
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx

from connector.config import Settings
from connector.errors import ConnectorError, VanError
from connector.redaction import redact
from connector.run import RunSummary, collect, load_job_results, retry_failed, run, runtime
from connector.run.lock import RunLocked
from connector.run.observe import StatusView, observe
from connector.run.reconcile import reload_from_raw

logger = logging.getLogger(__name__)

__all__ = ["CheckResult", "RunSummary", "debug", "refresh_catalog", "resolve", "results", "retry_failed", "run", "status",
           "status_view"]


def status(settings: Settings, *, wait: bool = False, limit: int = 20, echo: Callable[[str], None] | None = None,
           **runtime_kwargs: Any) -> list[dict]:
    """Poll every job VAN has or finished whose results are not loaded (once, or until done with ``wait``),
    load the results of finished ones, and return the most recent jobs from the ledger."""
    return status_view(settings, wait=wait, limit=limit, echo=echo, observe_running=False, **runtime_kwargs).jobs


def status_view(settings: Settings, *, wait: bool = False, limit: int | None = 20, observe_running: bool = True,
                echo: Callable[[str], None] | None = None, **runtime_kwargs: Any) -> StatusView:
    """``status`` with how many jobs there are; while another command holds the writer lock (a run in progress)
    and ``observe_running``: a read-only look instead (connector/run/observe.py), with the run's stage."""
    try:
        with runtime(settings, echo=echo, **runtime_kwargs) as rt:
            flying = rt.ledger.collectable()
            if flying:
                rt.echo(f"{len(flying)} job(s) to collect: polling")
                collect(rt, flying, timeout=None if wait else 0.0)
            return StatusView(rt.ledger.recent_jobs(limit), rt.ledger.count_jobs())
    except RunLocked:
        if not observe_running:
            raise
    return observe(settings, limit)


def results(settings: Settings, van_job_id: int, *, echo: Callable[[str], None] | None = None,
            **runtime_kwargs: Any) -> dict:
    """(Re)fetch a job's result files and reload its rows. Uses the raw copies when VAN's links expired."""
    with runtime(settings, echo=echo, **runtime_kwargs) as rt:
        job = rt.ledger.job(van_job_id=van_job_id)
        if job is None:
            raise ConnectorError(f"VAN job {van_job_id} is not in the ledger")
        body = rt.client.get_job(van_job_id)
        try:
            load_job_results(rt, job, body)
        except VanError as exc:
            rt.echo(f"result links unusable ({exc}); re-parsing the raw files kept locally")
            if reload_from_raw(rt, rt.ledger.job(job["job_key"])) is None:
                raise
        return rt.ledger.job(job["job_key"])


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
        with runtime(settings, echo=echo, exclusive=False, **runtime_kwargs) as rt:
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
    with runtime(settings, echo=echo, need_host=False, exclusive=False, **runtime_kwargs) as rt:
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
        # The account's word: its requiredness, parents and values reject rows, not just warn.
        from connector.catalog import LIVE_MARKER

        (out / LIVE_MARKER).write_text(json.dumps({"apiTarget": rt.api_target, "mappingTypes": wanted}, indent=2)
                                       + "\n")
        return wanted


def catalog_diff(settings: Settings, *, names: Sequence[str] | None = None,
                 echo: Callable[[str], None] | None = None, **runtime_kwargs: Any) -> dict[str, list[str]]:
    """Read the account's metadata now (GET /bulkImportMappingTypes/{name}, /values) and compare it with the
    packaged catalogue: mapping type -> lines, per field and value. Refreshes the run's metadata cache."""
    from connector.catalog import LIVE_MARKER, Catalog
    from connector.live_metadata import cache_dir, diff_mapping_type, fetch_metadata

    with runtime(settings, echo=echo, need_host=False, exclusive=False, **runtime_kwargs) as rt:
        s = rt.settings
        listed = [m["name"] for m in rt.client.list_mapping_types() if isinstance(m, dict) and m.get("name")]
        wanted = [rt.catalog.get(n).name if n in rt.catalog else n for n in names] if names else listed
        directory = cache_dir(s.state_dir, rt.api_target, s.application_name, s.api_key, s.database_mode)
        _, _, unavailable = fetch_metadata(rt.client, wanted, directory, ttl_seconds=0, api_target=rt.api_target)
        live = Catalog([*rt.catalog.dirs, directory]) if (directory / LIVE_MARKER).exists() else rt.catalog
        out = {}
        for name in wanted:
            out[name] = [f"{name}: {unavailable[name]}"] if name in unavailable \
                else diff_mapping_type(rt.catalog, live, name)
        for name in sorted(set(rt.catalog.names) - {n for n in listed}):
            if not names:
                out[name] = [f"{name}: in the packaged catalogue, not listed by the account for this key and mode"]
        return out


def resolve(settings: Settings, job_key: str, *, not_at_van: bool = False, van_job_id: int | None = None,
            echo: Callable[[str], None] | None = None, **runtime_kwargs: Any) -> dict:
    """Settle an ambiguous submission by hand, after looking for ``job_key`` in the descriptions of VAN's
    jobs: ``van_job_id`` (VAN has it: its rows are pending on it and the next run or ``status`` collects it)
    or ``not_at_van`` (VAN has none: its rows become ``refused`` and the next run sends them again)."""
    from connector.ledger import AMBIGUOUS_JOB_STATES, JobState

    if not_at_van == (van_job_id is not None):
        raise ConnectorError("say what you found in VAN: --van-job-id N (VAN has the job) or --not-at-van")
    with runtime(settings, echo=echo, need_van=False, need_host=False, **runtime_kwargs) as rt:
        job = rt.ledger.job(job_key)
        if job is None:
            raise ConnectorError(f"job key {job_key} is not in the ledger (van_bulk_jobs.job_key)")
        if JobState(job["local_state"]) not in AMBIGUOUS_JOB_STATES:
            raise ConnectorError(f"job {job_key} is {job['local_state']}, not ambiguous: nothing to resolve")
        if van_job_id is not None:
            rt.ledger.mark_found_at_van(job_key, van_job_id)
            rt.echo(f"job {job_key}: VAN job {van_job_id}; `vanbulk status` or the next run collects its results")
            return rt.ledger.job(job_key)
        rt.ledger.mark_refused(job_key, str(job["mapping_types"]).split("+"), job["run_id"],
                               "confirmed by the user: no such job at VAN (vanbulk resolve --not-at-van)",
                               '[{"code": "ABANDONED", "text": "confirmed not at VAN by the user"}]',
                               to=JobState.ABANDONED)
        rt.echo(f"job {job_key}: marked abandoned; its {job['row_count']} row(s) are sent by the next run")
        return rt.ledger.job(job_key)
