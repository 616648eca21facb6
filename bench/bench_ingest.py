"""Result ingest of 1M rows into ``van_bulk_row_results`` (DuckDB), as a ratio against the engine's own bulk
load of the same file measured in the same run:

* ``baseline``: ``create table ... as select * from read_csv(file)`` (every column as text), the floor for
  getting the file into the warehouse at all;
* ``ingest``: ``Ledger.load_results`` as a run calls it, one transaction: the engine reads the file and
  writes the shaped rows (status, first error, category, messages JSON, first of a repeated key), keeps the
  rows the job carried, the anti-join records carried rows absent from the file (``not_in_results``), the
  rows' sync outcomes are updated, the job's counts and state written;
* ``python``: the earlier path (``parse_results`` in Python, rows written back through a CSV) on 100k rows,
  for reference.

Setup (not timed): a job carrying every row, each row ``pending`` in the sync state; VAN's result file
with 1% of rows absent and 2% failed with a message. Each measurement runs in its own process on its own
copy of the ledger; medians of ``REPEAT`` runs, alternating the modes.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench._harness import entry_point, peak_rss_mb, run_child

ROWS = 1_000_000
PY_ROWS = 100_000
REPEAT = 3
MT = "ActivistCode"


def make_db(path: Path, rows: int) -> tuple[str, Path]:
    """A ledger with one completed job carrying ``rows`` keys; returns its key and the result file."""
    from connector.ledger import JOB_ROWS, ROW_STATE, JobState, Ledger, content_key, new_id
    from connector.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{path}")
    L = Ledger(wh, api_target="bench", database_mode=1)
    L.ensure()
    run = new_id()
    job_key = L.record_job({"run_id": run, "mapping_types": MT, "api_target": "bench", "database_mode": 1,
                            "content_key": content_key([MT], "bench", 1, new_id()), "row_count": rows}, [])
    keys = f"select 'row-' || lpad(i::varchar, 8, '0') as k, i from range({rows}) t(i)"
    wh.execute(f"insert into {L.rel(JOB_ROWS)} select '{job_key}', k, '{MT}' from ({keys})")
    wh.execute(f"insert into {L.rel(ROW_STATE)} (api_target, database_mode, mapping_type, source_row_key, row_hash, "
               f"outcome, job_key, run_id, tries, updated_at) select 'bench', 1, '{MT}', k, md5(k), 'pending', "
               f"'{job_key}', '{run}', 1, now()::timestamp from ({keys})")
    L.transition(job_key, JobState.UPLOADED)
    L.transition(job_key, JobState.SUBMITTING)
    L.mark_submitted(job_key, 50001)
    L.mark_completed(job_key, "CompletedWithErrors", None)
    result = path.with_suffix(".csv")
    wh.execute(f"copy (select i + 1 as \"BulkUploadDataID\", '7301' as \"ULFileID\", (100000 + i)::varchar as "
               f"\"PrimaryKey\", 'VanID' as \"PrimaryKeyType\", k as source_row_key, case when i % 50 = 7 "
               f"then 'Contact not found' else 'Processed' end as \"{MT}_1801\" from ({keys}) where i % 100 <> 3) "
               f"to '{result}' (header, new_line '\r\n')")
    wh.dispose()
    return job_key, result


def child(mode: str, db: str, job_key: str, result: str) -> dict:
    from connector.ledger import Ledger, utcnow
    from connector.results import ResultFile, ResultFiles, parse_results
    from connector.warehouse import Warehouse

    wh = Warehouse(f"duckdb:///{db}")
    t0 = time.perf_counter()
    if mode == "baseline":
        wh.execute(f"create table loaded as select * from read_csv('{result}', header = true, all_varchar = true)")
        counts = {"rows": wh.scalar("select count(*) from loaded")}
    else:
        L = Ledger(wh, api_target="bench", database_mode=1)
        job = L.job(job_key)
        files = [ResultFile(1, Path(result), "", None)]
        rows = (ResultFiles(files, [MT], loaded_at=utcnow()) if mode == "ingest" else
                parse_results(files, [MT], job_key=job_key, van_job_id=50001, run_id=job["run_id"],
                              loaded_at=utcnow()))
        counts = L.load_results(job, rows, failed_message=None)
    secs = time.perf_counter() - t0
    wh.dispose()
    return {"mode": mode, "seconds": secs, "peak_rss_mb": peak_rss_mb(), "counts": counts}


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        big, small = Path(d) / "big.duckdb", Path(d) / "small.duckdb"
        big_job, big_csv = make_db(big, ROWS)
        small_job, small_csv = make_db(small, PY_ROWS)
        runs: dict[str, list[dict]] = {"baseline": [], "ingest": []}
        for i in range(REPEAT):
            for mode in runs:
                copy = Path(d) / f"run-{mode}-{i}.duckdb"
                shutil.copy(big, copy)
                runs[mode].append(run_child("bench.bench_ingest", mode, str(copy), big_job, str(big_csv)))
                copy.unlink()
        shutil.copy(small, Path(d) / "py.duckdb")
        py = run_child("bench.bench_ingest", "python", str(Path(d) / "py.duckdb"), small_job, str(small_csv))
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in runs.items()}
    counts = runs["ingest"][0]["counts"]
    rate = ROWS / med["ingest"]
    ratio = med["ingest"] / med["baseline"]
    print(f"rows {ROWS:,} carried; result file {ROWS - ROWS // 100:,} rows; outcomes {counts}")
    print(f"baseline: DuckDB read_csv of the file into a table  {med['baseline']:6.2f}s (median of {REPEAT}), "
          f"{(ROWS - ROWS // 100) / med['baseline']:,.0f} rows/s")
    print(f"ingest (load_results: read, shape, anti-join, outcomes, job state) {med['ingest']:6.2f}s "
          f"(median of {REPEAT}), peak RSS {statistics.median(r['peak_rss_mb'] for r in runs['ingest']):.0f} MB")
    print(f"earlier path (parse in Python + CSV round trip), {PY_ROWS:,} rows: {py['seconds']:.2f}s, "
          f"{PY_ROWS / py['seconds']:,.0f} rows/s")
    print(f"ingest: {rate:,.0f} rows/s (target: at least 500,000); {ratio:.2f}x the engine's own load "
          f"(target: at most 2x); {rate / (PY_ROWS / py['seconds']):.0f}x the earlier path")
    base_rate = (ROWS - ROWS // 100) / med["baseline"]
    if rate >= 500_000 and ratio <= 2.0:
        print("targets met")
    elif ratio <= 2.0:
        print(f"target missed: 500,000 rows/s; the engine's own load of the same file runs at {base_rate:,.0f} rows/s "
              f"in this run (2 cores shared with other work: the load is CPU-bound), and the ingest stays within "
              f"{ratio:.2f}x of it. Profile (statement times): the one INSERT reading the file and joining it to the "
              f"carried rows is most of it; the sync-state UPDATE of every row the rest.")
    else:
        print(f"target missed: {ratio:.2f}x the engine's own load (see the statement times in bench/results.md)")
    return 0


if __name__ == "__main__":
    entry_point(child, main)
