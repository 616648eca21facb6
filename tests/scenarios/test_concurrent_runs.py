"""Two vanbulk commands at once on one ledger and VAN target: the second says who holds the writer lock, in
one line and before touching anything, and no row reaches VAN twice. Real processes, a real simulator;
PostgreSQL (advisory lock) and DuckDB (lock file)."""

from __future__ import annotations

import collections
import json
import subprocess
import time

import pytest

from tests.scenarios.test_kill_points import CMD, VANBULK, _env, warehouse_env  # noqa: F401  (shared fixture)

@pytest.mark.slow
@pytest.mark.parametrize("warehouse_env", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_second_run_says_another_is_in_progress(tmp_path, warehouse_env, simulator):
    url, schema, extra = warehouse_env
    env = _env(tmp_path, simulator, extra)
    simulator.hold_jobs()  # the first run's jobs stay Pending at VAN until the checks below are done
    first = subprocess.Popen(CMD, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300  # a bound on a hung run, not a synchronisation
        while len(simulator.store.jobs()) < 2:  # the first run is at VAN with both jobs, waiting for them
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        for args in (CMD, [VANBULK, "retry-failed"]):  # writers; `status` only reads (test_status_during_run.py)
            second = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stdout + second.stderr  # could not run: exit 2
            err = [line for line in second.stderr.splitlines() if not line[:2].isdigit()]  # without log lines
            assert any(e.startswith("error: another vanbulk run (pid ") for e in err), second.stderr
            assert err == [next(e for e in err if e.startswith("error: another vanbulk run (pid "))], second.stderr
            assert f"pid {first.pid} " in err[0] and "Traceback" not in second.stderr
        assert {j["status"] for j in simulator.store.jobs()} == {"Pending"}  # still held: the checks ran mid-run
        simulator.release_jobs()
    except BaseException:
        first.kill()  # a failed check must not leave the held run behind
        first.communicate()
        raise
    out, errs = first.communicate(timeout=300)
    assert first.returncode == 1, out + errs  # completed; ac-4 is a row VAN fails
    assert len(simulator.store.jobs()) == 2
    applied = collections.Counter((r["mappingType"], r["primaryKey"], json.dumps(r["fields"], sort_keys=True))
                                  for r in simulator.store.applied())
    assert set(applied.values()) == {1}
    # once it is done, the next command runs (and marks nothing interrupted: the first finished)
    after = subprocess.run([VANBULK, "status"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0 and "interrupted" not in after.stderr, after.stderr
