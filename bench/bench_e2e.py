"""End to end: 1M ActivistCode rows through ``vanbulk run`` against the embedded VAN simulator (DuckDB),
with the wall time of every stage, so the slowest one is visible:

* ``dbt``: ``dbt build`` of the staging view (and its tests) over a 1M-row ``van_input`` table;
* ``pre-flight``: every catalogue rule as SQL plus the GX checkpoint;
* ``plan``: the row-level diff against the ledger;
* ``export``: zipped CSV chunks (``export_query``);
* ``host``: putting each zip on the (local) file host;
* ``submit``: the job's ledger rows, the row claim, and the POST, less hosting;
* ``VAN processing``: the simulator fetching, validating and applying each job and writing its result
  files (summed over jobs). The simulator's speed, which must not hide the connector's costs, is its rows
  over the time it had at least one job (jobs overlap on its worker threads), and per CPU-second of them;
* ``ingest``: downloading the result files and ``load_results`` (summed over jobs; jobs are collected
  concurrently, so this can overlap the processing of other jobs);
* ``waiting``: the rest of the collect step (polling intervals while VAN works).

Setup (not timed): the input table, and the simulator's 1M contacts. One run (the whole pipeline takes
minutes): the stages are measured inside the run, each against the same run's total.

Against the engine's own floors, measured after the run on the staging view it built (medians of ``REPEAT``,
each in its own process): ``scan`` (one pass reading every column, ``sum(length(...))``), ``copy+zip``
(DuckDB's ``COPY (select * from view order by key) TO csv (FORCE_QUOTE *)`` and a deflate-6 zip of the file:
what the export produces, made the plain way) and ``copy in`` (DuckDB's ``COPY`` of that CSV into a fresh table:
the bulk load the ledger's per-row writes compare with). ``connector`` is the run's own work on the rows: plan,
export, submit less hosting, ingest. Targets (issue 20): connector at most 3x the floors together, pre-flight
at most 3x the scan.

Memory (issue 20): the same run at ``BENCH_E2E_LARGE_ROWS`` (default 10M; 0 leaves it out) in a process of its
own; target: its peak RSS at most 1.3x the 1M run's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench._harness import entry_point, peak_rss_mb, run_child, seed_simulator_contacts, stage_timer

ROWS = int(os.environ.get("BENCH_E2E_ROWS", 1_000_000))  # fewer only for trying the bench out
LARGE_ROWS = int(os.environ.get("BENCH_E2E_LARGE_ROWS", 10_000_000))  # the memory check; 0: left out
REPEAT = 3
VIEW = "van_staging.stg_van__activist_code"
FLOORS = ["scan", "copy+zip", "copy in"]
CONNECTOR = ["plan", "export", "submit", "ingest"]
MT = "ActivistCode"
STAGES = ["dbt", "pre-flight", "plan", "export", "host", "submit", "VAN processing", "ingest", "waiting"]


def setup(project: Path, rows: int) -> None:
    import duckdb

    from connector.catalog import load_catalog

    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(repo / "dbt_project", project / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    code = load_catalog().allowed_value_ids(MT, "ActivistCodeID")[0]
    with duckdb.connect(str(project / "vanbulk.duckdb")) as c:
        c.execute("create schema if not exists van_input")
        c.execute(f"create table van_input.activist_code as select 'ac-' || lpad(i::varchar, 8, '0') as source_row_key, "
                  f"(100001 + i)::varchar as van_id, '{code}' as activist_code_id from range({rows}) t(i)")
    seed_simulator_contacts(project, rows)  # VAN already holds the contacts (VanIDs 100001...)


def floor(mode: str, project: str) -> dict:
    """One of the engine's floors (module doc) on the staging view the run built."""
    import zipfile

    import duckdb

    work = Path(project) / "floors"
    work.mkdir(exist_ok=True)
    csv_path = work / "rows.csv"
    with duckdb.connect(str(Path(project) / "vanbulk.duckdb"), read_only=mode != "copy in") as c:
        cols = [r[0] for r in c.execute(f"describe {VIEW}").fetchall()]
        t = time.perf_counter()
        if mode == "scan":
            c.execute(f"select sum({' + '.join(f'coalesce(length({x}), 0)' for x in cols)}) from {VIEW}").fetchall()
        elif mode == "copy+zip":
            c.execute(f"copy (select * from {VIEW} order by source_row_key) to '{csv_path}' (header, force_quote *)")
            with zipfile.ZipFile(work / "rows.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
                z.write(csv_path, "rows.csv")
        else:
            c.execute("create or replace table floor_copy_in as select * from " + VIEW + " where false")
            c.execute(f"copy floor_copy_in from '{csv_path}' (header)")
        secs = time.perf_counter() - t
        if mode == "copy in":
            c.execute("drop table floor_copy_in")
    return {"seconds": secs}


def child(project: str, *floor_mode: str) -> dict:
    if floor_mode:
        return floor(floor_mode[0], project)
    import connector.dbt_runner as dbt_runner
    import connector.run as run_pkg
    import connector.run.reconcile as reconcile
    import connector.run.submit as submit
    from connector.config import Settings
    from connector.hosting import local as local_host
    from connector.ledger import Ledger
    from connector.preflight import run_preflight
    from connector.simulator import SimulatorConfig
    from connector.simulator import processing

    spent, timed = stage_timer()

    dbt_runner.build = timed("dbt", dbt_runner.build)
    run_pkg.plan_run = timed("plan", run_pkg.plan_run)
    submit.export_query = timed("export", submit.export_query)
    submit.submit_chunk = timed("submit+host", submit.submit_chunk)
    local_host.LocalFileHost.put = timed("host", local_host.LocalFileHost.put)
    processing.Processor.run = timed("VAN processing", processing.Processor.run)
    sim_run = processing.Processor.run

    busy: list[tuple[float, float]] = []  # each job's (start, end): jobs overlap on the simulator's threads

    def sim_cpu(self, job_id):  # the worker thread's own CPU time: the simulator's speed without the contention
        c, t = time.thread_time(), time.perf_counter()
        try:
            return sim_run(self, job_id)
        finally:
            spent["sim cpu"] += time.thread_time() - c
            busy.append((t, time.perf_counter()))

    processing.Processor.run = sim_cpu
    processing.fetch_source = timed("sim: fetch the zip", processing.fetch_source)
    processing.read_rows = timed("sim: read the CSV", processing.read_rows)
    processing.evaluate_rows = timed("sim: evaluate rows", processing.evaluate_rows)
    processing.Processor._commit = timed("sim: apply + result files", processing.Processor._commit)
    reconcile.download_results = timed("ingest", reconcile.download_results)
    Ledger.load_results = timed("ingest", Ledger.load_results)
    run_pkg.collect = timed("collect", run_pkg.collect)

    s = Settings(project_dir=project, poll_interval_seconds=0.2)
    cfg = SimulatorConfig.from_dict({"pending_seconds": 0.0, "seconds_per_1000_rows": 0.0,
                                     "min_processing_seconds": 0.0})
    t0, c0 = time.perf_counter(), time.process_time()
    summary = run_pkg.run(s, [MT], vars={"vanbulk_demo": False, "vanbulk_mapping_types": [MT]}, simulator_config=cfg,
                          preflight=timed("pre-flight", run_preflight))
    total = time.perf_counter() - t0
    if "submit+host" not in spent:
        raise SystemExit(f"the run submitted nothing: {summary.messages}")
    spent["submit"] = spent.pop("submit+host") - spent["host"]
    spent["waiting"] = max(0.0, spent.pop("collect") - spent["ingest"])
    spent["sim busy"] = _union(busy)
    ms = summary.mapping_types[MT]
    return {"total": total, "cpu": time.process_time() - c0, "stages": dict(spent), "peak_rss_mb": peak_rss_mb(), "ok": summary.ok,
            "outcomes": {"processed": ms.processed, "failed": ms.failed, "not_in_results": ms.not_in_results,
                         "chunks": ms.chunks, "sent": ms.sent}}


def _union(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by at least one interval."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def main() -> int:
    import statistics

    with tempfile.TemporaryDirectory() as d:
        project = Path(d)
        setup(project, ROWS)
        r = run_child("bench.bench_e2e", str(project))
        floors: dict[str, list[float]] = {m: [] for m in FLOORS}
        for _ in range(REPEAT):
            for mode in FLOORS:  # copy in reads the file copy+zip wrote
                floors[mode].append(run_child("bench.bench_e2e", str(project), mode)["seconds"])
    large = None
    if LARGE_ROWS:
        with tempfile.TemporaryDirectory() as d:
            setup(Path(d), LARGE_ROWS)
            large = run_child("bench.bench_e2e", d)
    total, st = r["total"], r["stages"]
    print(f"rows {ROWS:,} ({MT}) through `vanbulk run` and the embedded simulator: {total:.1f}s in all, "
          f"{ROWS / total:,.0f} rows/s end to end; {json.dumps(r['outcomes'])}")
    print(f"{'stage':16s} {'seconds':>8s} {'share':>6s} {'rows/s':>11s}")
    for name in STAGES:
        secs = st.get(name, 0.0)
        print(f"{name:16s} {secs:8.2f} {secs / total:6.0%} {ROWS / secs if secs else 0:11,.0f}")
    other = total - sum(st.get(n, 0.0) for n in STAGES if n not in ("VAN processing",))
    print(f"{'(other)':16s} {other:8.2f} {other / total:6.0%}   (runtime start, simulator seeding check, summary)")
    slowest = max((n for n in STAGES if n != "waiting"), key=lambda n: st.get(n, 0.0))
    sim, sim_cpu = ROWS / st["sim busy"], ROWS / st["sim cpu"]
    print(f"slowest stage: {slowest}; simulator {sim:,.0f} rows/s while it had a job ({st['sim busy']:.1f}s; jobs "
          f"overlap, so this is less than the sum above), {sim_cpu:,.0f} rows per CPU-second of its worker threads "
          f"(target: at least 100,000 rows/s); CPU time of the whole run {r['cpu']:.0f}s over {total:.0f}s wall "
          "(the embedded simulator shares the process, and its GIL, with the run)")
    if min(sim, sim_cpu) < 100_000:
        parts = {k: v for k, v in st.items() if k.startswith("sim: ")}
        print("simulator target missed: it is Python per row (csv parsing, the catalogue rules of every row, one "
              "sqlite row per applied mapping, the result CSV); its time by part: "
              + ", ".join(f"{k[5:]} {v:.1f}s ({v / st['VAN processing']:.0%})" for k, v in parts.items()))
    med = {m: statistics.median(v) for m, v in floors.items()}
    for m in FLOORS:
        print(f"floor: {m:9s} {med[m]:7.2f}s {[round(x, 2) for x in floors[m]]}")
    together = sum(med.values())
    connector = sum(st.get(n, 0.0) for n in CONNECTOR)
    ratio, pre = connector / together, st.get("pre-flight", 0.0) / med["scan"]
    print(f"connector ({' + '.join(CONNECTOR)}) {connector:.2f}s = {ratio:.1f}x the floors together "
          f"({together:.2f}s) (target: at most 3x: {'met' if ratio <= 3 else 'MISSED'}); "
          + ", ".join(f"{n} {st.get(n, 0.0) / together:.1f}x" for n in CONNECTOR))
    if ratio > 3:
        print(f"why missed: each row is written three times after the export, each write about a bulk load: its key "
              f"(van_bulk_job_rows), its claim before the POST (van_bulk_row_state, whose primary key DuckDB checks "
              f"in its index) and its result (van_bulk_row_results, then its outcome updated in the row state); "
              f"submit {st.get('submit', 0.0):.1f}s and ingest {st.get('ingest', 0.0):.1f}s also run beside the embedded "
              f"simulator, whose Python shares the process (CPU {r['cpu']:.0f}s over {total:.0f}s wall)")
    print(f"pre-flight {st.get('pre-flight', 0.0):.2f}s = {pre:.1f}x one scan (target: at most 3x: "
          f"{'met' if pre <= 3 else 'MISSED'})")
    if pre > 3:
        print("why missed: pre-flight reads the view three ways (the checked copy, the dropped rows, the rule pass: "
              "every rule's condition on each row) and runs the GX checkpoint and Data Docs over the failing rows; "
              "bench_preflight and bench_scheduled_run split it into its parts")
    if large is not None:
        grow = large["peak_rss_mb"] / r["peak_rss_mb"]
        lst = large["stages"]
        print(f"peak RSS of the run: {ROWS:,} rows {r['peak_rss_mb']:.0f} MB, {LARGE_ROWS:,} rows "
              f"{large['peak_rss_mb']:.0f} MB = {grow:.2f}x (target: at most 1.3x: {'met' if grow <= 1.3 else 'MISSED'}); "
              f"the {LARGE_ROWS:,}-row run {large['total']:.0f}s ({large['total'] / total:.1f}x the {ROWS:,}-row run's "
              f"time for {LARGE_ROWS / ROWS:.0f}x the rows), {json.dumps(large['outcomes'])}, stages "
              + ", ".join(f"{n} {lst.get(n, 0.0):.0f}s" for n in STAGES if lst.get(n)))
        if grow > 1.3:
            print("why missed: DuckDB's buffer manager may use 80% of RAM by default and keeps the pages of the tables "
                  "the run joins (the row state, the job rows, the results: each as long as the input), so its share "
                  "grows with the rows; the export alone stays flat (bench_export: DuckDB is given 128 MB for its "
                  "sort). Capping the whole run's DuckDB (memory_limit 1GB, tried at 1M and 4M rows) made the run "
                  "fail: DuckDB could not allocate a 1.4 GiB block opening the file. The embedded simulator's "
                  "memory is in the same process")
    return 0 if r["ok"] and (large is None or large["ok"]) else 1


if __name__ == "__main__":
    entry_point(child, main)
