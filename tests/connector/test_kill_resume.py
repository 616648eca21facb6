"""A `vanbulk run` process killed (SIGKILL) while its jobs are in flight resumes without a double submit.

Uses an external simulator (the fixture) so it outlives the killed process, as VAN would, and the real
CLI, pre-flight included, in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.warehouse import Warehouse
from tests.connector.helpers import make_staging

SLOW = {"pending_seconds": 0.0, "min_processing_seconds": 6.0, "seconds_per_1000_rows": 0.0}


def _env(tmp_path, sim):
    env = dict(os.environ)
    env.update({"VAN_API_KEY": f"{SIMULATOR_DEMO_KEY}|1", "VAN_APPLICATION_NAME": SIMULATOR_DEMO_APPLICATION,
                "VAN_API_BASE_URL": sim.base_url, "VANBULK_PROJECT_DIR": str(tmp_path),
                "VANBULK_POLL_INTERVAL_SECONDS": "0.2", "VANBULK_POLL_MAX_INTERVAL_SECONDS": "0.5"})
    return env


def _states(url):
    try:
        with Warehouse(url) as wh:
            return [tuple(r) for r in wh.fetchall("select local_state, van_job_id from van_bulk_jobs")]
    except Exception:  # table not there yet, or DuckDB file locked by the writer
        return []


@pytest.mark.slow
@pytest.mark.parametrize("simulator_config", [SLOW], indirect=True)
def test_killed_run_resumes_without_double_submit(tmp_path, simulator):
    url = f"duckdb:///{tmp_path}/vanbulk.duckdb"
    make_staging(url)
    vanbulk = os.path.join(os.path.dirname(sys.executable), "vanbulk")
    cmd = [vanbulk, "run", "--skip-dbt", "-s", "ActivistCode", "-s",
           "CreateOrUpdateContact"]
    proc = subprocess.Popen(cmd, env=_env(tmp_path, simulator), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        # Watch VAN's side, not the DuckDB file: a reader in another process would take its lock.
        if len(simulator.store.jobs()) == 2:
            time.sleep(1.0)  # let the ledger commit the second job id; processing takes 6 s
            break
        if proc.poll() is not None:
            pytest.fail("run finished before it could be killed:\n" + proc.stdout.read().decode())
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("jobs never reached submitted")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    jobs = simulator.store.jobs()
    assert len(jobs) == 2
    assert any(j.get("status") not in ("Completed", "CompletedWithErrors", "Failed") for j in jobs)  # in flight

    out = subprocess.run(cmd + ["--resume"], env=_env(tmp_path, simulator), cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resuming 2 job(s)" in out.stderr
    assert len(simulator.store.jobs()) == 2  # nothing submitted twice
    assert {s for s, _ in _states(url)} == {"results_loaded"}
    with Warehouse(url) as wh:
        assert wh.scalar("select count(*) from van_bulk_row_results") == wh.scalar("select count(*) from van_bulk_job_rows")
