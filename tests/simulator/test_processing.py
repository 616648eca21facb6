"""Job processing over HTTP: status paths, row validation, result files, and what lands in the store."""

from __future__ import annotations

import zipfile

import httpx
import pytest

from .conftest import csv_text, job_body, make_zip, read_results, result_header, wait_job
from tests.fixtures.simulator import ALL_RULES, make_simulator_config


@pytest.fixture
def simulator_config(request):
    """These tests exercise the rule mechanics, so the account enforces the inferred rules too."""
    return make_simulator_config(request, **ALL_RULES)

AC = [{"name": "ActivistCode", "fieldValueMappings": [{"fieldName": "ActivistCodeID", "columnName": "ac"}]}]


def test_activist_code_job_completes_with_documented_layout(run, simulator):
    job = run(["VanID", "ac", "crm"], [["100001", "4150001", "A-1"], ["100002", "Yard Sign Requested", "A-2"]],
              AC, include=["crm"])
    assert job["status"] == "Completed"
    assert set(job) == {"id", "status", "resourceType", "webhookUrl", "resultFileSizeLimitKb", "errors",
                        "resultFiles"}
    assert job["resourceType"] == "Contacts" and job["resultFileSizeLimitKb"] == 5000 and job["errors"] == []
    assert len(job["resultFiles"]) == 1
    header = result_header(job["resultFiles"][0]["url"])
    assert header[:5] == ["BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType", "crm"]
    assert len(header) == 6 and header[5].startswith("ActivistCode_")
    rows = read_results(job)
    col = header[5]
    assert [(r["BulkUploadDataID"], r["PrimaryKey"], r["PrimaryKeyType"], r["crm"], r[col]) for r in rows] == [
        ("1", "100001", "VanID", "A-1", "Processed"), ("2", "100002", "VanID", "A-2", "Processed")]
    assert len({r["ULFileID"] for r in rows}) == 1
    applied = simulator.store.applied("ActivistCode")
    assert [(a["primaryKey"], a["fields"]) for a in applied] == [
        (100001, {"ActivistCodeID": "4150001"}), (100002, {"ActivistCodeID": "4150002"})]  # name -> id


def test_date_expired_is_dotnet_format(run):
    import re

    job = run(["VanID", "ac"], [["100001", "4150001"]], AC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}-04:00", job["resultFiles"][0]["dateExpired"])


def test_invalid_rows_are_absent_and_job_completes_with_errors(run, simulator):
    mts = [{"name": "ActivistCode", "fieldValueMappings": [
        {"fieldName": "ActivistCodeID", "columnName": "ac"}, {"fieldName": "CanvassedBy", "columnName": "who"},
        {"fieldName": "DateCanvassed", "columnName": "when"}]}]
    job = run(["VanID", "ac", "who", "when"], [
        ["100001", "4150001", "7", "2024-05-01"],
        ["100002", "999", "", ""],  # not a predefined value
        ["100003", "4150001", "", "2024-05-01"],  # child without parent value
        ["100004", "4150001", "7", "not a date"],  # bad date format
        ["", "4150001", "", ""],  # no VanID
        ["100005", "", "", ""],  # required value missing
        ["100005", "4150003", "8", "05/02/2024"],
    ], mts)
    assert job["status"] == "CompletedWithErrors"
    rows = read_results(job)
    assert [r["BulkUploadDataID"] for r in rows] == ["1", "7"]
    assert [(a["rowNumber"], a["fields"]) for a in simulator.store.applied("ActivistCode")] == [
        (1, {"ActivistCodeID": "4150001", "CanvassedBy": "7", "DateCanvassed": "2024-05-01"}),
        (7, {"ActivistCodeID": "4150003", "CanvassedBy": "8", "DateCanvassed": "2024-05-02"})]


@pytest.mark.parametrize("simulator_config", [{"invalid_rows": "message"}], indirect=True)
def test_invalid_rows_can_carry_messages_instead(run):
    job = run(["VanID", "ac"], [["100001", "4150001"], ["100002", "999"]], AC)
    rows = read_results(job)
    col = [c for c in rows[0] if c.startswith("ActivistCode_")][0]
    assert [r[col] for r in rows] == ["Processed", "Invalid ActivistCodeID: '999' is not an accepted value"]


def test_unknown_contact_gets_a_message_and_nothing_applied(run, simulator):
    job = run(["VanID", "ac"], [["100001", "4150001"], ["424242", "4150001"]], AC)
    assert job["status"] == "CompletedWithErrors"
    rows = read_results(job)
    col = [c for c in rows[0] if c.startswith("ActivistCode_")][0]
    assert [(r["PrimaryKey"], r[col]) for r in rows] == [("100001", "Processed"), ("424242", "Contact not found")]
    assert [a["primaryKey"] for a in simulator.store.applied("ActivistCode")] == [100001]


def test_value_translation(run, simulator):
    mts = [{"name": "ActivistCode", "fieldValueMappings": [{"fieldName": "ActivistCodeID", "columnName": "ac",
                                                            "values": [{"sourceValue": "vol", "targetValue": "4150001"}]}]}]
    job = run(["VanID", "ac"], [["100001", "VOL"], ["100002", "4150004"]], mts)
    assert job["status"] == "Completed"
    assert [a["fields"]["ActivistCodeID"] for a in simulator.store.applied("ActivistCode")] == ["4150001", "4150004"]


