"""The row claim before each POST (connector/ledger/claim.py), on every engine: a second job whose rows another
job holds claims none of them (all or nothing), and of two processes racing for the same rows exactly one wins.

The MERGE form (engines without enforced keys: BigQuery) also runs on DuckDB and PostgreSQL here, through an
engine that declares no enforced keys, so its semantics are checked on real engines, not only on the emulator.
Its race is run only where DML on one table is serialised (BigQuery); on PostgreSQL without a key the unique
key is what makes the native form safe, and that is the form PostgreSQL uses."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import sqlalchemy as sa

from connector.ledger import Ledger
from connector.ledger.claim import claim_rows, is_claim_conflict
from connector.ledger.schema import JOB_ROWS, JOBS, PLAN_ROWS, ROW_STATE
from connector.ledger.store import utcnow
from connector.warehouse import Warehouse
from connector.warehouse.engines import DuckDBEngine, PostgresEngine
from tests.warehouse.conftest import open_engine

TARGET = "https://api.example.test/v4/"


class _NoKeys:
    enforces_unique_keys = False


class DuckDBWithoutKeys(_NoKeys, DuckDBEngine):
    """DuckDB taking the MERGE claim (and no primary key on the row state)."""


class PostgresWithoutKeys(_NoKeys, PostgresEngine):
    """PostgreSQL taking the MERGE claim (and no primary key on the row state)."""


def _ledger(wh: Warehouse, schema: str, merge_form: bool) -> Ledger:
    if merge_form and wh.ops.enforces_unique_keys:
        wh.ops = {"duckdb": DuckDBWithoutKeys, "postgresql": PostgresWithoutKeys}[wh.ops.name]()
    return Ledger(wh, schema, api_target=TARGET, database_mode=1)


def _seed(L: Ledger, job: str, run: str, keys: list[str]) -> None:
    wh = L.wh
    L._insert(JOBS, {"job_key": job, "run_id": run, "mapping_types": "ActivistCode", "local_state": "submitting",
                     "api_target": TARGET, "database_mode": 1, "row_count": len(keys), "created_at": utcnow()})
    wh.insert_rows(PLAN_ROWS, ["run_id", "api_target", "database_mode", "mapping_type", "source_row_key", "category",
                               "row_hash", "planned_at"],
                   [(run, TARGET, 1, "ActivistCode", k, "new", f"h-{k}", utcnow()) for k in keys], schema=L.schema)
    wh.insert_rows(JOB_ROWS, ["job_key", "source_row_key", "mapping_type"],
                   [(job, k, "ActivistCode") for k in keys], schema=L.schema)


class _Lost(Exception):
    """The claim got fewer rows than the job carries: rolled back."""


def _claim(L: Ledger, job: str, run: str, carried: int | None = None) -> bool:
    """One claim in one transaction, rolled back unless every row was claimed (as ``mark_submitting``).
    ``carried``: the job's row count, as a run tells it (the claim then trusts the engine's DML counts)."""
    params = {"k": job, "r": run, "t": TARGET, "d": 1, "now": utcnow()}
    try:
        with L.wh.begin() as c:
            claimed, carried = claim_rows(c, L, params, carried)
            if claimed != carried:
                raise _Lost()
        return True
    except _Lost:
        return False
    except sa.exc.DBAPIError as exc:
        if is_claim_conflict(L, exc):
            return False
        raise


def _holders(L: Ledger) -> dict[str, str]:
    return {k: j for k, j in L.wh.fetchall(f"select source_row_key, job_key from {L.rel(ROW_STATE)}")}


@pytest.mark.parametrize("told", [False, True], ids=["counted-back", "dml-counts"])
@pytest.mark.parametrize("merge_form", [False, True], ids=["native", "merge"])
def test_a_held_row_stops_the_whole_claim(engine_wh, merge_form, told):
    wh, schema = engine_wh
    if wh.ops.name in ("bigquery", "snowflake") and not merge_form:
        pytest.skip(f"{wh.ops.name} has only the MERGE form")
    L = _ledger(wh, schema, merge_form)
    L.ensure()
    _seed(L, "job-a", "run-a", ["k1", "k2", "k3"])
    _seed(L, "job-b", "run-b", ["k3", "k4", "k5"])  # k3 is in both
    assert _claim(L, "job-a", "run-a", 3 if told else None)
    assert not _claim(L, "job-b", "run-b", 3 if told else None)
    assert _holders(L) == {"k1": "job-a", "k2": "job-a", "k3": "job-a"}  # job-b wrote nothing
    with wh.begin() as c:  # a row of a job that never reached VAN (claimed_elsewhere) is free to claim again
        c.execute(sa.text(f"update {L.rel(JOBS)} set local_state = 'claimed_elsewhere' where job_key = 'job-a'")) \
            if wh.ops.name != "bigquery" else c.execute(sa.text(
                f"merge into {L.rel(JOBS)} t using (select 'job-a' as k) s on t.job_key = s.k "
                "when matched then update set local_state = 'claimed_elsewhere'"))
    assert _claim(L, "job-b", "run-b", 3 if told else None)
    assert _holders(L) == {"k1": "job-a", "k2": "job-a", "k3": "job-b", "k4": "job-b", "k5": "job-b"}


@pytest.mark.parametrize("merge_form", [False, True], ids=["native", "merge"])
def test_a_key_matched_twice_never_stands_in_for_a_held_row(engine_wh, merge_form):
    """The claim's counts are rows claimed: a job whose key the plan holds twice (two plans of one run) and one of
    whose rows another job holds claims nothing, though its statements matched as many rows as it carries."""
    wh, schema = engine_wh
    if wh.ops.name in ("bigquery", "snowflake") and not merge_form:
        pytest.skip(f"{wh.ops.name} has only the MERGE form")
    L = _ledger(wh, schema, merge_form)
    L.ensure()
    _seed(L, "job-a", "run-a", ["k3"])
    assert _claim(L, "job-a", "run-a", 1)
    _seed(L, "job-b", "run-b", ["k3", "k4"])
    wh.insert_rows(PLAN_ROWS, ["run_id", "api_target", "database_mode", "mapping_type", "source_row_key", "category",
                               "row_hash", "planned_at"],
                   [("run-b", TARGET, 1, "ActivistCode", "k4", "new", "h-k4", utcnow())], schema=L.schema)
    with L.wh.begin() as c:  # k4 already has a state: the update matches it twice
        c.execute(sa.text(f"insert into {L.rel(ROW_STATE)} (api_target, database_mode, mapping_type, source_row_key, "
                          f"row_hash, outcome, job_key, run_id, tries, updated_at) values (:t, 1, 'ActivistCode', "
                          f"'k4', 'old', 'processed', 'job-0', 'run-0', 1, :now)"), {"t": TARGET, "now": utcnow()})
        c.execute(sa.text(f"update {L.rel(PLAN_ROWS)} set category = 'changed' where run_id = 'run-b' "
                          f"and source_row_key = 'k4'"))
    try:
        assert not _claim(L, "job-b", "run-b", 2)
    except sa.exc.DBAPIError as exc:  # an engine may refuse a source row matched twice outright: also no claim
        assert wh.ops.name in ("bigquery", "snowflake"), exc
    assert _holders(L) == {"k3": "job-a", "k4": "job-0"}


def _racer(url, schema, job, run, locked, barrier, results, done) -> None:
    """A claim racing another process's; ``locked``: as a run does it, the writer lock first (a command that
    cannot take it stops there)."""
    from connector.run.lock import RunLock, RunLocked

    wh = Warehouse(url, schema)
    L = Ledger(wh, schema, api_target=TARGET, database_mode=1)
    barrier.wait(timeout=60)
    lock = None
    try:
        if locked:
            lock = RunLock(wh, schema, TARGET).acquire(job)
        results.put((job, _claim(L, job, run, 200)))
    except RunLocked:
        results.put((job, False))
    done.wait(timeout=180)  # the winner keeps the lock until both have answered
    if lock is not None:
        lock.release()
    wh.dispose()


@pytest.mark.parametrize("locked", [True, False], ids=["under-the-writer-lock", "claim-alone"])
def test_two_processes_racing_for_the_same_rows(engine_wh, locked):
    wh, schema = engine_wh
    if wh.ops.name == "duckdb":
        pytest.skip("a DuckDB file has one writing process: the run's file lock keeps the second out")
    if not locked and not wh.ops.enforces_unique_keys:
        pytest.skip(f"{wh.ops.name}: without enforced keys two claims with no lock between them could both insert "
                    "a new row; every command takes the writer lock first")
    L = _ledger(wh, schema, merge_form=False)
    L.ensure()
    keys = [f"k{i:03d}" for i in range(200)]
    _seed(L, "job-a", "run-a", keys)
    _seed(L, "job-b", "run-b", keys[100:] + [f"x{i:03d}" for i in range(100)])
    ctx = mp.get_context("spawn")
    barrier, results, done = ctx.Barrier(2), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_racer, args=(wh.test_url, schema, j, r, locked, barrier, results, done))
             for j, r in (("job-a", "run-a"), ("job-b", "run-b"))]
    for p in procs:
        p.start()
    try:
        won = dict(results.get(timeout=180) for _ in procs)
    finally:
        done.set()
        for p in procs:
            p.join(timeout=60)
    assert sorted(won.values()) == [False, True], won  # exactly one of the two claims took its rows
    winner = next(j for j, w in won.items() if w)
    holders = _holders(L)
    assert set(holders.values()) == {winner}  # the loser left nothing behind
    assert len(holders) == 200
