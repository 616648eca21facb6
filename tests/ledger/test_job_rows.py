"""A job's carried rows come from the export's keys file, read by the engine itself: every key round-trips
exactly, whatever it holds (quotes, commas, backslashes, CR/LF, control characters, unicode)."""

from __future__ import annotations

import json

import pytest

from connector.ledger.schema import JOB_ROWS

ODD_KEYS = ['plain', 'a,b', 'q"uo"te', "it's", "back\\slash", "cr\rlf\n", "\r\n", "tab\tx", "ctl\x01\x02\x1f",
            "é😀 ünï", " padded ", "{json}", "null", ":colon"]


@pytest.mark.parametrize("how", ["keys_file", "pairs"])
def test_job_rows_round_trip_every_key(ledger, tmp_path, how):
    keys_path = tmp_path / "chunk.keys"
    keys_path.write_text("".join(json.dumps(k) + "\n" for k in ODD_KEYS), encoding="utf-8")
    fields = {"run_id": "r1", "content_key": "c1", "mapping_types": "ActivistCode", "row_count": len(ODD_KEYS)}
    if how == "keys_file":
        job = ledger.record_job(fields, keys_path=keys_path, mapping_type="ActivistCode")
    else:
        job = ledger.record_job(fields, ((k, "ActivistCode") for k in ODD_KEYS))
    rows = ledger.wh.fetchall(f"select source_row_key, mapping_type from {ledger.rel(JOB_ROWS)} "
                              "where job_key = :k", {"k": job})
    assert sorted(r[0] for r in rows) == sorted(ODD_KEYS)
    assert {r[1] for r in rows} == {"ActivistCode"}
