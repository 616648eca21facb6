"""First run on PostgreSQL (issue 20): 1M ActivistCode-like rows through ``vanbulk run`` (pass-through
pre-flight, no dbt: the staging view is a plain view over a table) against the embedded VAN simulator, with a
ledger in a fresh schema, as a ratio against the engine's own floors measured in the same run on the same view:

* ``scan``: one pass reading every column of the view (``sum(length(...))``);
* ``copy out``: ``COPY (select * from view order by key) TO STDOUT (FORMAT csv, FORCE_QUOTE *)`` into a file;
* ``copy in``: ``COPY`` of that file into a fresh table (every column text).

``connector``: the run's own ledger and engine work: the plan step, the export, the submit step less hosting
(the job's keys, the row claim, the POST) and ``load_results`` (VAN's processing, the simulator's, and the
polling in between are left out; the run's wall time is printed too). Before the fix the row claim and the
results' outcome update were nested loops over freshly filled, never analyzed tables: 10k rows took 22 s
(200M rows read in 20,005 scans), 100k rows did not finish in 16 minutes. Target: connector at most 3x the
floors (scan + copy out + copy in).

Then (issue 20, ninth session) the run's PostgreSQL sessions get ``work_mem = 32MB`` and ``temp_buffers = 64MB``
(connector/warehouse/engines/postgres.py): the ledger's hash joins of a chunk spilled to temporary files in 4-8
batches, and a job's keys and result files, COPYed into temporary tables, went to disk and back. Side by side on
this machine, which ran PostgreSQL 3x slower that day than the session before (the floors 3.7-4.7 s, were 1.32 s),
two runs each of the session's first commit and of the change: connector 76.2 / 69.3 s (16.3x / 17.3x) -> 62.4 /
60.6 s (14.4x / 16.5x: the ratio moves with the floors' own noise); the row claim 20.5 / 19.5 s -> 14.3 / 13.9 s,
the results 29.5 / 29.4 s -> 24.4 / 24.2 s.

Why the 3x target stays out of reach (measured that day in psql, 400k rows of the row state's shape): a COPY into
a table with the row state's 4-column primary key took 3.96 s, the same COPY without the key 1.84 s, an INSERT ...
SELECT in key order 4.4 s and in random order 7.0 s (sorting it first: 5.9 s, but +10% when the input is already
in order, so the claim does not sort). Each sent row is written three times after the export (its key in the job
rows, its claim in the row state, its result, then its outcome updated), each about a COPY of a wider row with an
index: the target needs fewer, narrower per-row writes (a schema change: a job's rows as key ranges of the plan,
result rows only for rows VAN did not process), not faster statements.

``BENCH_PG_URL`` (default: the test server, ``postgresql://postgres@127.0.0.1:5432/test``); skipped when no
server answers. Setup (not timed): the input table, and the simulator's 1M contacts. The floors are medians
of ``REPEAT`` runs, each in its own process; the first run, minutes on a shared 2-core machine, runs
``BENCH_PG_RUNS`` times (default 1), each on a fresh ledger schema and simulator.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench._harness import entry_point, peak_rss_mb, run_child, seed_simulator_contacts, stage_timer

URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROWS = int(os.environ.get("BENCH_PG_ROWS", 1_000_000))  # fewer only for trying the bench out
RUNS = int(os.environ.get("BENCH_PG_RUNS", 1))
REPEAT = 3
MT = "ActivistCode"
COLS = ["VanID", "source_row_key", "ActivistCodeID", "CanvassedBy", "DateCanvassed", "ContactTypeID"]


def _wh():
    from connector.warehouse import Warehouse

    return Warehouse(URL)


def setup(src: str, rows: int) -> None:
    from connector.catalog import load_catalog

    code = load_catalog().allowed_value_ids(MT, "ActivistCodeID")[0]
    with _wh() as wh:
        wh.execute(f'create schema "{src}"')
        wh.execute(f'create table "{src}".activist_code as select (100001 + i)::text as "VanID", '
                   f"'ac-' || lpad(i::text, 8, '0') as source_row_key, '{code}'::text as \"ActivistCodeID\", "
                   'null::text as "CanvassedBy", null::text as "DateCanvassed", null::text as "ContactTypeID" '
                   f"from generate_series(0, {rows - 1}) i")
        wh.execute(f'create view "{src}".stg_van__activist_code as select * from "{src}".activist_code')
        wh.execute(f'analyze "{src}".activist_code')



def passthrough_preflight(warehouse, catalog, mapping_types, run_id, settings, available_mapping_types=None,
                          static_values=None, metadata_blocks=None):
    from connector.preflight.report import MappingTypeResult, PreflightReport

    report = PreflightReport(run_id)
    for name in mapping_types:
        rel = warehouse.relation(catalog.get(name).staging_view, settings.staging_schema)
        n = warehouse.scalar(f"select count(*) from {rel}")
        report.results[name] = MappingTypeResult(name, rel, rows_checked=n, passing_rows_sql=f"select * from {rel}")
    return report


def child(mode: str, src: str, arg: str = "") -> dict:
    view = f'"{src}".stg_van__activist_code'
    if mode == "scan":
        with _wh() as wh:
            t0 = time.perf_counter()
            wh.scalar("select sum(" + " + ".join(f'coalesce(length("{c}"), 0)' for c in COLS) + f") from {view}")
            return {"seconds": time.perf_counter() - t0}
    if mode in ("copy out", "copy in"):
        import psycopg

        path = Path(arg)
        with psycopg.connect(URL, autocommit=True) as conn, conn.cursor() as cur:
            t0 = time.perf_counter()
            if mode == "copy out":
                with open(path, "wb") as f, cur.copy(f"copy (select * from {view} order by source_row_key) to stdout "
                                                     "with (format csv, header true, force_quote *)") as cp:
                    for data in cp:
                        f.write(data)
            else:
                t = f'"{src}".copy_in_{uuid.uuid4().hex[:8]}'
                cur.execute(f"create table {t} ({', '.join(f'{chr(34)}{c}{chr(34)} text' for c in COLS)})")
                with open(path, "rb") as f, cur.copy(f"copy {t} from stdin with (format csv, header true)") as cp:
                    while data := f.read(1 << 20):
                        cp.write(data)
            secs = time.perf_counter() - t0
            if mode == "copy in":
                cur.execute(f"drop table {t}")
            return {"seconds": secs}
    return _first_run(src, Path(arg))


def _first_run(src: str, project: Path) -> dict:
    import connector.run as run_pkg
    import connector.run.reconcile as reconcile
    import connector.run.submit as submit
    from connector.config import Settings
    from connector.hosting import local as local_host
    from connector.ledger import Ledger
    from connector.simulator import SimulatorConfig, processing

    spent, timed = stage_timer()

    run_pkg.plan_run = timed("plan", run_pkg.plan_run)
    submit.export_query = timed("export", submit.export_query)
    submit.submit_chunk = timed("submit+host", submit.submit_chunk)
    local_host.LocalFileHost.put = timed("host", local_host.LocalFileHost.put)
    Ledger.record_job = timed("job rows", Ledger.record_job)
    Ledger.mark_submitting = timed("row claim", Ledger.mark_submitting)
    reconcile.download_results = timed("download", reconcile.download_results)
    Ledger.load_results = timed("load_results", Ledger.load_results)
    processing.Processor.run = timed("VAN processing", processing.Processor.run)
    ledger_schema = f"{src}_ledger"
    s = Settings(project_dir=project, warehouse_url=URL, results_schema=ledger_schema, staging_schema=src,
                 poll_interval_seconds=0.2)
    cfg = SimulatorConfig.from_dict({"pending_seconds": 0.0, "seconds_per_1000_rows": 0.0,
                                     "min_processing_seconds": 0.0})
    with _wh() as wh:
        wh.execute(f'create schema "{ledger_schema}"')
    t0 = time.perf_counter()
    summary = run_pkg.run(s, [MT], skip_dbt=True, preflight=passthrough_preflight, simulator_config=cfg)
    total = time.perf_counter() - t0
    with _wh() as wh:
        wh.execute("select pg_stat_force_next_flush()")
        time.sleep(1.0)  # other backends (the run's connections, closed) flush their counters on exit
        seq = {r[0]: int(r[1]) for r in wh.fetchall(
            "select relname, seq_tup_read from pg_stat_user_tables where schemaname = :s", {"s": ledger_schema})}
        wh.execute(f'drop schema "{ledger_schema}" cascade')
    ms = summary.mapping_types[MT]
    spent["submit"] = spent.pop("submit+host") - spent["host"]
    return {"seconds": total, "stages": dict(spent), "ok": summary.ok, "peak_rss_mb": peak_rss_mb(),
            "seq_tup_read": seq, "outcomes": {"sent": ms.sent, "processed": ms.processed, "failed": ms.failed,
                                              "chunks": ms.chunks}}


CONNECTOR = ["plan", "export", "submit", "load_results"]


def main() -> int:
    from connector.warehouse import Warehouse

    try:
        with Warehouse(URL) as wh:
            wh.scalar("select 1")
    except Exception as exc:  # noqa: BLE001
        print(f"skipped: no PostgreSQL at {URL} ({type(exc).__name__}); set BENCH_PG_URL")
        return 0
    src = f"bench_pg_{uuid.uuid4().hex[:8]}"
    try:
        setup(src, ROWS)
        with tempfile.TemporaryDirectory() as d:
            csv_path = str(Path(d) / "rows.csv")
            floors: dict[str, list[float]] = {"scan": [], "copy out": [], "copy in": []}
            for _ in range(REPEAT):
                for mode in floors:
                    floors[mode].append(run_child("bench.bench_pg_first_run", mode, src, csv_path)["seconds"])
            runs = []
            for i in range(RUNS):
                project = Path(d) / f"p{i}"
                project.mkdir()
                seed_simulator_contacts(project, ROWS)
                runs.append(run_child("bench.bench_pg_first_run", "run", src, str(project)))
    finally:
        with Warehouse(URL) as wh:
            wh.execute(f'drop schema if exists "{src}" cascade')
            wh.execute(f'drop schema if exists "{src}_ledger" cascade')
    med = {m: statistics.median(v) for m, v in floors.items()}
    floor = sum(med.values())
    conn = [sum(r["stages"].get(k, 0.0) for k in CONNECTOR) for r in runs]
    c_med, total = statistics.median(conn), statistics.median(r["seconds"] for r in runs)
    r = runs[-1]
    print(f"rows {ROWS:,} ({MT}) on PostgreSQL, first run (fresh ledger) through `vanbulk run` and the embedded "
          f"simulator; {r['outcomes']}; {RUNS} run(s){' (one: minutes on this machine)' if RUNS == 1 else ''}, "
          f"floors medians of {REPEAT}")
    for m in floors:
        print(f"floor: {m:9s} {med[m]:7.2f}s {[round(x, 2) for x in floors[m]]}")
    print(f"floors together (scan + copy out + copy in) {floor:7.2f}s")
    print(f"{'stage':16s} {'seconds':>8s}")
    for name in ("plan", "export", "submit", "job rows", "row claim", "host", "load_results", "download",
                 "VAN processing"):
        print(f"{name:16s} {r['stages'].get(name, 0.0):8.2f}"
              + ("   (in submit)" if name in ("job rows", "row claim") else "")
              + ("   (not the connector's)" if name in ("download", "VAN processing", "host") else ""))
    print(f"connector (plan + export + submit + load_results) {c_med:.2f}s {[round(x, 2) for x in conn]}; "
          f"the whole run {total:.1f}s (with VAN's processing and polling), peak RSS {r['peak_rss_mb']:.0f} MB")
    print("seq_tup_read over the run: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["seq_tup_read"].items())
                                                     if k in ("van_bulk_job_rows", "van_bulk_plan_rows",
                                                              "van_bulk_row_state", "van_bulk_row_results")))
    ratio = c_med / floor
    print(f"first run: {ratio:.2f}x the engine's floors (target: at most 3x: {'met' if ratio <= 3 else 'MISSED'}); "
          f"{ROWS / c_med:,.0f} rows/s")
    if ratio > 3:
        st = r["stages"]
        print(f"why missed: the ledger writes 3 tables per row after the export and each costs about a COPY: the row "
              f"claim (insert into van_bulk_row_state with its 4-column primary key) {st.get('row claim', 0):.1f}s, the "
              f"results (insert into van_bulk_row_results, then the outcome update of every claimed row_state row, "
              f"in place on its page since the ledger's fill factor: 16.4 -> 10.6 s here) {st.get('load_results', 0):.1f}s, the plan (md5 of every row, the plan rows "
              f"written) {st.get('plan', 0):.1f}s; each statement reads a table once at most, a few per job (seq_tup_read "
              f"above), so the run is linear: the rest is the cost of those writes (an INSERT of a row with its index "
              f"costs about twice a plain COPY: the module doc); where it goes: fewer, narrower per-row writes")
    return 0 if all(x["ok"] for x in runs) else 1


if __name__ == "__main__":
    entry_point(child, main)
