"""`vanbulk status` from a second terminal while a run holds the writer lock: read-only, exit 0, the run's stage
and its jobs (DuckDB: from the run's snapshot; PostgreSQL: from the ledger), and ``--watch`` until the run ends.
Real processes, a real simulator holding the jobs Pending until released (no timing)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.scenarios import test_kill_points
from tests.scenarios.test_kill_points import CMD, VANBULK, _env

warehouse_env = test_kill_points.warehouse_env  # the shared fixture
ENGINES = pytest.mark.parametrize("warehouse_env", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
                                  indirect=True)

BOUND = 300  # seconds: a bound on a hung process, never a synchronisation
# Ctrl-C in a terminal reaches a process whose SIGINT is at its default. A test run started where SIGINT is ignored
# (a background job of a non-interactive shell) would hand that on, and Python then never raises
# KeyboardInterrupt: the watch starts through exec with SIGINT set back to the default, as a terminal has it.
AS_IN_A_TERMINAL = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                    "os.execv(sys.argv[1], sys.argv[1:])"]


def _start_held_run(tmp_path, env, simulator):
    """The run in a subprocess, at VAN with both its jobs, which the simulator keeps Pending."""
    simulator.hold_jobs()
    run = subprocess.Popen(CMD, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + BOUND
    while len(simulator.store.jobs()) < 2:
        assert run.poll() is None, run.communicate()
        assert time.time() < deadline
        time.sleep(0.05)
    return run


def _lines(proc) -> queue.Queue:
    """A reader thread: the process's stdout lines, as they come."""
    q: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            q.put(line)
        q.put(None)

    threading.Thread(target=read, daemon=True).start()
    return q


def _until(q: queue.Queue, pred) -> str:
    seen = ""
    while True:
        line = q.get(timeout=BOUND)
        assert line is not None, seen
        seen += line
        if pred(seen):
            return seen


@pytest.mark.slow
@ENGINES
def test_status_shows_the_run_in_progress_then_watch_follows_it_to_the_end(tmp_path, warehouse_env, simulator):
    url, _, extra = warehouse_env
    env = _env(tmp_path, simulator, extra)
    run = _start_held_run(tmp_path, env, simulator)
    watch = None
    try:
        van_ids = sorted(j["id"] for j in simulator.store.jobs())
        # both jobs at VAN: the run is polling them (its snapshot or the ledger has both submitted jobs)
        deadline = time.time() + BOUND
        while True:
            st = subprocess.run([VANBULK, "status", "--json"], env=env, cwd=tmp_path, capture_output=True,
                                text=True, timeout=BOUND, check=False)
            assert st.returncode == 0, st.stdout + st.stderr  # read-only during the run: not refused
            view = json.loads(st.stdout)
            stage = (view["running"] or {}).get("stage") or {}
            if sorted(j["van_job_id"] for j in view["jobs"] if j["van_job_id"]) == van_ids and stage.get("name") == "poll":
                break
            assert time.time() < deadline, view
            time.sleep(0.1)
        assert view["running"]["pid"] == run.pid and view["running"]["run_id"]
        assert {j["local_state"] for j in view["jobs"]} <= {"submitted", "polling"}, view
        assert stage["label"] == "VAN jobs" and stage["total"] == 2 and stage["done"] == 0, stage
        assert view["source"] == ("run snapshot" if url.startswith("duckdb") else "ledger")
        text = subprocess.run([VANBULK, "status"], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=BOUND, check=False)
        assert text.returncode == 0 and "Traceback" not in text.stderr, text.stdout + text.stderr
        assert f"run {view['running']['run_id']} in progress (pid {run.pid} " in text.stdout, text.stdout
        assert all(str(i) in text.stdout for i in van_ids), text.stdout
        assert "now: VAN jobs 0/2" in text.stdout, text.stdout
        assert max(len(line) for line in text.stdout.splitlines()) <= 100, text.stdout
        assert {j["status"] for j in simulator.store.jobs()} == {"Pending"}  # still held: all of it mid-run

        watch = subprocess.Popen([VANBULK, "status", "--watch"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        out = _lines(watch)
        _until(out, lambda s: "in progress" in s and all(str(i) in s for i in van_ids))
        simulator.release_jobs()
        run_out, run_err = run.communicate(timeout=BOUND)
        assert run.returncode == 1, run_out + run_err  # completed; ac-4 is a row VAN fails
        watch.wait(timeout=BOUND)  # ends by itself once the run has ended
        rest = ""
        while (line := out.get(timeout=BOUND)) is not None:
            rest += line
        assert watch.returncode == 0, rest + watch.stderr.read()
        last = rest.split("in progress")[-1]
        assert "results_loaded" in last and all(str(i) in last for i in van_ids), rest
    except BaseException:
        for p in (run, watch):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
        raise


@pytest.mark.slow
@ENGINES
def test_watch_leaves_on_ctrl_c_with_exit_0_and_the_run_goes_on(tmp_path, warehouse_env, simulator):
    _, _, extra = warehouse_env
    env = _env(tmp_path, simulator, extra)
    run = _start_held_run(tmp_path, env, simulator)
    try:
        watch = subprocess.Popen([*AS_IN_A_TERMINAL, VANBULK, "status", "--watch"], env=env, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _until(_lines(watch), lambda s: "in progress" in s)
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=BOUND)
        err = watch.stderr.read()
        assert watch.returncode == 0 and "Traceback" not in err, err
        assert run.poll() is None  # leaving the watch stops nothing
        simulator.release_jobs()
        out, errs = run.communicate(timeout=BOUND)
        assert run.returncode == 1, out + errs
    except BaseException:
        if run.poll() is None:
            run.kill()
            run.communicate()
        raise
