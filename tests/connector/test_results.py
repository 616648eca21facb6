"""Result files: every file of a job, mapping columns per type, message categories."""

from __future__ import annotations

import json
from pathlib import Path

from connector.ledger import utcnow
from connector.results import ResultFile, categorize, parse_results


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
