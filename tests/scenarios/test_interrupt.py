"""Ctrl-C (SIGINT) or SIGTERM during `vanbulk run`: exit 130 with the command that picks up, the run marked
`interrupted`, and `--resume` collects what was submitted without sending anything twice."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from connector.warehouse import Warehouse
from tests.connector.helpers import make_staging
from tests.scenarios.test_kill_points import CMD, _env, _no_row_applied_twice

def _run_until_two_jobs_posted(tmp_path, simulator):
    """`vanbulk run` on the two-type staging, returned once the simulator holds both its jobs."""
    url = f"duckdb:///{tmp_path}/vanbulk.duckdb"
    make_staging(url)
    env = _env(tmp_path, simulator, {"VANBULK_WAREHOUSE_URL": url})
    proc = _start(CMD, env, tmp_path)
    deadline = time.time() + 120
    while len(simulator.store.jobs()) < 2:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    return url, env, proc


def _start(cmd, env, cwd) -> subprocess.Popen:
    """The run with SIGINT at its default disposition: a shell's background job (`make bench &`) starts with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler (the Unix convention)."""
    return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


SLOW = {"pending_seconds": 0.0, "min_processing_seconds": 4.0, "seconds_per_1000_rows": 0.0}


@pytest.mark.slow
@pytest.mark.parametrize("simulator_config", [SLOW], indirect=True)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_exits_130_and_resumes(sig, tmp_path, simulator):
    url, env, proc = _run_until_two_jobs_posted(tmp_path, simulator)
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted: what was submitted is in the ledger; `vanbulk run --resume`" in err
    assert "Traceback" not in err and "Aborted" not in err
    with Warehouse(url) as wh:
        assert wh.scalar("select status from van_bulk_runs") == "interrupted"
    again = subprocess.run(CMD + ["--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode in (0, 1), again.stdout + again.stderr  # 1: ac-4 is a row VAN fails (exit codes)
    assert "collected 2 job(s) of earlier runs: ActivistCode" in again.stdout  # credited to this run's summary
    _no_row_applied_twice(simulator, complete=True)
    assert len(simulator.store.jobs()) == 3  # the two jobs, + the retry of the row VAN failed


@pytest.mark.slow
def test_an_interrupted_run_serves_its_files_until_van_fetched_them(tmp_path, simulator, request):
    """Ctrl-C right after the POSTs, before VAN reads the files from the local host (which stops with the
    process): the run serves them until fetched, so no job fails for it and nothing is sent again. The jobs are
    held Pending (nothing fetched) until the run says it is serving them."""
    simulator.hold_jobs()
    url, env, proc = _run_until_two_jobs_posted(tmp_path, simulator)
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())  # a failed check leaves no held run behind
    seen = []
    for line in proc.stderr:  # both POSTs answered and recorded: the run is waiting for VAN
        seen.append(line)
        if "export + submit: 2 job(s)" in line:
            break
    else:
        raise AssertionError("".join(seen))
    proc.send_signal(signal.SIGINT)
    for line in proc.stderr:  # until the run says it serves the files VAN has not fetched (nothing fetched yet)
        seen.append(line)
        if "interrupted: serving 2 submitted file(s) until VAN has fetched them" in line:
            break
    else:
        raise AssertionError("".join(seen))
    simulator.release_jobs()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + "".join(seen) + err
    deadline = time.time() + 60
    while any(j["status"] not in ("Completed", "CompletedWithErrors", "Failed") for j in simulator.store.jobs()):
        assert time.time() < deadline
        time.sleep(0.1)
    assert not [j["errors"] for j in simulator.store.jobs() if j["status"] == "Failed"]  # every file was read
    again = subprocess.run(CMD + ["--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode in (0, 1), again.stdout + again.stderr
    _no_row_applied_twice(simulator, complete=True)
    assert len(simulator.store.jobs()) == 3  # the two jobs, + the retry of the row VAN failed


@pytest.mark.slow
def test_files_van_did_not_fetch_are_named_and_resume_sends_their_rows(tmp_path, simulator, request):
    """Issue 22 #5: the message must say what really happens to files the local host stops serving. The jobs are
    held Pending (nothing fetched) past the run's serving time after Ctrl-C: it names the files VAN will not get;
    those jobs fail at VAN, and `--resume` collects them and sends their rows again, each row applied once."""
    simulator.hold_jobs()
    url, env, proc = _run_until_two_jobs_posted(tmp_path, simulator)
    request.addfinalizer(lambda: proc.poll() is None and proc.kill())  # a failed check leaves no held run behind
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "export + submit: 2 job(s)" in line:
            break
    proc.send_signal(signal.SIGINT)
    for line in proc.stderr:
        seen.append(line)
        if "until VAN has fetched them" in line:
            break
    out, err = proc.communicate(timeout=120)  # it serves for its own INTERRUPT_FETCH_WAIT_SECONDS, then stops
    assert proc.returncode == 130, out + "".join(seen) + err
    assert "VAN had not fetched 2 of the submitted file(s)" in err and "will fail at VAN" in err, err
    simulator.release_jobs()
    deadline = time.time() + 60
    while any(j["status"] not in ("Completed", "CompletedWithErrors", "Failed") for j in simulator.store.jobs()):
        assert time.time() < deadline
        time.sleep(0.1)
    assert {j["status"] for j in simulator.store.jobs()} == {"Failed"}  # the host was gone when VAN fetched
    again = subprocess.run(CMD + ["--resume"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode in (0, 1), again.stdout + again.stderr
    _no_row_applied_twice(simulator, complete=True)
