""""Done when": clients written only from VAN's public docs and from what Parsons sends work unchanged.

Nothing here uses the package's code: plain httpx, stdlib zip/csv, a stdlib HTTP server hosting the zips.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
import zipfile

import httpx
import pytest

from .conftest import APP, KEY, FileServer

DONE = ("Completed", "CompletedWithErrors")


class DocsClient:
    """A minimal VAN Bulk Import client following docs.ngpvan.com (Basic auth, /v4/, envelope pagination)."""

    def __init__(self, base_url: str, app: str, key: str, mode: int):
        self.http = httpx.Client(base_url=base_url, auth=(app, f"{key}|{mode}"), timeout=10,
                                 headers={"Content-Type": "application/json"})

    def paged(self, path: str) -> list:
        out, url = [], path
        while url:
            body = self.http.get(url).raise_for_status().json()
            out += body["items"]
            url = body["nextPageLink"]
        return out

    def resources(self) -> list[str]:
        return self.http.get("bulkImportJobs/resources").raise_for_status().json()

    def create_job(self, body: dict) -> int:
        r = self.http.post("bulkImportJobs", json=body)
        r.raise_for_status()
        return r.json()["jobId"]

    def wait(self, job_id: int, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.http.get(f"bulkImportJobs/{job_id}").raise_for_status().json()
            if job["status"] in (*DONE, "Failed"):
                return job
            time.sleep(0.05)
        raise TimeoutError(job_id)

    @staticmethod
    def results(job: dict) -> list[dict]:
        rows: list[dict] = []
        for f in job["resultFiles"]:
            rows += list(csv.DictReader(io.StringIO(httpx.get(f["url"]).raise_for_status().text)))
        return rows


def zipped(name: str, rows: list[list[str]], *, quote_all=False, stored=False) -> bytes:
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, text.getvalue())
    return buf.getvalue()


def test_docs_client_end_to_end(simulator):
    files = FileServer()
    van = DocsClient(simulator.base_url, APP, KEY, 1)
    try:
        assert "Contacts" in van.resources()
        types = {m["name"]: m for m in van.paged("bulkImportMappingTypes?$top=5")}
        assert {"ActivistCode", "CreateOrUpdateContact"} <= set(types)
        codes = van.paged("bulkImportMappingTypes/ActivistCode/ActivistCodeID/values")

        # 1. Create contacts from a file whose columns have our own names (D-INTRO example style).
        people = [["GivenName", "Surname", "Email", "ExternalId"],
                  ["Mary", "Jackson", "mary@example.org", "ext-1"],
                  ["Annie", "Easley", "annie@example.org", "ext-2"]]
        url = files.put("/people.zip", zipped("people.csv", people))
        job_id = van.create_job({
            "description": "Create volunteers",
            "file": {"fileName": "people.csv", "hasHeader": True, "hasQuotes": False, "sourceUrl": url,
                     "columns": [{"name": c} for c in people[0]], "columnDelimiter": "Csv"},
            "actions": [{"actionType": "loadMappedFile", "resourceType": "Contacts", "resultFileSizeKbLimit": 5000,
                         "columnsToIncludeInResultsFile": [{"name": "ExternalId"}],
                         "mappingTypes": [{"name": "CreateOrUpdateContact", "fieldValueMappings": [
                             {"fieldName": "FirstName", "columnName": "GivenName"},
                             {"fieldName": "LastName", "columnName": "Surname"},
                             {"fieldName": "Email", "columnName": "Email"}]}]}]})
        job = van.wait(job_id)
        assert job["status"] == "Completed" and job["id"] == job_id
        rows = van.results(job)
        assert list(rows[0])[:5] == ["BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType", "ExternalId"]
        new_ids = {r["ExternalId"]: int(r["PrimaryKey"]) for r in rows}
        assert all(r["PrimaryKeyType"] == "VanID" for r in rows) and len(set(new_ids.values())) == 2

        # 2. Apply an activist code to the new contacts (VanID column, mapping by column name).
        ac_rows = [["VanID", "ActivistCodeID"]] + [[str(v), codes[0]["id"]] for v in new_ids.values()]
        url = files.put("/codes.zip", zipped("codes.csv", ac_rows))
        job = van.wait(van.create_job({
            "description": "Tag volunteers",
            "file": {"fileName": "codes.csv", "hasHeader": True, "sourceUrl": url,
                     "columns": [{"name": "VanID"}, {"name": "ActivistCodeID"}], "columnDelimiter": "Csv"},
            "actions": [{"actionType": "loadMappedFile", "resourceType": "Contacts", "resultFileSizeKbLimit": 5000,
                         "mappingTypes": [{"name": "ActivistCode"}]}]}))
        assert job["status"] == "Completed"
        results = van.results(job)
        result_col = [c for c in results[0] if c.startswith("ActivistCode_")]
        assert len(result_col) == 1 and {r[result_col[0]] for r in results} == {"Processed"}

        # 3. The simulator holds exactly what was applied.
        created = {c["VanID"]: c for c in simulator.store.contacts() if c["VanID"] in new_ids.values()}
        assert created == {new_ids["ext-1"]: {"VanID": new_ids["ext-1"], "FirstName": "Mary",
                                              "LastName": "Jackson", "Email": "mary@example.org"},
                           new_ids["ext-2"]: {"VanID": new_ids["ext-2"], "FirstName": "Annie",
                                              "LastName": "Easley", "Email": "annie@example.org"}}
        applied = simulator.store.applied("ActivistCode")
        assert sorted(a["primaryKey"] for a in applied) == sorted(new_ids.values())
        assert {a["fields"]["ActivistCodeID"] for a in applied} == {codes[0]["id"]}
        assert len(simulator.store.applied("CreateOrUpdateContact")) == 2
    finally:
        van.http.close()
        files.close()


ANY_APP = {"api_keys": [{"key": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}]}


@pytest.mark.parametrize("simulator_config", [ANY_APP], indirect=True)
def test_what_parsons_sends(simulator):
    """Parsons: app name "default", string booleans, "csv", QUOTE_ALL, no fieldValueMappings, stored zip."""
    files = FileServer()
    http = httpx.Client(base_url=simulator.base_url, auth=("default", "7c9e6679-7425-40de-944b-e07fc1f90ae7|1"))
    try:
        def parsons_job(columns, rows, mapping_type):
            name = str(uuid.uuid1())
            url = files.put(f"/{name}.zip", zipped(f"{name}.csv", [columns, *rows], quote_all=True, stored=True))
            body = {"description": "A description",
                    "file": {"fileName": f"{name}.csv", "hasHeader": "True", "hasQuotes": "True",
                             "sourceUrl": url, "columns": [{"name": c} for c in columns],
                             "columnDelimiter": "csv"},
                    "actions": [{"resultFileSizeKbLimit": 5000, "resourceType": "Contacts",
                                 "actionType": "loadMappedFile", "mappingTypes": [{"name": mapping_type}]}]}
            r = http.post("bulkImportJobs", json=body)
            assert r.status_code == 200, r.text
            job_id = r.json()["jobId"]
            for _ in range(300):
                job = http.get(f"bulkImportJobs/{job_id}").json()
                if job["status"] in ("Completed", "CompletedWithErrors", "Failed"):
                    return job
                time.sleep(0.03)
            raise TimeoutError

        job = parsons_job(["vanid", "activistcodeid"], [["100003", "4150002"], ["100004", "4150002"]], "ActivistCode")
        assert job["status"] == "Completed", job
        assert sorted(a["primaryKey"] for a in simulator.store.applied("ActivistCode")) == [100003, 100004]

        job = parsons_job(["vanid", "firstname", "lastname", "email"],
                          [["", "Dorothy", "Vaughan", "dorothy@example.org"], ["100005", "Edsger", "", ""]],
                          "CreateOrUpdateContact")
        assert job["status"] == "Completed", job
        table = list(csv.DictReader(io.StringIO(httpx.get(job["resultFiles"][0]["url"]).text)))
        new_id = int(table[0]["PrimaryKey"])
        assert simulator.store.contact(new_id)["LastName"] == "Vaughan"
        assert simulator.store.contact(100005)["LastName"] == "Dijkstra"  # blank did not erase
    finally:
        http.close()
        files.close()


@pytest.mark.parametrize("simulator_config", [ANY_APP], indirect=True)
def test_parsons_contact_upsert_with_name_email_and_zip_only(simulator):
    """Parsons 6.1 ``bulk_upsert_contacts`` with the most common columns: no street, so no AddressLine1.

    The parent AddressLine1 of ZipOrPostal is only our inference: the default world does not enforce it,
    and the rows are processed (VAN matches people on name + email / ZIP)."""
    files = FileServer()
    http = httpx.Client(base_url=simulator.base_url, auth=("default", "7c9e6679-7425-40de-944b-e07fc1f90ae7|1"))
    try:
        columns = ["firstname", "lastname", "email", "ziporpostal"]
        rows = [["Dorothy", "Vaughan", "dorothy@example.org", "23666"], ["Mary", "Jackson", "mary@example.org", "23669"]]
        name = str(uuid.uuid1())
        url = files.put(f"/{name}.zip", zipped(f"{name}.csv", [columns, *rows], quote_all=True, stored=True))
        r = http.post("bulkImportJobs", json={
            "description": "A description",
            "file": {"fileName": f"{name}.csv", "hasHeader": "True", "hasQuotes": "True", "sourceUrl": url,
                     "columns": [{"name": c} for c in columns], "columnDelimiter": "csv"},
            "actions": [{"resultFileSizeKbLimit": 5000, "resourceType": "Contacts", "actionType": "loadMappedFile",
                         "mappingTypes": [{"name": "CreateOrUpdateContact"}]}]})
        assert r.status_code == 200, r.text
        job_id = r.json()["jobId"]
        for _ in range(300):
            job = http.get(f"bulkImportJobs/{job_id}").json()
            if job["status"] in ("Completed", "CompletedWithErrors", "Failed"):
                break
            time.sleep(0.03)
        assert job["status"] == "Completed", job
        table = list(csv.DictReader(io.StringIO(httpx.get(job["resultFiles"][0]["url"]).text)))
        assert len(table) == 2
        stored = [simulator.store.contact(int(t["PrimaryKey"])) for t in table]
        assert sorted((c["LastName"], c["ZipOrPostal"]) for c in stored) == [("Jackson", "23669"), ("Vaughan", "23666")]
        # What the simulator serves is what it enforces: no parent on ZipOrPostal in its metadata.
        meta = http.get("bulkImportMappingTypes/CreateOrUpdateContact").json()
        zip_field = next(f for f in meta["fields"] if f["name"] == "ZipOrPostal")
        assert not zip_field.get("parents")
    finally:
        http.close()
        files.close()


@pytest.mark.parametrize("simulator_config", [{**ANY_APP, "enforce_inferred": ["parents"]}], indirect=True)
def test_an_account_that_enforces_inferred_parents_refuses_a_zip_without_street(simulator):
    """An inferred rule stays a knob: a world that enforces inferred parents refuses a work address that has
    a ZIP and no AddressLine1 at POST; the default world takes it (AddressLine1's parenthood is inferred)."""
    files = FileServer()
    http = httpx.Client(base_url=simulator.base_url, auth=("default", "7c9e6679-7425-40de-944b-e07fc1f90ae7|1"))
    try:
        columns = ["vanid", "ziporpostal"]
        url = files.put("/z.zip", zipped("z.csv", [columns, ["100001", "23666"]]))
        r = http.post("bulkImportJobs", json={
            "description": "zip only",
            "file": {"fileName": "z.csv", "hasHeader": True, "hasQuotes": False, "sourceUrl": url,
                     "columns": [{"name": c} for c in columns], "columnDelimiter": "Csv"},
            "actions": [{"resultFileSizeKbLimit": 5000, "resourceType": "Contacts", "actionType": "loadMappedFile",
                         "mappingTypes": [{"name": "WorkAddress"}]}]})
        assert r.status_code == 400
        assert "Field 'ZipOrPostal' requires its parent field 'AddressLine1' to be mapped." in r.text
    finally:
        http.close()
        files.close()
