"""The real `vanbulk` entry point as a user meets it after the demo: documented exit codes, and every user
mistake a one-line message that says what to do (never a traceback), before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.warehouse import Warehouse
from tests.connector.helpers import ACTIVIST_ROWS, make_staging

VANBULK = os.path.join(os.path.dirname(sys.executable), "vanbulk")


def _vanbulk(args, cwd, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("VAN_", "VANBULK_"))}
    full.update({"VANBULK_POLL_INTERVAL_SECONDS": "0.1", **env})
    return subprocess.run([VANBULK, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def _one_line_error(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln[:2].isdigit()]  # no log lines
    assert "Traceback" not in r.stderr + r.stdout
    return lines[-1]


@pytest.mark.parametrize("args, env, says", [
    (["run"], {}, "no dbt project at"),  # an empty directory
    (["run", "--vars", "{a: ["], {}, "Invalid value for --vars: not valid YAML"),
    (["run"], {"VAN_API_KEY": "abc|2"}, "the database mode after | must be 0"),
    (["status"], {"VANBULK_WAREHOUSE_URL": "duckdb://x"}, "a DuckDB URL needs three slashes; supported forms"),
    (["status"], {"VANBULK_WAREHOUSE_URL": "/tmp/x.duckdb"}, "is not a URL; supported forms"),
    (["status"], {"VANBULK_WAREHOUSE_URL": "mysql://u:secret@h/db"}, "mysql is not supported"),
    (["run", "-s", "Nope"], {}, "unknown mapping type 'Nope'"),
    (["run", "--skip-dbt", "--rebuild"], {}, "--skip-dbt never builds and --rebuild always does: pass one of them"),
])
def test_user_mistakes_exit_2_with_one_line_and_write_nothing(tmp_path, args, env, says):
    r = _vanbulk(args, tmp_path, **env)
    assert r.returncode == 2, r.stdout + r.stderr
    line = _one_line_error(r)
    assert says in line and "secret" not in r.stderr, line
    assert list(tmp_path.iterdir()) == []  # nothing written before the mistake was named


def test_unreachable_van_fails_in_seconds_naming_url_and_setting(tmp_path):
    started = time.time()
    r = _vanbulk(["run", "--skip-dbt"], tmp_path, VAN_API_KEY=f"{SIMULATOR_DEMO_KEY}|1",
                 VAN_API_BASE_URL="http://127.0.0.1:9/v4/")
    assert r.returncode == 2 and time.time() - started < 15, r.stderr
    line = _one_line_error(r)
    assert "cannot reach VAN at http://127.0.0.1:9/v4/" in line and "VAN_API_BASE_URL" in line


@pytest.mark.slow
def test_exit_codes_and_honest_counts(tmp_path, simulator):
    url = f"duckdb:///{tmp_path}/vanbulk.duckdb"
    env = {"VAN_API_KEY": f"{SIMULATOR_DEMO_KEY}|1", "VAN_APPLICATION_NAME": SIMULATOR_DEMO_APPLICATION,
           "VAN_API_BASE_URL": simulator.base_url, "VANBULK_WAREHOUSE_URL": url}
    good = [r for r in ACTIVIST_ROWS if r[0] in ("ac-1", "ac-2", "ac-3")]
    make_staging(url, activist_rows=good)
    ok = _vanbulk(["run", "--skip-dbt", "-s", "ActivistCode"], tmp_path, **env)
    assert ok.returncode == 0, ok.stdout + ok.stderr  # everything sent was processed
    # the dry run after it counts every row once, as unchanged, and sends nothing
    dry = _vanbulk(["run", "--skip-dbt", "--dry-run", "-s", "ActivistCode", "--json"], tmp_path, **env)
    assert dry.returncode == 0, dry.stderr
    import json

    ac = json.loads(dry.stdout)["mapping_types"]["ActivistCode"]
    assert ac["plan"] == {"unchanged": 3} and ac["to_send"] == 0 and ac["sent"] == 0
    # a row VAN fails: completed, exit 1, and the summary names the command that retries it
    make_staging(url, activist_rows=ACTIVIST_ROWS)
    failed = _vanbulk(["run", "--skip-dbt", "-s", "ActivistCode"], tmp_path, **env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "vanbulk retry-failed --run" in failed.stdout
    # issue 22 #2: that run is not "success", in the header and in the ledger
    assert ": completed_with_failures" in failed.stdout.splitlines()[0], failed.stdout
    with Warehouse(url) as wh:
        assert wh.scalar("select status from van_bulk_runs order by invoked_at desc limit 1") == \
            "completed_with_failures"
    # rejects alone exit 0, unless --fail-on-reject (ac-5's code is not a valid one: pre-flight rejects it)
    rej = _vanbulk(["run", "--skip-dbt", "-s", "ActivistCode", "--fail-on-reject"], tmp_path, **env)
    assert rej.returncode == 1, rej.stdout + rej.stderr
    # issue 22 #2: a selected type whose every row is rejected sent nothing: `blocked`, exit 1, and no row is
    # said to be "sent with a warning"
    make_staging(url, activist_rows=[("ac-9", "100001", "987654321"), ("ac-8", "not-a-number", None)])
    blocked = _vanbulk(["run", "--skip-dbt", "-s", "ActivistCode"], tmp_path, **env)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert ": blocked" in blocked.stdout.splitlines()[0] and "sent with a warning" not in blocked.stderr
    # with a key, validate applies VAN's permission list as run does: Suppressions is not permitted
    make_staging(url)
    with Warehouse(url) as wh:
        assert wh.scalar("select count(*) from van_bulk_runs where status = 'running'") == 0
    v = _vanbulk(["validate", "-s", "Suppressions", "--no-gx"], tmp_path, **env)
    assert v.returncode in (1, 2) and "not permitted" in (v.stdout + v.stderr), v.stdout + v.stderr


def test_debug_shows_the_traceback_after_the_one_line_message(tmp_path):
    r = _vanbulk(["--debug", "run"], tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: no dbt project at") and "Traceback" in r.stderr


@pytest.mark.parametrize("args", [["status"], ["debug"], ["results", "1"], ["retry-failed"]])
def test_commands_outside_a_project_refuse_and_write_nothing(tmp_path, args):
    """Issue 22 #8: `vanbulk status` / `debug` outside a project exited 0 and left .vanbulk/, vanbulk.duckdb and a
    lock file in the current directory."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("VANBULK_")}
    r = subprocess.run([str(Path(sys.executable).with_name("vanbulk")), *args], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "is not inside a vanbulk or dbt project" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
