"""Queries a demo run sends to the warehouse (issue: "a run issues a small, fixed number of queries per mapping
type, not one per rule"; target: at most 5 per mapping type plus a small constant, ``CONSTANT`` below).

The demo project's full ``vanbulk run`` (all 21 mapping types, as ``make demo`` runs it: a fresh copy of
``dbt_project/`` + ``vanbulk.yml``, the embedded simulator with its default timing), through ``run()`` in a
child process, on DuckDB, on PostgreSQL (a fresh database on ``BENCH_PG_URL``, default the test server
``postgresql://postgres@127.0.0.1:5432/test``, dropped at the end; a database because the demo's seed and
staging schemas are fixed names; the ledger in its schema ``vanbulk``), on the BigQuery emulator the tests use
(crucible, started for the bench; the ledger in the dataset ``benchq``) and on the Snowflake emulator the tests
use (fakesnow, started for the bench, reached through a dbt profile with ``type: snowflake`` as an analyst's
project reaches it). ``BENCH_QUERIES_ENGINES`` (comma-separated) picks engines. Each engine: a first run (empty
ledger), then a second run with nothing changed (the scheduled-run case, the night after a send: every plan diffs,
since the sent rows' sync state changed) and a third with nothing changed again (the steady state of a scheduled
run: plans carried over, connector/ledger/plan_reuse.py), each in its own process.

Counted exactly, in the run's process: every ``before_cursor_execute`` of SQLAlchemy's ``Engine`` class (one
statement each; an ``executemany`` is one, its parameter sets are shown apart), plus on PostgreSQL the
``COPY`` statements sent through psycopg's raw cursor (bulk loads and exports, outside SQLAlchemy). Not
counted: transaction control the driver sends itself (BEGIN / COMMIT / ROLLBACK; shown apart on Snowflake, where
each is a statement and a round trip) and the dialect's first-connect queries per engine; new DBAPI
connections are shown apart (``conns``). By who sends them:
``vanbulk`` (the run's ``Warehouse``: connector and ledger) or ``GX`` (Great Expectations' own engine). By
stage, from wrapping the run's step functions in ``connector.run``: ``pre-flight`` (``run_preflight_stage``:
the SQL pass, rejects, GX, Data Docs), ``plan`` (``plan_run``), ``submit`` (``send``: export, job rows, row
claim), ``collect`` (``collect`` of this run's jobs and of earlier runs': polling, results, reconcile), and
``other`` (runtime start: lock, ledger tables, run row; the simulator's seed check; the staging views'
existence; the summary's ``account``; finishing the run). Each stage is broken down by the connector function
that asked for the statement (the ledger's one-statement helpers skipped), and GX's statements by kind: one
``COUNT`` per expectation, reflection of the table it validates, the rest. ``collect`` includes
``mark_polled`` (one conditional update per status poll of a job still running): that part depends on VAN's
timing and moves by a few from run to run; every other figure is the same in every run.

``dbt``: dbt's own statements (a subprocess, not in the totals), counted from its debug log
(``logs/dbt.log``, one ``SQL status:`` line per statement its adapter runs) for the run's invocation.

Issue 20 item 3, the cheap reductions (total per run, before -> after; stages pre-flight / plan / submit /
collect / other): a plan with no row to send exports nothing (no COPY, no empty file); DuckDB's export reads
its settings in one statement and sets / restores only those that differ in one each (4 statements, was 10);
views' existence and columns come from one catalogue query per schema per run (was 112 lookups); a ledger
transition is one conditional ``UPDATE ... RETURNING`` (was a select, then the update).

    duckdb     first   1901 -> 1487   714/163/550/384/90 -> 673/143/352/276/43
    duckdb     second  1158 ->  830   714/163/220/0/61   -> 673/143/0/0/14
    postgresql first   1934 -> 1628   756/183/440/458/97 -> 715/163/374/326/50
    postgresql second  1025 ->  895   756/183/22/0/64    -> 715/163/0/0/17

Then Great Expectations' one COUNT per expectation became one statement per view (a shared metric counting every
rule of the suite: connector/preflight/gx_expectations.py), and the BigQuery emulator joined the table (its
reflection goes through the client's API, not SQL: not counted). GX statements 321 -> 105 (DuckDB), 363 -> 147
(PostgreSQL), 258 -> 42 (BigQuery); totals:

    duckdb     first   1436 -> 1226   second 830 -> 614
    postgresql first   1595 -> 1390   second 895 -> 679
    bigquery   first   1443 -> 1227   second 767 -> 552

Then (issue 20, second session): this run's rejects, warnings and dropped rows cleared once per run, not per view and
table; Data Docs' rejected rows read in one statement per table for the run (was two per page and table); GX's
reflection of each validated table (3 statements per view on DuckDB, 5 on PostgreSQL) answered by vanbulk's GX
dialects from one catalogue query per run; the plan counts its categories and passing rows in one statement, writes
its counts in one INSERT and asks for migrated rows once; a view whose batch table is empty skips its flags, counts
and inserts (none in the demo: each demo view has rows that break a rule). Totals, first / nothing new:

    duckdb     first   1226 -> 1039   second 614 -> 385
    postgresql first   1390 -> 1170   second 679 -> 440
    bigquery   first   1227 -> 1048   second 552 -> 374

``collect`` on a first run moves with VAN's timing (the polls): without ``mark_polled`` it went 264 -> 220
(DuckDB) and 330 -> 286 (PostgreSQL), and each poll is one statement instead of two. What is left is mostly
pre-flight's per-view steps (the checked copy, the batch table, flags, counts, inserts, the dropped rows; GX's one
counting statement and LIMIT probe per view), the plan's (about 4 per view) and, on a first run, the per-job
ledger steps.

Then (issue 20, third session): the dropped rows are counted from their INSERT where the engine says how many rows
it wrote (DuckDB, PostgreSQL: ``Engine.rows_written``), not by a second count (-21 a run); Snowflake joined the
table (fakesnow, through a ``type: snowflake`` dbt profile), with the COMMIT / ROLLBACK its driver sends as
statements shown apart: the dialect no longer ends a connection that only read (the demo scenario's three runs
sent 629 ROLLBACKs before, 0 after). Totals, first / nothing new (``collect`` moves with VAN's timing):

    duckdb     first   1039 -> 1036   second 385 -> 364
    postgresql first   1170 -> 1152   second 440 -> 419
    bigquery   first   1048 -> 1050   second 374 -> 375   (no change: its client's row count is not trusted yet)
    snowflake  first   1270 (+211 COMMIT, 0 ROLLBACK)   second 421 (+54 COMMIT)

Then (issue 20, fourth session): ``vanbulk run``'s dbt build leaves the staging views' generated tests to pre-flight
(``tag:vanbulk_preflight``), and a build that already stands is left out (connector/dbt_state.py): dbt's own
statements, first / nothing new, DuckDB 523 -> 395 / 566 -> 0, PostgreSQL 368 -> 304 / 405 -> 0, BigQuery 137 -> 73 /
134 -> 0, Snowflake 260 -> 196 / 234 -> 0 (the nothing-new run starts no dbt at all). vanbulk's own: one more
statement per run to read the last build's record and one or two to write it; the views' existence comes from the
catalogue query the run makes anyway.

Then (issue 20, fifth session): the plan takes the count of the rows to send from pre-flight (its copy's rows less
the rejected: nothing can change them) instead of counting them again, a diff that wrote no plan row (the engine
says so: DuckDB, PostgreSQL) is followed by nothing but its counts, and the `gone` rows' delete runs only when the
diff found some (it ran for every view); pre-flight takes a view's row count from the CTAS of its copy where the
engine reports it. Plan statements per view, first / nothing new: DuckDB 4.0 -> 3.0 / 4.0 -> 2.1, PostgreSQL 5.0 ->
4.0 / 5.0 -> 2.1, BigQuery and Snowflake 4.0 -> 3.0 / 4.0 -> 3.0; pre-flight -17 (DuckDB) and -19 (PostgreSQL) per
run. Totals, first / nothing new:

    duckdb     first   1026 -> 1005   second 364 -> 307
    postgresql first   1158 -> 1133   second 421 -> 342
    bigquery   first   1053 -> 1030   second 375 -> 355
    snowflake  first   1274 -> 1256   second 422 -> 402

Then (issue 20, sixth session): pre-flight carries a view's check over when its rows and rules are unchanged since
its last check (connector/preflight/reuse.py): the nothing-new run's views (all but the blocked Suppressions) send
their copy, its content fingerprint and dropped rows, no rule pass and no GX (pre-flight per view about 11-15 -> 4.5-5.5;
GX 42 -> 2 statements); a first run sends one more statement per view (the fingerprint) and one to record the checks.
Totals, first / nothing new (the target is now missed by 1.3-1.6x on a nothing-new run; what is left per view:
the checked copy, its fingerprint, the dropped rows, the plan's diff and counts, the copy's drop):

    duckdb     first   1005 -> 1030   second 307 -> 182
    postgresql first   1133 -> 1165   second 342 -> 197
    bigquery   first   1030 -> 1060   second 355 -> 214
    snowflake  first   1256 -> 1280   second 402 -> 221

and PostgreSQL drops a run's checked copies in one statement (``Engine.drop_tables_sql``; the other engines drop one
table per statement): PostgreSQL first 1165 -> 1145, nothing new 197 -> 177.

Then (issue 20, seventh session): the plan counts of every mapping type sent alone are one INSERT per run (was one
per view); a plan that found every row unchanged is carried over while the view's check fingerprint and its sync
state stay the same (connector/ledger/plan_reuse.py: one statement for every mapping type's sync-state fingerprint,
one to read the last plans, one to record), which the night after a send cannot use (its jobs changed the sync
state) and every later quiet night does: the bench now runs that third night; and every view's dropped rows are one
INSERT (in one transaction with the views' copies: was one a view, two on BigQuery and Snowflake). Totals, first /
nothing new (the night after a send) / nothing new again (steady), the target met on every engine in the steady case:

    duckdb     first   1030 ->  986   second 182 -> 147   third 125
    postgresql first   1145 -> 1088   second 177 -> 142   third 120
    bigquery   first   1060 -> 1000   second 214 -> 158   third 116
    snowflake  first   1280 -> 1224   second 221 -> 165   third 123

Then (same session): BigQuery's and Snowflake's row counts of INSERT, UPDATE and DELETE are trusted
(``Engine.dml_rowcount``: BigQuery's ``numDmlAffectedRows``, Snowflake's rows inserted / updated / deleted; both
emulators answer them as the real engines document), so a ledger transition there is one conditional UPDATE (was a
read, then the update: ``_refuse`` 113 statements of a first run) and the plan's diff, the dropped rows and the
carried findings are not counted again; on every engine an insert of a job's keys or of its results is not counted
again (its own count), and the summary reads every job's carried rows in one statement (was one a job):

    duckdb     first    986 ->  929   second 147 -> 147   third 125 -> 125
    postgresql first   1088 -> 1041   second 142 -> 142   third 120 -> 120
    bigquery   first   1000 ->  823   second 158 -> 136   third 116 -> 114
    snowflake  first   1224 -> 1044   second 165 -> 143   third 123 -> 121

Then (issue 20, eighth session), a job's ledger work: the claim takes the engine's own DML counts (PostgreSQL's
UPDATE, BigQuery's and Snowflake's MERGE; DuckDB's UPDATE ... FROM counts matches, so DuckDB still counts back), the
results load knows a single-type job's carried rows (its row count), the submitted job is not read back, VAN's
terminal status, the results and the hosted file's removal are one transition (``completed`` only when loading
fails), a poll that finds VAN's status unchanged writes nothing; the categories of every plan are counted in one
statement; BigQuery drops a job's two scratch tables with the run's others in one script when the warehouse closes,
and DuckDB and BigQuery drop the checked copies in one call; a view whose check was carried two runs in a row is
fingerprinted itself and copied only when the plan must read it (connector/preflight/checked.py: take_pending):

    duckdb     first    929 ->  747   second 147 -> 127   third 125 ->  85
    postgresql first   1041 ->  839   second 142 -> 142   third 120 ->  80
    bigquery   first    823 ->  586   second 136 -> 116   third 114 ->  74
    snowflake  first   1044 ->  870   second 143 -> 143   third 121 ->  81

(DuckDB's first run is 704 without its claim's count-back, which a doubled key made necessary: see
tests/warehouse/test_claims.py.) A job now costs BigQuery 13 statements (was 22): export, the
content guard, the job row, its keys, uploaded, submitting, the claim, submitted; the results' delete, insert,
outcomes, counts and final transition. What is left per view on a quiet night: its content fingerprint (and a
carried check's findings, one statement for all); the night after a send adds the checked copy (two statements on
PostgreSQL), its fingerprint and the plan's diff. A first run is still 4.3-6.5x the target: the per-job steps above
and the rule pass (about 5 statements per view with rejects).

Then (issue 20, ninth session) the content guard is part of the job row's INSERT (``insert ... select ... where not
exists``: one statement a job less, on every engine), and the rule pass's table of flagged rows is released instead
of dropped by a statement of its own (a temporary table goes with its connection on DuckDB and PostgreSQL; BigQuery
drops it with the run's other scratch tables in one script at the end; Snowflake still drops it at once). Counted
once per engine before (last session's figures above) and after (this run; ``collect`` moves by a few with VAN's
timing):

    duckdb     first    747 ->  701   second 127 -> 126   third 85 -> 84
    postgresql first    839 ->  781   second 142 -> 141   third 80 -> 79
    bigquery   first    586 ->  544   second 116 -> 116   third 74 -> 74
    snowflake  first    870 ->  849   second 143 -> 143   third 81 -> 81

A job now costs BigQuery 12 statements. A first run is still 4.0-6.3x the target.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import tempfile
import threading
import traceback
import weakref
from pathlib import Path

from bench._harness import entry_point, pg_database, run_child

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MAPPING_TYPES = 21
PER_MT, CONSTANT = 5, 30  # target: at most PER_MT * 21 + CONSTANT statements per run
STAGES = ["pre-flight", "plan", "submit", "collect", "other"]
DUMP = os.environ.get("BENCH_QUERIES_DUMP")  # a path: every statement (stage, who, caller, SQL) as JSON lines


def child(engine: str, project: str, url: str = "", label: str = "") -> dict:
    for k in [k for k in os.environ if k.startswith(("VAN_", "VANBULK_"))]:
        del os.environ[k]
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import sqlalchemy as sa
    from sqlalchemy import event

    import connector.demo_world as demo_world
    import connector.run as run_pkg
    from connector.config import load_settings
    from connector.warehouse import Warehouse

    ours: weakref.WeakSet = weakref.WeakSet()  # the engines of the run's Warehouse
    init = Warehouse.__init__

    def tracked_init(self, *a, **kw):
        init(self, *a, **kw)
        ours.add(self.engine)

    Warehouse.__init__ = tracked_init
    stage: list[str] = []  # innermost wrapped step; the steps never overlap (their threads end inside them)
    counts: collections.Counter = collections.Counter()
    by_caller: collections.Counter = collections.Counter()
    lock = threading.Lock()
    dump = open(f"{DUMP}.{engine}.{label}.jsonl", "w") if DUMP else None

    helpers = {"_query", "_insert", "_update", "_transition", "transition", "<genexpr>"}  # the ledger's helpers

    def caller() -> str:
        """The innermost connector function outside the warehouse handle and the ledger's statement helpers
        (who asked for the statement)."""
        for fr in reversed(traceback.extract_stack()[:-3]):
            f = fr.filename
            if "/connector/" in f and not f.endswith("/connector/warehouse/__init__.py") and fr.name not in helpers:
                return f"{f.rsplit('/connector/', 1)[1][:-3].replace('/', '.')}.{fr.name}"
        return f"(thread {threading.current_thread().name})"

    def record(who: str, sql: str, many: int = 0) -> None:
        where = stage[-1] if stage else "other"
        fn = caller()
        with lock:
            counts[(where, who)] += 1
            if many:
                counts[(where, who, "params")] += many
            by_caller[(where, fn if who == "vanbulk" else "GX")] += 1
            if dump:
                dump.write(json.dumps({"stage": where, "who": who, "caller": fn, "many": many,
                                       "sql": " ".join(sql.split())[:300]}) + "\n")

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        many = len(parameters) if executemany and isinstance(parameters, (list, tuple)) else 0
        who = "vanbulk" if conn.engine in ours else "GX"
        record(who, statement, many)
        if who == "GX":
            kind = ("expectation" if "unexpected_row_count" in statement else
                    "rule counts" if "vanbulk_rule_0" in statement else
                    "reflection" if "pg_catalog" in statement or "information_schema" in statement else "other")
            with lock:
                counts[("GX kind", kind)] += 1

    def on_connect(dbapi_conn, conn_record):
        with lock:
            counts[(stage[-1] if stage else "other", "conns")] += 1

    event.listen(sa.engine.Engine, "before_cursor_execute", on_execute)
    event.listen(sa.pool.Pool, "connect", on_connect)
    if engine == "postgresql":
        import psycopg

        copy = psycopg.Cursor.copy

        def counted_copy(self, statement, *a, **kw):
            record("vanbulk", f"(psycopg raw COPY) {statement}")
            with lock:
                counts[(stage[-1] if stage else "other", "raw copy")] += 1
            return copy(self, statement, *a, **kw)

        psycopg.Cursor.copy = counted_copy

    if engine == "snowflake":  # COMMIT / ROLLBACK are statements there (a round trip each), sent by the driver
        from snowflake.connector.connection import SnowflakeConnection

        for name in ("commit", "rollback"):
            def counted(self, _orig=getattr(SnowflakeConnection, name), _name=name):
                with lock:
                    counts[(stage[-1] if stage else "other", f"tx {_name}")] += 1
                return _orig(self)
            setattr(SnowflakeConnection, name, counted)

    def in_stage(name: str, fn):
        def wrapper(*a, **kw):
            stage.append(name)
            try:
                return fn(*a, **kw)
            finally:
                stage.pop()
        return wrapper

    run_pkg.run_preflight_stage = in_stage("pre-flight", run_pkg.run_preflight_stage)
    run_pkg.plan_run = in_stage("plan", run_pkg.plan_run)
    run_pkg.send = in_stage("submit", run_pkg.send)
    run_pkg.collect = in_stage("collect", run_pkg.collect)  # also _collect_earlier's
    demo_world.seed_simulator = in_stage("other", demo_world.seed_simulator)

    overrides = ({"warehouse_url": url, "results_schema": "vanbulk"} if engine == "postgresql"
                 else {"warehouse_url": url} if engine == "bigquery" else {})
    settings = load_settings(project, **overrides)
    dbt_log = Path(project) / "dbt_project" / "logs" / "dbt.log"
    log_start = dbt_log.stat().st_size if dbt_log.exists() else 0
    summary = run_pkg.run(settings)
    if dump:
        dump.close()
    dbt = _dbt_statements(dbt_log, log_start)
    sent = sum(m.sent for m in summary.mapping_types.values())
    stages = {s: {w: counts[(s, w)] for w in ("vanbulk", "GX", "conns", "raw copy")} for s in STAGES}
    for s in STAGES:
        stages[s]["params"] = counts[(s, "vanbulk", "params")] + counts[(s, "GX", "params")]
    callers = {s: {c: n for (w, c), n in by_caller.items() if w == s} for s in STAGES}
    gx = {k[1]: v for k, v in counts.items() if k[0] == "GX kind"}
    tx = {k: sum(counts[(st, f"tx {k}")] for st in STAGES) for k in ("commit", "rollback")}
    return {"ok": summary.ok, "status": summary.status, "sent": sent, "stages": stages, "callers": callers, "gx": gx,
            "dbt": dbt, "mapping_types": len(summary.mapping_types), "tx": tx}


def _dbt_statements(log: Path, start: int) -> dict:
    """dbt's statements in this invocation: ``SQL status:`` lines of its debug log, by node kind."""
    if not log.exists():
        return {}
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    out: collections.Counter = collections.Counter()
    node: dict[str, str] = {}  # dbt thread -> the kind of node it runs (threads: 2)
    for line in text.splitlines():
        m = re.search(r"\] \[([^\]]*)\]: (.*)$", line)
        if not m:
            continue
        thread, msg = m.groups()
        if msg.startswith("Began running node "):
            node[thread] = msg.split("Began running node ", 1)[1].split(".", 1)[0].strip()
        elif msg.startswith("Finished running node "):
            node.pop(thread, None)
        elif msg.startswith("SQL status:"):
            out[node.get(thread, "metadata")] += 1
    return dict(out)


