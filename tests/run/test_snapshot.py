"""The run's status snapshot (.vanbulk/run-status.json) that `vanbulk status` reads while a DuckDB run holds the
file: whole at every read, only the columns status prints, and a dead run's snapshot is not a run in progress."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from types import SimpleNamespace

from connector.events import Events
from connector.run.snapshot import (
    JOB_COLUMNS,
    publish_status,
    read_snapshot,
    snapshot_path,
)


class FakeLedger:
    def __init__(self):
        self.jobs = [{"job_key": "k1", "van_job_id": 7, "mapping_types": "ActivistCode", "van_status": "Pending",
                      "local_state": "polling", "row_count": 3, "rows_processed": None, "rows_failed": None,
                      "rows_not_in_results": None, "created_at": "2026-12-04 12:00:00",
                      "hosted_url": "https://example.invalid/file.zip?X-Amz-Signature=secret"}]

    def recent_jobs(self, limit):
        return self.jobs[:limit]

    def count_jobs(self):
        return len(self.jobs)


def test_snapshot_follows_stages_and_events_and_ends_finished(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="connector.events")  # as the run's log file has it
    rt = SimpleNamespace(settings=SimpleNamespace(state_dir=tmp_path), ledger=FakeLedger())
    events = Events()
    with publish_status(rt, "r1", "run") as pub:
        with events.stage("dbt", "dbt build", total=None, detail="parsing"):
            rt.ledger.jobs[0]["local_state"] = "results_loaded"  # not read during dbt: the run lent it the file
            doc = read_snapshot(tmp_path)
            assert doc["alive"] and doc["stage"]["label"] == "dbt build"
            assert doc["jobs"][0]["local_state"] == "polling"
        with events.stage("poll", "VAN jobs", total=1) as st:
            st.update(detail="at VAN: Pending 1")
            events.emit("x", "VAN: 1 job(s) finished in 1s")
            doc = read_snapshot(tmp_path)
            assert doc["stage"]["name"] == "poll" and doc["last_event"] == "VAN: 1 job(s) finished in 1s"
        pub.finish("success")
    doc = read_snapshot(tmp_path)
    assert doc["state"] == "finished" and doc["status"] == "success" and not doc["alive"]
    assert doc["jobs"][0]["local_state"] == "results_loaded" and set(doc["jobs"][0]) == set(JOB_COLUMNS)
    assert "secret" not in snapshot_path(tmp_path).read_text()  # only what status prints
    assert [p.name for p in tmp_path.iterdir()] == ["run-status.json"]  # no temporary file left behind


def test_a_killed_runs_snapshot_is_not_a_run_in_progress(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    snapshot_path(tmp_path).write_text(json.dumps({"state": "running", "pid": int(dead.stdout), "host": None}))
    assert read_snapshot(tmp_path)["alive"] is False
    assert read_snapshot(tmp_path / "nowhere") is None
