"""Results parsing (several files, mapping columns, blanks) and the ledger: anti-join, idempotent submission,
the write-before-POST protocol, the latest-status view. DuckDB here; PostgreSQL in test_pipeline_e2e."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.config import Settings
from connector.errors import SubmitAmbiguous, VanValidationError
from connector.export import export_rows
from connector.ledger import Ledger, content_key, utcnow
from connector.payload import JobSpec, MappingSpec
from connector.run import runtime, submit_chunk
from connector.results import ResultFile, categorize, parse_results
from connector.warehouse import Warehouse


def write(p: Path, text: str) -> Path:
    p.write_text(text, encoding="utf-8")
    return p


def test_parse_every_result_file_and_classify(tmp_path):
    f1 = write(tmp_path / "r1.csv",
               "BulkUploadDataID,ULFileID,PrimaryKey,PrimaryKeyType,source_row_key,ActivistCode_1801\r\n"
               "1,7301,100001,VanID,k1,Processed\r\n2,7301,100002,VanID,k2,Contact not found\r\n")
    f2 = write(tmp_path / "r2.csv",
               "BulkUploadDataID,ULFileID,PrimaryKey,PrimaryKeyType,source_row_key,ActivistCode_1801\r\n"
               "3,7301,200000001,VanID,k3,Processed\r\n")
    files = [ResultFile(1, f1, "http://x/1", None), ResultFile(2, f2, "http://x/2", None)]
    rows = list(parse_results(files, ["ActivistCode"], job_key="j", van_job_id=5, run_id="r", loaded_at=utcnow()))
    assert [(r["source_row_key"], r["row_status"], r["result_file_no"]) for r in rows] == [
        ("k1", "processed", 1), ("k2", "failed", 1), ("k3", "processed", 2)]
    assert rows[1]["first_error_message"] == "Contact not found" and rows[1]["error_category"] == "not_found"
    assert json.loads(rows[1]["mapping_messages_json"]) == {"ActivistCode_1801": "Contact not found"}
    assert rows[2]["primary_key"] == "200000001"  # new VanID captured


def test_multi_mapping_results_split_per_mapping_type(tmp_path):
    f = write(tmp_path / "r.csv",
              "BulkUploadDataID,ULFileID,PrimaryKey,PrimaryKeyType,source_row_key,Phones_1834,ActivistCode_1835\n"
              "1,7,9,VanID,k1,Processed,Processed\n2,7,8,VanID,k2,Invalid phone number,Processed\n")
    rows = list(parse_results([ResultFile(1, f, "", None)], ["CreateOrUpdateContact", "Phones", "ActivistCode"],
                              job_key="j", van_job_id=1, run_id="r", loaded_at=utcnow()))
    got = {(r["mapping_type"], r["source_row_key"]): r["row_status"] for r in rows}
    assert got[("Phones", "k2")] == "failed" and got[("ActivistCode", "k2")] == "processed"
    assert got[("CreateOrUpdateContact", "k1")] == "processed"  # no column: a result row with a PrimaryKey


def test_categories():
    assert categorize("Invalid email address") == "invalid_value"
    assert categorize("Ignored to avoid overwriting best phone") == "ignored"
    assert categorize("Contact not found") == "not_found"
    assert categorize("weird") == "other" and categorize(None) is None


@pytest.fixture
def ledger(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/l.duckdb")
    L = Ledger(wh)
    L.ensure()
    L.ensure()  # idempotent DDL
    yield L
    wh.dispose()


def test_anti_join_marks_rows_absent_from_results(ledger, tmp_path):
    job_key = ledger.create_job({"run_id": "r", "mapping_types": "ActivistCode", "row_count": 3},
                                iter(["k1", "k2", "k3"]))
    f = write(tmp_path / "r.csv", "BulkUploadDataID,ULFileID,PrimaryKey,PrimaryKeyType,source_row_key,ActivistCode_1\n"
                                  "1,7,1,VanID,k1,Processed\n")
    ledger.replace_results(job_key, parse_results([ResultFile(1, f, "", None)], ["ActivistCode"], job_key=job_key,
                                                  van_job_id=1, run_id="r", loaded_at=utcnow()))
    ledger.add_not_in_results(job_key, ["ActivistCode"], 1, "r")
    ledger.add_not_in_results(job_key, ["ActivistCode"], 1, "r")  # re-running adds nothing
    assert ledger.status_counts(job_key) == {"processed": 1, "not_in_results": 2}
    latest = ledger.query(f"select source_row_key, row_status from {ledger.rel('van_bulk_row_latest')} order by 1")
    assert [(r["source_row_key"], r["row_status"]) for r in latest] == [
        ("k1", "processed"), ("k2", "not_in_results"), ("k3", "not_in_results")]


def test_bulk_load_keeps_nulls_empty_strings_quotes_and_newlines(ledger):
    keys = ["plain", 'with "quotes", commas', "multi\nline", ""]
    job_key = ledger.create_job({"run_id": "r", "mapping_types": "X"}, iter(keys))
    got = [r["source_row_key"] for r in ledger.query(
        f"select source_row_key from {ledger.rel('van_bulk_job_rows')} where job_key = :k", {"k": job_key})]
    assert sorted(got) == sorted(keys)
    row = ledger.get_job(job_key)
    assert row["van_job_id"] is None and row["local_state"] == "exported"


class FakeClient:
    """Records POSTs; behaviour per call from a list."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.posted = []

    def create_job(self, payload):
        self.posted.append(payload)
        out = self.outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    def close(self):
        pass


