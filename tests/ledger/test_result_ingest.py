"""Result files read by the engine (DuckDB ``read_csv``, PostgreSQL ``COPY``) give exactly the rows
``parse_results`` gives in Python: every column, the first of a repeated key, message categories, blank
cells, a mapping without a result column, odd keys; then the anti-join records the absent rows."""

from __future__ import annotations

import json

import pytest

from connector.ledger import ROW_RESULTS, JobState, content_key, new_id, utcnow
from connector.results import ResultFile, ResultFiles, parse_results

MTS = ["CreateOrUpdateContact", "Phones", "ActivistCode"]
HEADER = "\ufeffBulkUploadDataID,ULFileID,PrimaryKey,PrimaryKeyType,source_row_key,Phones_1834,ActivistCode_1835\r\n"
FILE1 = HEADER + (
    '1,7,9,VanID,k1,Processed,Processed\r\n'
    '2,7,8,VanID,k2,Invalid phone number,Processed\r\n'
    '3,7,,VanID,"line\nbreak, ""key""",processed ,Contact not found\r\n'
    '4,7,6,VanID,é😀,,You do not have permission\r\n'
    '5,7,5,VanID,k5,Phone ignored to avoid overwriting,"weird, thing"\r\n'
    '6,7,4,VanID,,Processed,Processed\r\n'  # no key: skipped
    'x,7,3,VanID,k7,Processed,Duplicate activist code\r\n')
FILE2 = HEADER + (
    '1,7,9,VanID,k1,Invalid phone number,Processed\r\n'  # repeated key: the first file's row wins
    '8,7,2,VanID,k8,Processed,Processed\r\n')
CARRIED = ["k1", "k2", 'line\nbreak, "key"', "é😀", "k5", "k7", "k8", "absent\r\nkey"]
COLS = ["job_key", "van_job_id", "run_id", "mapping_type", "source_row_key", "bulk_upload_data_id", "ul_file_id",
        "primary_key", "primary_key_type", "mapping_messages_json", "row_status", "first_error_message",
        "error_category", "result_file_no"]


def _norm(row: dict) -> tuple:
    r = dict(row)
    if r["mapping_messages_json"] is not None:
        r["mapping_messages_json"] = json.loads(r["mapping_messages_json"])
    return tuple(json.dumps(r[c], sort_keys=True) if c == "mapping_messages_json" else r[c] for c in COLS)


@pytest.mark.parametrize("texts", [[FILE1, FILE2], [FILE1]], ids=["repeated-key", "one-file"])
def test_engine_ingest_equals_python_parse_and_records_absent_rows(ledger, tmp_path, texts):
    files = []
    for no, text in enumerate(texts, 1):
        (tmp_path / f"r{no}.csv").write_bytes(text.encode("utf-8"))
        files.append(ResultFile(no, tmp_path / f"r{no}.csv", "", None))
    absent_keys = ["absent\r\nkey"] + (["k8"] if len(texts) == 1 else [])
    run = new_id()
    job_key = ledger.record_job({"run_id": run, "mapping_types": "+".join(MTS), "api_target": ledger.api_target,
                                 "content_key": content_key(MTS, ledger.api_target, 1, new_id()), "database_mode": 1,
                                 "row_count": len(CARRIED)}, [(k, mt) for k in CARRIED for mt in MTS])
    ledger.mark_uploaded(job_key, "file:///x", "x")
    ledger.transition(job_key, JobState.SUBMITTING)  # the row claim is not what this test is about
    ledger.mark_submitted(job_key, 42)
    ledger.mark_completed(job_key, "CompletedWithErrors", None)
    job = ledger.job(job_key)
    loaded_at = utcnow()
    counts = ledger.load_results(job, ResultFiles(files, MTS, loaded_at=loaded_at), failed_message=None)

    expected = list(parse_results(files, MTS, job_key=job_key, van_job_id=42, run_id=run, loaded_at=loaded_at))
    got = [r for r in ledger._query(f"select * from {ledger.rel(ROW_RESULTS)} where job_key = :k "
                                    "and row_status <> 'not_in_results'", {"k": job_key})]
    assert sorted(map(_norm, got)) == sorted(map(_norm, expected))
    assert {r["error_category"] for r in got} >= {"invalid_value", "not_found", "permission", "ignored", "other",
                                                  "duplicate"}
    absent = ledger._query(f"select mapping_type, source_row_key from {ledger.rel(ROW_RESULTS)} "
                           "where job_key = :k and row_status = 'not_in_results'", {"k": job_key})
    assert sorted((r["mapping_type"], r["source_row_key"]) for r in absent) == sorted(
        (mt, k) for mt in MTS for k in absent_keys)
    assert sum(counts.values()) == len(CARRIED) * len(MTS)
    assert ledger.job(job_key)["local_state"] == "results_loaded"
