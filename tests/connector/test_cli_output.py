"""What `vanbulk run` prints, as a user reads it: one line per event and no fact twice, progress through
pre-flight and polling, a debug log file per run named by its run id (no secret in it), the embedded
simulator's log in a file of its own, and `--log-format json` output that parses line by line."""

from __future__ import annotations

import base64
import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.warehouse import Warehouse
from tests.connector.helpers import make_staging

VANBULK = os.path.join(os.path.dirname(sys.executable), "vanbulk")
SELECT = ["-s", "ActivistCode", "-s", "CreateOrUpdateContact"]


def _vanbulk(args, cwd, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VAN_", "VANBULK_", "TTY_", "FORCE_COLOR"))}
    full.update({"VANBULK_POLL_INTERVAL_SECONDS": "0.1", **env})
    return subprocess.run([VANBULK, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def _van_job_ids(tmp_path) -> list[int]:
    with Warehouse(f"duckdb:///{tmp_path}/vanbulk.duckdb") as wh:
        return [int(j) for (j,) in wh.fetchall("select van_job_id from van_bulk_jobs where van_job_id is not null")]


def _run_id(tmp_path) -> str:
    with Warehouse(f"duckdb:///{tmp_path}/vanbulk.duckdb") as wh:
        [(run_id,)] = wh.fetchall("select run_id from van_bulk_runs")
    return run_id


@pytest.mark.slow
def test_run_prints_each_fact_once_and_logs_the_rest_to_files(tmp_path):
    make_staging(f"duckdb:///{tmp_path}/vanbulk.duckdb")
    r = _vanbulk(["run", "--skip-dbt", *SELECT], tmp_path)  # no key: the embedded simulator
    assert r.returncode == 1, r.stdout + r.stderr  # completed; VAN fails ac-4 (exit codes unchanged)
    lines = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip() and not set(ln) <= set("- ")]
    # no line twice (the time stamp aside), and each VAN job named on exactly one line (the summary's)
    bodies = [re.sub(r"^\d\d:\d\d:\d\d  ", "", ln) for ln in lines]
    assert [b for b, n in collections.Counter(bodies).items() if n > 1] == [], r.stderr + r.stdout
    jobs = _van_job_ids(tmp_path)
    assert len(jobs) == 2
    for job in jobs:
        assert len([ln for ln in lines if re.search(rf"\b{job}\b", ln)]) == 1, (job, r.stderr + r.stdout)
    # short: a handful of event lines on stderr; the summary on stdout
    assert len(r.stderr.splitlines()) <= 12, r.stderr
    assert "pre-flight" in r.stderr and "VAN: 2 job(s) finished" in r.stderr
    # the simulator's own log is not on the terminal but in its file under the state folder
    assert "simulator accepted job" not in r.stderr + r.stdout and "listening" not in r.stderr
    sim_log = tmp_path / ".vanbulk" / "simulator" / "simulator.log"
    assert "simulator accepted job" in sim_log.read_text()
    # the run's log file: named by its run id, every detail at DEBUG, no secret
    run_id = _run_id(tmp_path)
    log = tmp_path / ".vanbulk" / "logs" / f"{run_id}.log"
    assert f".vanbulk/logs/{run_id}.log" in r.stderr
    text = log.read_text()
    assert " DEBUG " in text and "VAN job" in text and "submitted" in text and "HTTP Request" in text
    assert "simulator accepted job" not in text  # the simulator's side stays in its own file
    basic = base64.b64encode(f"{SIMULATOR_DEMO_APPLICATION}:{SIMULATOR_DEMO_KEY}|1".encode()).decode()
    assert SIMULATOR_DEMO_KEY not in text and basic not in text


@pytest.mark.slow
def test_log_format_json_every_stdout_line_is_an_event(tmp_path, simulator):
    url = f"duckdb:///{tmp_path}/vanbulk.duckdb"
    make_staging(url)
    key = f"{SIMULATOR_DEMO_KEY}|1"
    r = _vanbulk(["--log-format", "json", "run", "--skip-dbt", *SELECT], tmp_path, VAN_API_KEY=key,
                 VAN_APPLICATION_NAME=SIMULATOR_DEMO_APPLICATION, VAN_API_BASE_URL=simulator.base_url,
                 VANBULK_WAREHOUSE_URL=url)
    assert r.returncode == 1, r.stdout + r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]  # every line parses
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_summary", kinds
    assert {"preflight_done", "submit_done", "poll_done"} <= set(kinds)
    summary = events[-1]
    assert summary["data"]["mapping_types"]["ActivistCode"]["failed"] == 1 and summary["data"]["exit_code"] == 1
    assert all(e["invocation_id"] == summary["invocation_id"] for e in events)
    run_id = summary["data"]["run_id"]
    assert {e["run_id"] for e in events[:-1]} == {run_id}
    assert r.stderr == ""  # nothing else anywhere
    log = (tmp_path / ".vanbulk" / "logs" / f"{run_id}.log").read_text()
    assert key not in log and SIMULATOR_DEMO_KEY not in log and " DEBUG " in log
    # a mistake in JSON mode: a JSON error event on stdout, the one-line message on stderr, exit 2
    bad = _vanbulk(["--log-format", "json", "run", "-s", "Nope", "--skip-dbt"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown mapping type 'Nope'")
    [err] = [json.loads(line) for line in bad.stdout.splitlines()]
    assert err["event"] == "error" and "Nope" in err["msg"]


@pytest.mark.slow
def test_a_terminal_shows_live_progress_through_preflight_export_and_polling(tmp_path):
    make_staging(f"duckdb:///{tmp_path}/vanbulk.duckdb")
    r = _vanbulk(["run", "--skip-dbt", *SELECT], tmp_path, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", COLUMNS="160")
    assert r.returncode == 1, r.stdout + r.stderr
    frames = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", r.stderr).replace("\r", "\n")
    # pre-flight: n/4 (2 mapping types, then Great Expectations and Data Docs): never full while GX still runs
    assert re.search(r"pre-flight .*0/4", frames), frames
    assert re.search(r"pre-flight .*2/4 .*Great Expectations: validating 2 view", frames), frames
    assert re.search(r"export \+ submit .*\d/2 .*rows exported", frames)
    assert re.search(r"VAN jobs .*[0-2]/2 .*(at VAN|done): ", frames), frames
    # the bars are transient: what stays are the event lines, each once
    final = [ln for ln in frames.splitlines() if re.match(r"\d\d:\d\d:\d\d  ", ln)]
    assert len(final) == len(set(final)) and any("VAN: 2 job(s) finished" in ln for ln in final)


def test_other_commands_in_json_mode_print_json_lines_only(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from connector.cli import main

    for k in ("VAN_API_KEY", "VAN_API_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("VANBULK_PROJECT_DIR", str(tmp_path))
    r = CliRunner().invoke(main, ["--log-format", "json", "debug"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.output.splitlines()]
    checks = {e["data"]["name"]: e["data"]["ok"] for e in events if e["event"] == "check"}
    assert checks and all(checks.values()) and "warehouse" in checks, events
    r = CliRunner().invoke(main, ["--log-format", "json", "status"], catch_exceptions=False)
    events = [json.loads(line) for line in r.output.splitlines()]
    assert events[-1]["event"] == "jobs" and events[-1]["data"]["jobs"] == []