def _chunk(tmp_path, rows):
    [c] = export_rows(rows, ["source_row_key", "VanID", "ActivistCodeID"], tmp_path / "exp", "ac",
                      max_zipped_bytes=10**6, max_rows_per_chunk=1000)
    return c


def _settings(tmp_path):
    return Settings(project_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path}/w.duckdb", api_key="k" * 36,
                    api_base_url="https://api.example.test/v4/")


SPEC = JobSpec((MappingSpec("ActivistCode"),))


def test_same_content_is_submitted_once_unless_forced(tmp_path):
    client = FakeClient([101, 102])
    with runtime(_settings(tmp_path), client=client) as rt:
        c = _chunk(tmp_path, [("k1", "100001", "4")])
        first = submit_chunk(rt, SPEC, c, 1, run_id="r1", resource_type="Contacts", source_relation="v")
        assert first["van_job_id"] == 101 and first["local_state"] == "submitted"
        again = submit_chunk(rt, SPEC, c, 1, run_id="r2", resource_type="Contacts", source_relation="v")
        assert again["_skipped"] and again["van_job_id"] == 101 and len(client.posted) == 1
        forced = submit_chunk(rt, SPEC, c, 1, run_id="r3", resource_type="Contacts", source_relation="v", force=True)
        assert forced["van_job_id"] == 102 and forced["forced"] and len(client.posted) == 2
        payload = client.posted[0]
        assert payload["actions"][0]["columnsToIncludeInResultsFile"] == [{"name": "source_row_key"}]
        assert payload["actions"][0]["mappingTypes"][0]["fieldValueMappings"] == [
            {"fieldName": "ActivistCodeID", "columnName": "ActivistCodeID"}]  # VanID is a key column, by name
        assert "?" not in first["storage_uri"]


def test_row_is_written_before_post_and_a_crash_leaves_it_ambiguous(tmp_path):
    """A crash between POST and the ledger update leaves `submitting`: never auto-resubmitted."""
    seen_states = []

    class CrashAfterPost(FakeClient):
        def create_job(self, payload):
            with Warehouse(rt.settings.warehouse_url) as wh:
                seen_states.append(wh.scalar("select local_state from van_bulk_jobs"))
            self.posted.append(payload)
            raise KeyboardInterrupt  # the process dies after VAN got the POST

    client = CrashAfterPost([])
    with runtime(_settings(tmp_path), client=client) as rt:
        c = _chunk(tmp_path, [("k1", "100001", "4")])
        with pytest.raises(KeyboardInterrupt):
            submit_chunk(rt, SPEC, c, 1, run_id="r1", resource_type="Contacts", source_relation="v")
        assert seen_states == ["submitting"]
        again = submit_chunk(rt, SPEC, c, 1, run_id="r2", resource_type="Contacts", source_relation="v")
        assert again["_skipped"] and again["local_state"] == "submitting" and len(client.posted) == 1


def test_ambiguous_and_definite_post_failures(tmp_path):
    client = FakeClient([SubmitAmbiguous("timeout"), VanValidationError("bad", 400, [{"code": "X", "text": "t"}]), 7])
    with runtime(_settings(tmp_path), client=client) as rt:
        a = _chunk(tmp_path / "a", [("k1", "1", "4")])
        with pytest.raises(SubmitAmbiguous):
            submit_chunk(rt, SPEC, a, 1, run_id="r", resource_type="Contacts", source_relation="v")
        assert rt.ledger.find_by_content(content_key(["ActivistCode"], rt.api_target, 1, a.sha256))["local_state"] == "ambiguous"
        b = _chunk(tmp_path / "b", [("k2", "2", "4")])
        with pytest.raises(VanValidationError):
            submit_chunk(rt, SPEC, b, 1, run_id="r", resource_type="Contacts", source_relation="v")
        # VAN refused: no job exists, so the same content may go again
        job = submit_chunk(rt, SPEC, b, 1, run_id="r", resource_type="Contacts", source_relation="v")
        assert job["van_job_id"] == 7
        failed = [j for j in rt.ledger.jobs() if j["local_state"] == "submit_failed"]
        assert json.loads(failed[0]["errors_json"])[0]["code"] == "X"
