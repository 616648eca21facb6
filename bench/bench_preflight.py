"""Pre-flight on a 1M-row CreateOrUpdateContact staging view (DuckDB): time and peak memory of the SQL
pushdown, as ratios against baselines measured in the same run on the same view:

* ``scan``: one pass reading every column of the view (``sum(length(...))``), the floor for any check;
* ``pandas``: loading the whole view into a pandas DataFrame with DuckDB's native ``.df()`` (the fastest
  way in; what validating in Python would need before checking anything).

Measured: ``sql`` = ``run_preflight(gx=False)`` (every catalogue rule as SQL, rejects written in the
warehouse) and ``gx`` = the same plus the GX checkpoint over the generated suite and Data Docs. Each
measurement runs in its own process (peak RSS is per process); about 1% of rows break some rule.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench._harness import entry_point, peak_rss_mb, run_child

ROWS = 1_000_000
MT = "CreateOrUpdateContact"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def make_db(path: Path, rows: int) -> None:
    import duckdb

    from connector.catalog import load_catalog

    mt = load_catalog().get(MT)
    # Valid canonical values, with a sprinkle of bad ones (every 211th date, 307th email, 401st parent, 503rd ZIP).
    expr = {
        "source_row_key": "'c-' || lpad(i::varchar, 8, '0')",
        "VanID": "case when i % 3 = 0 then null else (100000 + i)::varchar end",
        "FirstName": "'First' || (i % 997)::varchar", "LastName": "'Last' || (i % 7919)::varchar",
        "DOB": "case when i % 211 = 0 then '1990-02-30' else strftime(date '1950-01-01' + (i % 20000)::int, '%Y-%m-%d') end",
        "Sex": "case i % 4 when 0 then 'F' when 1 then 'M' when 2 then 'U' else null end",
        "AddressLine1": "case when i % 401 = 0 then null else (i % 9999)::varchar || ' Main St' end",
        "City": "'City' || (i % 311)::varchar", "StateOrProvince": "'DC'",
        "ZipOrPostal": "case when i % 503 = 0 then '123' else lpad((i % 99999)::varchar, 5, '0') end",
        "CellPhone": "(2025550000 + i)::varchar",
        "Email": "case when i % 307 = 0 then 'p' || i::varchar || '@example' else 'p' || i::varchar || '@example.org' end",
    }
    cols = ", ".join(f"{expr.get(c, 'cast(null as varchar)')} as \"{c}\"" for c in mt.staging_columns)
    with duckdb.connect(str(path)) as c:
        c.execute("create schema if not exists van_staging")
        c.execute(f"create or replace table main.src_contacts as select {cols} from range({rows}) t(i)")
        c.execute(f"create or replace view van_staging.{mt.staging_view} as select * from main.src_contacts")


def child(mode: str, db: str, project: str) -> dict:
    from connector.catalog import load_catalog
    from connector.config import Settings
    from connector.preflight import run_preflight
    from connector.warehouse import Warehouse

    if mode == "gx":
        import great_expectations  # noqa: F401  (import cost is not validation cost)
    url = f"duckdb:///{db}"
    wh, catalog = Warehouse(url), load_catalog()
    settings = Settings(project_dir=project, warehouse_url=url)
    view = wh.relation(catalog.get(MT).staging_view, settings.staging_schema)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    extra: dict = {}
    if mode == "scan":
        cols = catalog.get(MT).staging_columns
        extra["chars"] = wh.scalar(f"select sum(" + " + ".join(f'coalesce(length("{c}"), 0)' for c in cols)
                                   + f") from {view}")
    elif mode == "pandas":
        import duckdb

        with duckdb.connect(db) as c:
            extra["rows"] = len(c.execute(f"select * from {view}").df())
    else:
        report = run_preflight(wh, catalog, [MT], f"bench-{mode}", settings, gx=(mode == "gx"))
        res = report.results[MT]
        extra.update(rows=res.rows_checked, rejected=res.rows_rejected, rules=len(res.outcomes),
                     gx_agrees=all(o.gx_unexpected == o.rows for o in res.outcomes if o.rows is not None)
                     if mode == "gx" else None)
    secs = time.perf_counter() - t0
    peak = peak_rss_mb()
    return {"mode": mode, "seconds": secs, "peak_rss_mb": peak, "rss_before_mb": rss_before, **extra}


def measure(mode: str, db: Path, project: Path) -> dict:
    return run_child("bench.bench_preflight", mode, str(db), str(project))


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "bench.duckdb"
        make_db(db, ROWS)
        m = {mode: measure(mode, db, Path(d) / "project") for mode in ("scan", "pandas", "sql", "gx")}
    print(f"rows {ROWS:,}, mapping type {MT}, {m['sql']['rules']} rules, {m['sql']['rejected']:,} rows rejected, "
          f"GX agrees with rejects: {m['gx']['gx_agrees']}")
    for mode, label in (("scan", "baseline: one scan of every column"), ("pandas", "baseline load into pandas"),
                        ("sql", "pre-flight SQL (rules + rejects)"), ("gx", "pre-flight SQL + GX checkpoint + Data Docs")):
        r = m[mode]
        print(f"{label:<44} {r['seconds']:7.2f}s   peak RSS {r['peak_rss_mb']:6.0f} MB "
              f"(+{r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB over imports)")
    for mode in ("sql", "gx"):
        print(f"{mode}: time {m[mode]['seconds'] / m['scan']['seconds']:.1f}x full scan, "
              f"{m[mode]['seconds'] / m['pandas']['seconds']:.2f}x pandas load (before any check); "
              f"peak memory {m[mode]['peak_rss_mb'] / m['pandas']['peak_rss_mb']:.2f}x pandas load, "
              f"{m[mode]['peak_rss_mb'] / m['scan']['peak_rss_mb']:.2f}x full scan")
    print(f"throughput (sql): {ROWS / m['sql']['seconds']:,.0f} rows/s")
    return 0


if __name__ == "__main__":
    entry_point(child, main)
