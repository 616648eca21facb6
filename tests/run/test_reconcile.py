"""Collecting a job (connector/run/reconcile.py) on a real DuckDB ledger with a scripted VAN: a poll that finds VAN's
status unchanged writes nothing; VAN's terminal status, the rows' results and the hosted file's removal land in one
commit; a load that fails leaves the job ``completed`` (collected again), and a file the host could not remove is
not recorded as removed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from connector.events import Events
from connector.ledger import JobState, Ledger
from connector.ledger.schema import JOB_ROWS, JOBS, ROW_STATE
from connector.ledger.store import utcnow
from connector.run.reconcile import collect
from connector.warehouse import Warehouse
from tests.helpers.statements import counting_statements

TARGET = "https://api.example.test/v4/"


class ScriptedVan:
    """VAN's answers to GET /bulkImportJobs/{id}, one per poll; the last one repeats."""

    def __init__(self, statuses):
        self.statuses, self.polls = list(statuses), 0

    def get_job(self, job_id):
        self.polls += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"id": job_id, "status": status, "errors": [{"code": "X", "text": "broken file"}]
                if status == "Failed" else []}


class Host:
    def __init__(self, fails: bool = False):
        self.fails, self.deleted = fails, []

    def delete(self, key):
        if self.fails:
            raise OSError("bucket unreachable")
        self.deleted.append(key)


@pytest.fixture
def ledger(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/ledger.duckdb")
    L = Ledger(wh, "main", api_target=TARGET, database_mode=1)
    L.ensure()
    yield L
    wh.dispose()


def _submitted_job(L: Ledger, keys=("k1", "k2")) -> dict:
    job = {"job_key": "job-1", "run_id": "run-1", "mapping_types": "ActivistCode", "local_state": "submitted",
           "api_target": TARGET, "database_mode": 1, "row_count": len(keys), "van_job_id": 7,
           "hosted_key": "run-1/job-1/f.zip", "created_at": utcnow(), "submitted_at": utcnow()}
    L._insert(JOBS, job)
    L.wh.insert_rows(JOB_ROWS, ["job_key", "source_row_key", "mapping_type"],
                     [("job-1", k, "ActivistCode") for k in keys], schema=L.schema)
    L.wh.insert_rows(ROW_STATE, ["api_target", "database_mode", "mapping_type", "source_row_key", "row_hash",
                                 "outcome", "job_key", "run_id", "tries", "updated_at"],
                     [(TARGET, 1, "ActivistCode", k, f"h-{k}", "pending", "job-1", "run-1", 1, utcnow())
                      for k in keys], schema=L.schema)
    return job


def _rt(L: Ledger, client, host, tmp_path):
    settings = SimpleNamespace(poll_interval_seconds=0, poll_max_interval_seconds=0, poll_timeout_seconds=60,
                               collect_workers=1, state_dir=str(tmp_path / "state"))
    return SimpleNamespace(ledger=L, client=client, host=host, settings=settings, events=Events(),
                           sleep=lambda s: None)


def _spy(monkeypatch, L: Ledger, name: str) -> list[tuple]:
    calls: list[tuple] = []
    real = getattr(L, name)

    def spy(*a, **k):
        calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(L, name, spy)
    return calls


def test_an_unchanged_status_is_not_written_again_and_the_end_is_one_commit(ledger, tmp_path, monkeypatch):
    job = _submitted_job(ledger)
    polled, completed = _spy(monkeypatch, ledger, "mark_polled"), _spy(monkeypatch, ledger, "mark_completed")
    van = ScriptedVan(["Pending", "Pending", "Pending", "InProgress", "InProgress", "Failed"])
    host = Host()
    with counting_statements() as sent:
        left = collect(_rt(ledger, van, host, tmp_path), [job])
    assert left == [] and van.polls == 6
    assert [c[1] for c in polled] == ["Pending", "InProgress"]  # a write per status seen, not one per poll
    after = ledger.job("job-1")
    assert after["local_state"] == JobState.FAILED and after["van_status"] == "Failed"
    assert "broken file" in after["errors_json"] and after["completed_at"] is not None
    assert after["hosted_deleted_at"] is not None and host.deleted == ["run-1/job-1/f.zip"]
    # no `completed` step, no separate update of the hosted file's removal, no re-read of the job
    jobs_rel = ledger.rel(JOBS)
    assert completed == []
    assert not [q for q in sent if "hosted_deleted_at" in q and "local_state" not in q]
    assert len([q for q in sent if "hosted_deleted_at" in q]) == 1
    assert not [q for q in sent if q.lower().startswith(f"select * from {jobs_rel}".lower())]
    assert {r["source_row_key"]: r["outcome"] for r in ledger.row_state("ActivistCode")} == {
        "k1": "failed", "k2": "failed"}


def test_a_file_the_host_kept_is_not_recorded_as_removed(ledger, tmp_path):
    job = _submitted_job(ledger)
    collect(_rt(ledger, ScriptedVan(["Failed"]), Host(fails=True), tmp_path), [job])
    after = ledger.job("job-1")
    assert after["local_state"] == JobState.FAILED and after["hosted_deleted_at"] is None


def test_a_load_that_fails_leaves_the_job_completed(ledger, tmp_path, monkeypatch):
    job = _submitted_job(ledger)

    def broken(*a, **k):
        raise RuntimeError("warehouse went away")

    monkeypatch.setattr(ledger, "load_results", broken)
    problems: list[str] = []
    with pytest.raises(RuntimeError, match="went away"):
        collect(_rt(ledger, ScriptedVan(["InProgress", "Failed"]), Host(), tmp_path), [job], problems=problems)
    after = ledger.job("job-1")
    assert after["local_state"] == JobState.COMPLETED and after["van_status"] == "Failed"  # collected again
    assert after["completed_at"] is not None and after["hosted_deleted_at"] is None
