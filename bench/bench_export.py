"""Export of 1M rows: time and peak memory of ``connector.export.export_query`` as ratios against a baseline
measured in the same run on the same machine: DuckDB's native ``COPY ... TO csv (FORCE_QUOTE *)`` followed by
a deflate zip of that file (the fastest way to produce the same bytes, with no streaming constraint).

Each measurement runs in its own process (peak RSS is per process). A second export at a quarter of the
rows shows memory is bounded: the peak should not grow with the row count.
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path

from bench._harness import entry_point, peak_rss_mb, run_child

ROWS = 1_000_000
COLS = ["source_row_key", "VanID", "FirstName", "LastName", "Email", "City", "ZipOrPostal", "Phone"]


def make_db(path: Path, rows: int) -> None:
    import duckdb

    with duckdb.connect(str(path)) as c:
        c.execute(f"""create or replace table src as select
            'row-' || lpad(i::varchar, 8, '0') as source_row_key,
            case when i % 5 = 0 then null else (100000 + i)::varchar end as "VanID",
            'First' || (i % 997)::varchar as "FirstName", 'Last, "' || (i % 7919)::varchar || '"' as "LastName",
            'p' || i::varchar || '@example.org' as "Email", 'City' || (i % 311)::varchar as "City",
            lpad((i % 99999)::varchar, 5, '0') as "ZipOrPostal", (2025550000 + i)::varchar as "Phone"
            from range({rows}) t(i)""")


def child(mode: str, db: str, out: str) -> dict:
    t0 = time.perf_counter()
    if mode == "baseline":
        import duckdb

        csv_path = Path(out) / "base.csv"
        with duckdb.connect(db) as c:
            cols = ", ".join(f'"{x}"' for x in COLS)
            c.execute(f"copy (select {cols} from src order by source_row_key) to '{csv_path}' "
                      "(header, force_quote *)")
        with zipfile.ZipFile(Path(out) / "base.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            z.write(csv_path, "base.csv")
        zipped = (Path(out) / "base.zip").stat().st_size
        chunks = 1
    else:
        from connector.export import export_query
        from connector.warehouse import Warehouse

        wh = Warehouse(f"duckdb:///{db}")
        res = export_query(wh, "select * from main.src", COLS, Path(out), "bench",
                           max_zipped_bytes=20 * 1024 * 1024, max_rows_per_chunk=500_000)
        zipped = sum(c.zipped_bytes for c in res)
        chunks = len(res)
        wh.dispose()
    secs = time.perf_counter() - t0
    peak_mb = peak_rss_mb()
    return {"mode": mode, "seconds": secs, "peak_rss_mb": peak_mb, "zipped_bytes": zipped, "chunks": chunks}


def measure(mode: str, db: Path) -> dict:
    with tempfile.TemporaryDirectory() as out:
        return run_child("bench.bench_export", mode, str(db), out)


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        big, small = Path(d) / "big.duckdb", Path(d) / "small.duckdb"
        make_db(big, ROWS)
        make_db(small, ROWS // 4)
        base = measure("baseline", big)
        exp = measure("export", big)
        exp_small = measure("export", small)
    print(f"rows {ROWS:,}; baseline (DuckDB COPY + zip): {base['seconds']:.2f}s, peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"export_query: {exp['seconds']:.2f}s, peak RSS {exp['peak_rss_mb']:.0f} MB, {exp['chunks']} chunk(s), "
          f"{exp['zipped_bytes'] / 1e6:.1f} MB zipped")
    print(f"time ratio export/baseline:          {exp['seconds'] / base['seconds']:.2f}x")
    print(f"peak memory ratio export/baseline:   {exp['peak_rss_mb'] / base['peak_rss_mb']:.2f}x")
    print(f"peak memory ratio 1M rows/250k rows: {exp['peak_rss_mb'] / exp_small['peak_rss_mb']:.2f}x (growth is DuckDB's ORDER BY sort)")
    print(f"throughput: {ROWS / exp['seconds']:,.0f} rows/s")
    return 0


if __name__ == "__main__":
    entry_point(child, main)