def _copy_demo(d: Path) -> None:
    shutil.copytree(REPO / "dbt_project", d / "dbt_project", ignore=shutil.ignore_patterns("target", "logs",
                                                                                            "dbt_packages"))
    shutil.copy(REPO / "vanbulk.yml", d / "vanbulk.yml")


def _started_emulator(kind: str):
    """The emulator the tests use for ``kind`` (``bigquery``: crucible, ``snowflake``: fakesnow; each in its own
    cached venv, tests/fixtures/), started for this bench in a scratch directory: (emulator, stop) or (None, why
    not) when its venv cannot be built (no package index: that engine's rows are skipped, and say so)."""
    import importlib

    from tests.fixtures.emulator_venv import stop as stop_server

    fixture = importlib.import_module(f"tests.fixtures.{kind}")
    try:
        venv, _ = fixture.ENV.ensure()
    except Exception as exc:  # noqa: BLE001
        return None, str(exc).splitlines()[0]
    work = Path(tempfile.mkdtemp(prefix=f"vanbulk_bench_{kind}_"))
    emulator = fixture.start(venv, work)

    def stop() -> None:
        stop_server(emulator._process)
        shutil.rmtree(work, ignore_errors=True)

    return emulator, stop


def _bigquery_dataset():
    """(url of the dataset ``benchq`` on the BigQuery emulator, stop) or (None, why not)."""
    emulator, stop = _started_emulator("bigquery")
    if emulator is None:
        return None, stop
    return f"bigquery://{emulator.project}/benchq?api_endpoint={emulator.api_endpoint}&anonymous=true", stop


