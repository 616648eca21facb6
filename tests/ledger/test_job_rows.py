"""A job's carried rows are read by the engine from the job's own CSV (the bytes VAN gets): every key
round-trips exactly, whatever it holds (quotes, commas, backslashes, CR/LF, control characters, unicode), and
a file whose rows do not match the export's count is refused before anything is hosted."""

from __future__ import annotations

import pytest

from connector.export import export_rows
from connector.ledger import LedgerStateError
from connector.ledger.schema import JOB_ROWS

ODD_KEYS = ['plain', 'a,b', 'q"uo"te', "it's", "back\\slash", "cr\rlf\n", "\r\n", "tab\tx", "ctl\x01\x02\x1f",
            "é😀 ünï", " padded ", "{json}", "null", ":colon", '""']
COLUMNS = ["VanID", "source_row_key", "Note"]


def _chunk(tmp_path):
    rows = [(str(100001 + i), k, f'note "{i}",\r\nend') for i, k in enumerate(ODD_KEYS)]
    [chunk] = export_rows(rows, COLUMNS, tmp_path / "out", "t", max_zipped_bytes=10**6, max_rows_per_chunk=100)
    return chunk


def _fields(chunk, run="r1"):
    return {"run_id": run, "content_key": run + chunk.sha256[:32], "mapping_types": "ActivistCode",
            "row_count": chunk.row_count}


def _job_rows(ledger, job):
    return ledger.wh.fetchall(f"select source_row_key, mapping_type from {ledger.rel(JOB_ROWS)} "
                              "where job_key = :k", {"k": job})


def test_job_rows_read_from_the_file_round_trip_every_key(ledger, tmp_path):
    chunk = _chunk(tmp_path)
    job = ledger.record_job(_fields(chunk), csv_path=chunk.csv_path, columns=chunk.columns,
                            mapping_type="ActivistCode")
    rows = _job_rows(ledger, job)
    assert sorted(r[0] for r in rows) == sorted(ODD_KEYS) == sorted(chunk.row_keys())
    assert {r[1] for r in rows} == {"ActivistCode"}
    pairs = ledger.record_job(_fields(chunk, "r2"), ((k, "ActivistCode") for k in chunk.row_keys()))
    assert sorted(_job_rows(ledger, pairs)) == sorted(rows)  # the same as the Python path


def test_a_file_that_does_not_match_the_export_is_refused(ledger, tmp_path):
    chunk = _chunk(tmp_path)
    with pytest.raises(LedgerStateError, match="holds 15 row"):
        ledger.record_job({**_fields(chunk), "row_count": 16}, csv_path=chunk.csv_path, columns=chunk.columns,
                          mapping_type="ActivistCode")
    assert ledger.jobs() == []  # nothing recorded