def test_create_or_update_contact(run, simulator):
    mts = [{"name": "CreateOrUpdateContact"}]
    cols = ["VanID", "FirstName", "LastName", "Email", "ext"]
    job = run(cols, [["", "Mary", "Jackson", "MARY@Example.org ", "x1"],
                     ["100001", "", "Byron", "", "x2"],  # blank cells leave stored values alone
                     ["", "", "", "", "x3"],  # cannot identify or create a contact: absent
                     ["", "Dorothy", "Vaughan", "not-an-email", "x4"]],  # bad email: absent
              mts, include=["ext"])
    assert job["status"] == "CompletedWithErrors"
    rows = read_results(job)
    assert [r["ext"] for r in rows] == ["x1", "x2"]
    new_id = int(rows[0]["PrimaryKey"])
    assert new_id >= 200000001 and rows[1]["PrimaryKey"] == "100001"
    assert simulator.store.contact(new_id) == {"VanID": new_id, "FirstName": "Mary", "LastName": "Jackson",
                                               "Email": "mary@example.org"}
    assert simulator.store.contact(100001) == {"VanID": 100001, "FirstName": "Ada", "LastName": "Byron",
                                               "Email": "ada@example.org"}
    assert len(simulator.store.contacts()) == 6


def test_failed_jobs(client, files, simulator):
    cases = {
        "SOURCE_FILE_UNAVAILABLE": (files.url("/missing.zip"), "data.csv"),
        "INVALID_ZIP": (files.put("/notzip.zip", b"this is not a zip"), "data.csv"),
        "FILE_NOT_FOUND_IN_ZIP": (files.put("/other.zip", make_zip("other.csv", "VanID,ac\r\n")), "data.csv"),
        "COLUMN_COUNT_MISMATCH": (files.put("/short.zip", make_zip("data.csv", "VanID,ac\r\n100001\r\n")), "data.csv"),
    }
    for code, (url, name) in cases.items():
        body = job_body(["VanID", "ac"], AC, url, file_name=name)
        job = wait_job(client, client.post("bulkImportJobs", json=body).json()["jobId"])
        assert job["status"] == "Failed", code
        assert job["resultFiles"] == []
        assert [e["code"] for e in job["errors"]] == [code]
        assert set(job["errors"][0]) == {"code", "text", "referenceCode"}
    assert simulator.store.applied() == []


def test_delimiters_quotes_and_no_header(client, files, simulator):
    for delim, char in (("Tab", "\t"), ("pipe", "|"), ("CSV", ",")):
        text = csv_text([["100001", "4150001", "a, b|c"]], delimiter=char, quote_all=True)
        url = files.put(f"/{delim}.zip", make_zip("data.txt", text, zipfile.ZIP_STORED))
        body = job_body(["VanID", "ac", "note"], AC, url, file_name="data.txt", has_header=False,
                        include=["note"], columnDelimiter=delim, hasQuotes=True)
        job = wait_job(client, client.post("bulkImportJobs", json=body).json()["jobId"])
        assert job["status"] == "Completed", (delim, job)
        assert read_results(job)[0]["note"] == "a, b|c"


@pytest.mark.parametrize("simulator_config", [{"result_kb_unit": 1}], indirect=True)
def test_result_files_split_by_size(run):
    # 1 "KB" = 1 byte here, so the 5000 limit splits a few hundred rows into several files
    rows = [[str(100001 + i % 5), "4150001", f"row-{i:04d}-" + "x" * 20] for i in range(400)]
    job = run(["VanID", "ac", "pad"], rows, AC, include=["pad"])
    assert job["status"] == "Completed"
    assert len(job["resultFiles"]) >= 3
    sizes = [len(httpx.get(f["url"]).content) for f in job["resultFiles"]]
    assert max(sizes) <= 5000
    out = read_results(job)
    assert [r["pad"] for r in out] == [r[2] for r in rows]  # every file repeats the header, order kept


@pytest.mark.parametrize("simulator_config", [{"pending_seconds": 0.3, "seconds_per_1000_rows": 300.0,
                                               "min_processing_seconds": 0.0}], indirect=True)
def test_status_path_with_errors(run, client, files):
    # 4 rows take 1.2 s at this rate; the bad row is reached after 2/4 of it
    rows = [["100001", "4150001"]] * 2 + [["100002", "999"]] + [["100003", "4150001"]]
    url = files.put("/slow.zip", make_zip("data.csv", csv_text([["VanID", "ac"], *rows])))
    seen: list[str] = []
    r = client.post("bulkImportJobs", json=job_body(["VanID", "ac"], AC, url))
    job = wait_job(client, r.json()["jobId"], timeout=20, seen=seen)
    assert seen == ["Pending", "InProgress", "InProgressWithErrors", "CompletedWithErrors"]
    assert job["status"] == "CompletedWithErrors"