def _snowflake_schema():
    """(dbt profile with ``type: snowflake`` on the Snowflake emulator, as an analyst's project reaches Snowflake,
    stop) or (None, why not)."""
    emulator, stop = _started_emulator("snowflake")
    if emulator is None:
        return None, stop
    return {"vanbulk": {"target": "snowflake",
                        "outputs": {"snowflake": emulator.profile(emulator.new_schema("benchq"))}}}, stop


def measure(engine: str) -> list[tuple[str, dict]] | str:
    url, drop = (pg_database(PG_URL, "vanbulk_bench_q") if engine == "postgresql" else _bigquery_dataset() if engine == "bigquery"
                 else _snowflake_schema() if engine == "snowflake" else ("", None))
    if url is None:
        return (f"skipped: no PostgreSQL server at {PG_URL} ({drop})" if engine == "postgresql"
                else f"skipped: no {engine} emulator ({drop})")
    try:
        with tempfile.TemporaryDirectory() as d:
            _copy_demo(Path(d))
            if engine == "snowflake":  # the profile names the warehouse (the child passes no URL)
                import yaml

                (Path(d) / "dbt_project" / "profiles.yml").write_text(yaml.safe_dump(url))
                url = ""
            return [(label, run_child("bench.bench_queries", engine, d, url, label))
                    for label in ("first", "second", "third")]
    finally:
        if drop:
            drop()


