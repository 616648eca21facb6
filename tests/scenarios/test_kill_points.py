"""`vanbulk run` killed with SIGKILL at each stage boundary, then run again (and an ambiguous POST resolved):
no row is applied twice at VAN, and every row is accounted for. On DuckDB and PostgreSQL at every point; on the
BigQuery emulator (claims by MERGE, the writer lock a lease table) at the two points where the claim and the lease
matter most (a run costs about a minute there).

The simulator is an external server (it outlives the killed process, as VAN would); the kill happens while the
simulator holds the request that marks the point (a ``hold`` fault, released by the test after the kill) or, while
polling, while it keeps the jobs from applying their rows (``hold_processing``): nothing is timed, and nothing is read from the ledger.
Checked from the simulator's own state (applied rows, created contacts) and from the ledger."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.simulator import Faults
from connector.warehouse import Warehouse
from tests.connector.helpers import ACTIVIST_ROWS, CONTACT_ROWS, make_staging

VANBULK = os.path.join(os.path.dirname(sys.executable), "vanbulk")
CMD = [VANBULK, "run", "--skip-dbt", "-s", "ActivistCode", "-s", "CreateOrUpdateContact"]
def _fired(sim) -> int:
    return sum(sim.faults.snapshot()["fired"])


def _seen(sim) -> int:
    return sum(sim.faults.snapshot()["seen"])


# point -> (faults: a held request marks it; hold jobs before they apply rows; the client is at the point)
KILL_POINTS = {
    # nothing planned or written yet: VAN is asked for its resource types first
    "before_post": (
        {"rules": [{"path": "*/bulkImportJobs/resources", "method": "GET", "kind": "hold", "count": 1}]}, False,
        lambda sim: _fired(sim) >= 1),
    # the second POST reached VAN, which creates the job once released; the ledger never gets its id
    "between_post_and_ledger": (
        {"rules": [{"path": "*/bulkImportJobs", "method": "POST", "kind": "hold", "skip": 1, "count": 1}]}, False,
        lambda sim: _fired(sim) >= 1),
    # both jobs at VAN, their files read, held before they apply a row; the client polling the second (a rule
    # that only counts its polls)
    "while_polling": (
        {"rules": [{"path": "*/bulkImportJobs/50002", "method": "GET", "count": 0}]}, True,
        lambda sim: sim.jobs_read == 2 and _seen(sim) >= 1),
    # a job is terminal at VAN and its result file is being downloaded; the other job has read its file
    "while_loading_results": (
        {"rules": [{"path": "/resultFiles/*", "method": "GET", "kind": "hold", "count": 1}]}, False,
        lambda sim: _fired(sim) >= 1 and sim.jobs_read == 2),
}


BIGQUERY_POINTS = ("between_post_and_ledger", "while_polling")
CASES = [pytest.param(engine, point, marks=marks, id=f"{point}-{engine}")
         for engine, marks in (("duckdb", ()), ("postgres", pytest.mark.postgres)) for point in KILL_POINTS] + [
    pytest.param("bigquery", point, marks=pytest.mark.bigquery, id=f"{point}-bigquery") for point in BIGQUERY_POINTS]


@pytest.fixture
def warehouse_env(request, tmp_path):
    if request.param == "bigquery":
        emulator, dataset = request.getfixturevalue("bq_dataset")
        url = f"bigquery://{emulator.project}/{dataset}?api_endpoint={emulator.api_endpoint}&anonymous=true"
        stg = f"{dataset}_stg"
        make_staging(url, schema=stg, table_schema=dataset)
        yield url, dataset, {"VANBULK_WAREHOUSE_URL": url, "VANBULK_RESULTS_SCHEMA": dataset,
                             "VANBULK_STAGING_SCHEMA": stg}
        return
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path}/vanbulk.duckdb"
        make_staging(url)
        yield url, "main", {"VANBULK_WAREHOUSE_URL": url}
        return
    url, schema = request.getfixturevalue("pg_schema")
    stg = f"{schema}_stg"
    make_staging(url, schema=stg, table_schema=schema)
    yield url, schema, {"VANBULK_WAREHOUSE_URL": url, "VANBULK_RESULTS_SCHEMA": schema,
                        "VANBULK_STAGING_SCHEMA": stg}
    with Warehouse(url) as wh:
        wh.execute(f'drop schema if exists "{stg}" cascade')


def _env(tmp_path, sim, extra):
    env = dict(os.environ)
    env.update({"VAN_API_KEY": f"{SIMULATOR_DEMO_KEY}|1", "VAN_APPLICATION_NAME": SIMULATOR_DEMO_APPLICATION,
                "VAN_API_BASE_URL": sim.base_url, "VANBULK_PROJECT_DIR": str(tmp_path),
                "VANBULK_POLL_INTERVAL_SECONDS": "0.2", "VANBULK_POLL_MAX_INTERVAL_SECONDS": "0.5", **extra})
    return env


def _cli(args, env, tmp_path):
    """Runs a command; `run` exits 1 here since ac-4 is a row VAN fails (documented exit codes), others 0."""
    out = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == (1 if args[1] == "run" else 0), out.stdout + out.stderr
    return out


def _no_row_applied_twice(sim, *, complete: bool = False) -> None:
    """From VAN's side: each activist code on a contact at most once, each new contact created at most once
    (``complete``: exactly once)."""
    applied = collections.Counter((r["mappingType"], r["primaryKey"], json.dumps(r["fields"], sort_keys=True))
                                  for r in sim.store.applied())
    twice = {k: n for k, n in applied.items() if n > 1}
    assert not twice, twice
    names = collections.Counter((c.get("FirstName"), c.get("LastName")) for c in sim.store.contacts())
    want = {1} if complete else {0, 1}
    assert names[("Mary", "Somerville")] in want and names[("Emmy", "Noether")] in want, names


def _every_row_accounted(url, schema) -> None:
    """Every key of both views has a final outcome in the row state (nothing pending or ambiguous), or was
    rejected by pre-flight in every run."""
    with Warehouse(url, schema) as wh:
        state = {(mt, k): o for mt, k, o in wh.fetchall(
            f'select mapping_type, source_row_key, outcome from {wh.relation("van_bulk_row_state", schema)}')}
        rejected = {(mt, k) for mt, k in wh.fetchall(
            f'select distinct mapping_type, source_row_key from {wh.relation("van_preflight_rejects", schema)}')}
    keys = {("ActivistCode", r[0]) for r in ACTIVIST_ROWS} | {("CreateOrUpdateContact", r[0]) for r in CONTACT_ROWS}
    for key in keys:
        assert key in state or key in rejected, key
        if key in state:
            assert state[key] in ("processed", "failed", "not_in_results"), (key, state[key])
    assert set(state) <= keys


@pytest.mark.slow
@pytest.mark.parametrize(("warehouse_env", "point"), CASES, indirect=["warehouse_env"])
def test_killed_at_each_stage_then_run_again(point, tmp_path, warehouse_env, simulator):
    url, schema, extra = warehouse_env
    faults, hold_processing, ready = KILL_POINTS[point]
    if hold_processing:
        simulator.hold_processing()
    simulator.set_faults(Faults.from_dict(faults))
    held = any(r.get("kind") == "hold" for r in faults["rules"])
    env = _env(tmp_path, simulator, extra)
    proc = subprocess.Popen(CMD, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not ready(simulator):
        if proc.poll() is not None:
            pytest.fail(f"run ended before the kill point {point}:\n" + proc.stdout.read().decode())
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"kill point {point} never reached")
        time.sleep(0.05)  # (only how often the test looks: the client waits on the held request or jobs)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    simulator.set_faults(Faults())  # releases the held request: it completes at VAN after the client died
    if held:
        assert simulator.wait_held_answered(1), "the held request was never handled"
    simulator.release_processing()
    jobs_at_kill = len(simulator.store.jobs())

    again = _cli(CMD + ["--resume"], env, tmp_path)
    _no_row_applied_twice(simulator)
    if point == "between_post_and_ledger":
        # the second job exists at VAN but not in the ledger: its rows are ambiguous and were not sent again
        assert len(simulator.store.jobs()) == jobs_at_kill + 1 == 3, again.stderr  # + the retry of ac-4
        assert "may have reached VAN" in again.stderr + again.stdout
        with Warehouse(url, schema) as wh:
            [(job_key,)] = wh.fetchall(f"select job_key from {wh.relation('van_bulk_jobs', schema)} "
                                       "where local_state in ('submitting', 'ambiguous')")
        # the run and `vanbulk status` name the job and the exact command that settles it (issue 22 #7)
        assert f"vanbulk resolve {job_key} --van-job-id N" in again.stderr + again.stdout
        status = _cli([VANBULK, "status"], env, tmp_path)
        assert f"job {job_key} (" in status.stdout and f"vanbulk resolve {job_key} --not-at-van" in status.stdout
        # the user finds it in VAN by the job key in its description, and tells vanbulk
        van_job = next(j for j in simulator.store.jobs() if job_key in j["request"].get("description", ""))
        _cli([VANBULK, "resolve", job_key, "--van-job-id", str(van_job["id"])], env, tmp_path)
        _cli([VANBULK, "status", "--wait"], env, tmp_path)
        # VAN could not fetch the file from the killed process's local host, so that job Failed: its rows
        # are retried by the next run and applied once
        if simulator.store.job(van_job["id"])["status"] == "Failed":
            _cli(CMD, env, tmp_path)
    elif point == "before_post":
        assert jobs_at_kill == 0 and len(simulator.store.jobs()) == 2
    else:
        assert "resuming" in again.stderr
        assert len(simulator.store.jobs()) == jobs_at_kill + 1  # only the retry of the row VAN failed
    _no_row_applied_twice(simulator, complete=True)
    _every_row_accounted(url, schema)
    with Warehouse(url, schema) as wh:
        states = {s for (s,) in wh.fetchall(f"select local_state from {wh.relation('van_bulk_jobs', schema)}")}
    assert states <= {"results_loaded", "failed"}, states
    with Warehouse(url, schema) as wh:  # the killed run is not left `running` for ever
        runs = [r for (r,) in wh.fetchall(f"select status from {wh.relation('van_bulk_runs', schema)} "
                                          "order by invoked_at")]
    assert runs[0] == "interrupted" and "running" not in runs, runs