def test_result_url_expires(run, simulator):
    job = run(["VanID", "ac"], [["100001", "4150001"]], AC)
    url = job["resultFiles"][0]["url"]
    assert httpx.get(url).status_code == 200
    simulator.expire_result_urls()
    r = httpx.get(url)
    assert r.status_code == 403
    assert r.json() == {"errors": [{"code": "EXPIRED", "text": "The result file link has expired."}]}


def test_state_survives_restart_and_jobs_are_not_reapplied(tmp_path, files, simulator_config):
    from connector.simulator import SimulatorServer

    from .conftest import APP, KEY

    url = files.put("/r.zip", make_zip("data.csv", csv_text([["VanID", "ac"], ["100001", "4150001"]])))
    with SimulatorServer(tmp_path / "state", config=simulator_config) as sim:
        with httpx.Client(base_url=sim.base_url, auth=(APP, KEY + "|1")) as c:
            job_id = c.post("bulkImportJobs", json=job_body(["VanID", "ac"], AC, url)).json()["jobId"]
            first_text = httpx.get(wait_job(c, job_id)["resultFiles"][0]["url"]).text
    with SimulatorServer(tmp_path / "state", config=simulator_config) as sim:
        with httpx.Client(base_url=sim.base_url, auth=(APP, KEY + "|1")) as c:
            again = c.get(f"bulkImportJobs/{job_id}").json()
            assert again["status"] == "Completed"
            assert httpx.get(again["resultFiles"][0]["url"]).text == first_text
            assert len(sim.store.applied("ActivistCode")) == 1
            assert c.post("bulkImportJobs", json=job_body(["VanID", "ac"], AC, url)).json()["jobId"] > job_id


def test_one_result_column_per_mapping_with_consecutive_ids(run, simulator):
    mts = [{"name": "CreateOrUpdateContact"},
           {"name": "Phones", "fieldValueMappings": [{"fieldName": "Phone", "columnName": "home"},
                                                     {"fieldName": "PhoneTypeID", "staticValue": "H"}]},
           {"name": "Phones", "fieldValueMappings": [{"fieldName": "Phone", "columnName": "cell"},
                                                     {"fieldName": "PhoneTypeID", "staticValue": "C"}]}]
    job = run(["VanID", "FirstName", "LastName", "home", "cell"],
              [["", "Ann", "Lee", "(202) 555-0143", "202-555-0199"], ["100002", "", "", "", "2025550100"]], mts)
    header = result_header(job["resultFiles"][0]["url"])
    tail = header[4:]
    assert [h.rsplit("_", 1)[0] for h in tail] == ["CreateOrUpdateContact", "Phones", "Phones"]
    ids = [int(h.rsplit("_", 1)[1]) for h in tail]
    assert ids == list(range(ids[0], ids[0] + 3))
    phones = simulator.store.applied("Phones")
    assert sorted((p["rowNumber"], p["fields"]["Phone"], p["fields"]["PhoneTypeID"]) for p in phones) == [
        (1, "2025550143", "H"), (1, "2025550199", "C"), (2, "2025550100", "C")]
    # row 2 has no home phone: that Phones mapping is skipped for the row, not an error
    assert job["status"] == "Completed"
    assert [r[tail[1]] for r in read_results(job)] == ["Processed", "Processed"]


@pytest.mark.parametrize("simulator_config", [{"pending_seconds": 0.2, "seconds_per_1000_rows": 300.0,
                                               "min_processing_seconds": 0.0}], indirect=True)
def test_status_path_clean(client, files):
    url = files.put("/clean.zip", make_zip("data.csv", csv_text([["VanID", "ac"], ["100001", "4150001"],
                                                                 ["100002", "4150001"]])))
    seen: list[str] = []
    job = wait_job(client, client.post("bulkImportJobs", json=job_body(["VanID", "ac"], AC, url)).json()["jobId"],
                   seen=seen)
    assert seen == ["Pending", "InProgress", "Completed"] and job["resultFiles"]


@pytest.mark.parametrize("simulator_config", [{"max_zip_bytes": 100}], indirect=True)
def test_zip_size_limit(client, files):
    rows = [["VanID", "ac"]] + [[str(100001 + i % 5), "4150001"] for i in range(200)]
    url = files.put("/big.zip", make_zip("data.csv", csv_text(rows), zipfile.ZIP_STORED))
    job = wait_job(client, client.post("bulkImportJobs", json=job_body(["VanID", "ac"], AC, url)).json()["jobId"])
    assert job["status"] == "Failed" and job["errors"][0]["code"] == "FILE_TOO_LARGE"


def test_webhook_url_is_echoed_and_the_zip_is_fetched_once(client, files):
    url = files.put("/w.zip", make_zip("data.csv", csv_text([["VanID", "ac"], ["100001", "4150001"]])))
    body = job_body(["VanID", "ac"], AC, url)
    body["webhookUrl"] = "https://hooks.example.org/van"
    job = wait_job(client, client.post("bulkImportJobs", json=body).json()["jobId"])
    assert job["webhookUrl"] == "https://hooks.example.org/van"
    assert files.hits["/w.zip"] == 1