def main() -> int:
    engines = os.environ.get("BENCH_QUERIES_ENGINES", "duckdb,postgresql,bigquery,snowflake").split(",")
    results = {e: measure(e) for e in engines}
    target = PER_MT * MAPPING_TYPES + CONSTANT
    print(f"statements sent to the warehouse by one demo `vanbulk run` ({MAPPING_TYPES} mapping types, embedded "
          f"simulator); target: at most {PER_MT} per mapping type + {CONSTANT} = {target}")
    print(f"{'engine':10s} {'run':6s} " + " ".join(f"{s:>10s}" for s in STAGES)
          + f" {'total':>6s} {'per MT':>6s} {'GX':>5s} {'conns':>5s} {'dbt':>5s}  target")
    ok = True
    for engine, runs in results.items():
        if isinstance(runs, str):
            print(f"{engine:10s} {runs}")
            continue
        for label, r in runs:
            st = r["stages"]
            per = {s: st[s]["vanbulk"] + st[s]["GX"] for s in STAGES}
            total = sum(per.values())
            met = total <= target
            print(f"{engine:10s} {label:6s} " + " ".join(f"{per[s]:10d}" for s in STAGES)
                  + f" {total:6d} {total / MAPPING_TYPES:6.1f} {sum(st[s]['GX'] for s in STAGES):5d} "
                  f"{sum(st[s]['conns'] for s in STAGES):5d} {sum(r['dbt'].values()):5d}  "
                  + ("met" if met else f"MISSED ({total / target:.1f}x)"))
            ok = ok and r["ok"]
    print("(per stage: vanbulk's own + GX's statements; GX: of the total, Great Expectations' engine; conns: new "
          "DBAPI connections opened; dbt: its statements in its own process, not in the total)")
    for engine, runs in results.items():
        if isinstance(runs, str):
            continue
        for label, r in runs:
            st, total = r["stages"], sum(r["stages"][s]["vanbulk"] + r["stages"][s]["GX"] for s in STAGES)
            top = max(STAGES, key=lambda s: st[s]["vanbulk"] + st[s]["GX"])
            n_top = st[top]["vanbulk"] + st[top]["GX"]
            print(f"{engine} {label} run: sent {r['sent']} rows ({r['status']}); per mapping type: " + ", ".join(
                f"{s} {(st[s]['vanbulk'] + st[s]['GX']) / MAPPING_TYPES:.1f}" for s in STAGES)
                + f"; largest stage {top} ({n_top / total:.0%})")
            for s in STAGES:
                calls = sorted(r["callers"][s].items(), key=lambda kv: -kv[1])
                big = [(c, n) for c, n in calls if n >= 5]
                rest = sum(n for c, n in calls if n < 5)
                extra = [f"{st[s]['params']} parameter sets in executemany"] if st[s]["params"] else []
                extra += [f"{st[s]['raw copy']} raw COPY via psycopg"] if st[s]["raw copy"] else []
                print(f"  {s:10s} " + ", ".join([f"{c} {n}" for c, n in big] + ([f"(rest) {rest}"] if rest else []))
                      + (f"  [{'; '.join(extra)}]" if extra else ""))
            gx = r["gx"]
            refl = gx.get("reflection", 0)
            print(f"  GX: {gx.get('rule counts', 0)} counting every rule of a view at once, {gx.get('expectation', 0)} "
                  f"one COUNT per expectation (a rule outside a registered suite), {refl} reflecting the batch tables "
                  f"({refl / MAPPING_TYPES:.0f} per view), {gx.get('other', 0)} other (a LIMIT probe per batch)")
            polled = r["callers"]["collect"].get("ledger.store.mark_polled", 0)
            if polled:
                print(f"  collect: {polled} of its statements are mark_polled (one update per status poll of a job "
                      "still running: how many depends on VAN's timing)")
            if any(r.get("tx", {}).values()):
                print(f"  transaction control the driver sends as statements (not in the totals): "
                      f"{r['tx']['commit']} COMMIT, {r['tx']['rollback']} ROLLBACK")
            if r["dbt"]:
                print("  dbt (its own process, not in the totals): " + ", ".join(
                    f"{k} {v}" for k, v in sorted(r["dbt"].items(), key=lambda kv: -kv[1])))
    return 0 if ok else 1


if __name__ == "__main__":
    entry_point(child, main)
