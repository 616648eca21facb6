"""Fault injection, per run (config) and at runtime (Python API and the /_sim/ admin endpoint)."""

from __future__ import annotations

import time

import httpx
import pytest

from connector.simulator import FaultRule, Faults

from .conftest import csv_text, job_body, make_zip, wait_job

AC = [{"name": "ActivistCode", "fieldValueMappings": [{"fieldName": "ActivistCodeID", "columnName": "ac"}]}]


def post_job(client, files, **kw):
    url = files.put("/j.zip", make_zip("data.csv", csv_text([["VanID", "ac"], ["100001", "4150001"]])))
    return client.post("bulkImportJobs", json=job_body(["VanID", "ac"], AC, url), **kw)


def test_429_with_retry_after_then_recovers(simulator, client):
    simulator.set_faults(rules=[FaultRule(path="/v4/bulkImportJobs/resources", status=429, retry_after=7, count=2)])
    for _ in range(2):
        r = client.get("bulkImportJobs/resources")
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
        assert r.json() == {"errors": [{"code": "TOO_MANY_REQUESTS", "text": "Too many requests. Please retry later."}]}
    assert client.get("bulkImportJobs/resources").status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(simulator, client, files, status):
    simulator.set_faults(Faults(rules=[FaultRule(path="/v4/bulkImportJobs", method="POST", status=status)]))
    r = post_job(client, files)
    assert r.status_code == status and r.json()["errors"][0]["code"]
    assert simulator.store.jobs() == []  # the faulted POST created nothing
    assert post_job(client, files).status_code == 200


def test_skip_lets_earlier_requests_through(simulator, client):
    simulator.set_faults(rules=[FaultRule(path="/v4/bulkImportMappingTypes*", status=500, skip=1, count=1)])
    codes = [client.get("bulkImportMappingTypes").status_code for _ in range(3)]
    assert codes == [200, 500, 200]


def test_slow_response(simulator, client):
    simulator.set_faults(rules=[FaultRule(path="/v4/bulkImportJobs/resources", kind="slow", delay_seconds=0.4)])
    start = time.monotonic()
    assert client.get("bulkImportJobs/resources").status_code == 200
    assert time.monotonic() - start >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        simulator.set_faults(rules=[FaultRule(path="*", kind="slow", delay_seconds=0.5)])
        client.get("bulkImportJobs/resources", timeout=0.1)


def test_a_held_request_waits_for_the_test_then_takes_effect(simulator, client, files):
    """``hold``: the POST waits (its client gives up), the job appears only once the test releases it."""
    simulator.set_faults(rules=[FaultRule(path="/v4/bulkImportJobs", method="POST", kind="hold"),
                                FaultRule(path="/v4/bulkImportJobs/resources", count=0)])  # counts, faults none
    with pytest.raises(httpx.ReadTimeout):
        post_job(client, files, timeout=0.3)  # a client that stops waiting, as a killed one would
    snap = simulator.faults.snapshot()
    assert snap["fired"] == [1, 0] and simulator.store.jobs() == []
    simulator.release_held()
    assert simulator.wait_held_answered(1, timeout=30)
    assert len(simulator.store.jobs()) == 1  # VAN made the job the client never heard about
    for _ in range(2):
        assert client.get("bulkImportJobs/resources").status_code == 200
    assert simulator.faults.snapshot()["seen"] == [1, 2]


def test_jobs_held_after_reading_their_file(simulator, client, files):
    simulator.hold_processing()
    job_id = post_job(client, files).json()["jobId"]
    deadline = time.monotonic() + 60
    while simulator.jobs_read < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert simulator.jobs_read == 1 and simulator.store.applied() == []  # read, nothing applied
    simulator.release_processing()
    assert wait_job(client, job_id)["status"] == "Completed" and len(simulator.store.applied()) == 1


def test_dropped_connection(simulator, client, files):
    simulator.set_faults(rules=[FaultRule(path="/v4/bulkImportJobs", method="POST", kind="drop")])
    with pytest.raises(httpx.RemoteProtocolError):
        post_job(client, files)
    assert simulator.store.jobs() == []
    assert post_job(client, files).status_code == 200


def test_not_found_for_first_polls(simulator, client, files):
    simulator.set_faults(poll_not_found=2)
    job_id = post_job(client, files).json()["jobId"]
    assert [client.get(f"bulkImportJobs/{job_id}").status_code for _ in range(3)] == [404, 404, 200]


def test_forced_failure_and_fetch_error(simulator, client, files):
    simulator.set_faults(fail_jobs=1, fetch_error=1)
    first = wait_job(client, post_job(client, files).json()["jobId"])
    second = wait_job(client, post_job(client, files).json()["jobId"])
    third = wait_job(client, post_job(client, files).json()["jobId"])
    assert first["status"] == "Failed" and first["errors"][0]["code"] == "JOB_FAILED"
    assert second["status"] == "Failed" and second["errors"][0]["code"] == "SOURCE_FILE_UNAVAILABLE"
    assert third["status"] == "Completed"
    assert len(simulator.store.applied()) == 1


def test_result_urls_expire_early(simulator, client, files):
    simulator.set_faults(result_url_ttl_seconds=0.3)
    job = wait_job(client, post_job(client, files).json()["jobId"])
    url = job["resultFiles"][0]["url"]
    assert httpx.get(url).status_code == 200
    time.sleep(0.4)
    assert httpx.get(url).status_code == 403


def test_admin_endpoint_sets_faults(simulator, client):
    admin = simulator.root_url + "/_sim/faults"
    r = httpx.put(admin, json={"rules": [{"path": "/v4/*", "status": 503, "retry_after": 1, "count": 1}]})
    assert r.status_code == 200 and r.json()["rules"][0]["status"] == 503
    r = client.get("bulkImportJobs/resources")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert httpx.get(admin).json()["fired"] == [1]
    assert httpx.put(admin, json={"rules": [{"kind": "explode"}]}).status_code == 400


@pytest.mark.parametrize("simulator_config", [{"faults": {"rules": [
    {"path": "/v4/bulkImportJobs/resources", "status": 502, "count": None}]}}], indirect=True)
def test_faults_from_config(client):
    assert [client.get("bulkImportJobs/resources").status_code for _ in range(3)] == [502] * 3
