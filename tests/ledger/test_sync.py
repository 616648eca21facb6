"""The plan diff in SQL: row hash (same on DuckDB and PostgreSQL), every category, migration of an older
ledger. Real DuckDB files and a real PostgreSQL schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connector.ledger import (JOBS, PLAN_ROWS, ROW_STATE, JobState, PlanCategory, PlanRequest, RowOutcome,
                              content_key, new_id)
from tests.ledger.conftest import make_view

COLS = ["source_row_key", "VanID", "Phone", "PhoneTypeID"]
ROWS = [("p-1", "1", "2175550101", "C"), ("p-2", "2", "2175550102", None), ("p-3", "3", "2175550103", "H"),
        ("p\n4", "4", "x;y=z", "")]


@pytest.fixture(autouse=True, params=["counted-alone", "counted-with-others"])
def counting(request, monkeypatch):
    """Every plan here is counted by ``Ledger.plan`` itself, and again deferred and counted by ``count_plans``
    (as a run counts the plans of all its mapping types at once): the counts must be the same."""
    monkeypatch.setitem(globals(), "DEFERRED", request.param == "counted-with-others")


DEFERRED = False


def _plan(ledger, run, rel, *, append=False, where="1 = 1", **kw):
    passing = f"select * from {rel} where {where}"
    if not DEFERRED:
        return ledger.plan(run, PlanRequest("Phones", append=append, **kw), passing, rel, COLS)
    n = int(ledger.wh.fetchall(f"select count(*) from ({passing}) p")[0][0])
    counts = ledger.plan(run, PlanRequest("Phones", append=append, **kw), passing, rel, COLS, passing_count=n,
                         write_counts=False, defer_counts=True)
    return counts if counts is not None else ledger.count_plans(run, {"Phones": (n, rel)})["Phones"]


def _categories(ledger, run) -> dict[str, str]:
    return {k: c for k, c in ledger.wh.fetchall(
        f"select source_row_key, category from {ledger.rel(PLAN_ROWS)} where run_id = :r", {"r": run})}


def _send(ledger, run, keys, mapping_type="Phones"):
    """Record a job carrying ``keys`` and claim them (the commit before the POST); returns its key."""
    job_key = new_id()
    ledger.record_job({"job_key": job_key, "run_id": run, "mapping_types": mapping_type,
                       "content_key": content_key([mapping_type], ledger.api_target, 1, new_id()),
                       "api_target": ledger.api_target, "database_mode": 1, "row_count": len(keys)},
                      [(k, mapping_type) for k in keys])
    ledger.mark_uploaded(job_key, "file:///x", "x")
    ledger.mark_submitting(job_key, run)
    return job_key


def _finish(ledger, job_key, statuses: dict[str, str]):
    ledger.mark_submitted(job_key, 1)
    ledger.mark_completed(job_key, "Completed", None)
    job = ledger.job(job_key)
    rows = [{"job_key": job_key, "van_job_id": 1, "run_id": job["run_id"], "mapping_type": "Phones",
             "source_row_key": k, "row_status": st} for k, st in statuses.items() if st != "absent"]
    return ledger.load_results(job, rows, failed_message=None)


def test_row_hash_is_the_same_on_duckdb_and_postgres(tmp_path, pg_schema):
    from connector.ledger import row_hash_sql
    from connector.warehouse import Warehouse

    values = [("k", "a", None, ""), ("k2", "é€😀", "x;y", "=1:2;"), ("k3", None, None, None), ("k4", "a", "", None)]
    got = []
    for url, schema in ((f"duckdb:///{tmp_path}/h.duckdb", "main"), pg_schema):
        with Warehouse(url, schema) as wh:
            rel = wh.relation("h", schema)
            wh.execute(f"create table {rel} ({', '.join(f'{wh.quote(c)} text' for c in COLS)})")
            wh.insert_rows("h", COLS, values, schema=schema)
            got.append(dict(wh.fetchall(f"select source_row_key, {row_hash_sql(COLS, wh.ops, 'v')} "
                                        f"from {rel} v")))
    assert got[0] == got[1]
    h = got[0]
    assert len(set(h.values())) == 4  # NULL, '' and values differ; separators inside values are unambiguous


def test_first_plan_is_all_new_and_a_processed_row_is_unchanged(ledger):
    rel = make_view(ledger, "phones_v", COLS, ROWS)
    counts = _plan(ledger, "r1", rel)
    assert counts == {"new": 4}
    job = _send(ledger, "r1", [r[0] for r in ROWS])
    _finish(ledger, job, {"p-1": "processed", "p-2": "processed", "p-3": "failed", "p\n4": "absent"})
    state = {r["source_row_key"]: (r["outcome"], r["tries"]) for r in ledger.row_state("Phones")}
    assert state == {"p-1": ("processed", 1), "p-2": ("processed", 1), "p-3": ("failed", 1),
                     "p\n4": ("not_in_results", 1)}
    # next night: p-1's phone changes, p-3 and p\n4 are retried, p-2 stays
    make_view(ledger, "phones_v", COLS, [("p-1", "1", "2175550199", "C"), *ROWS[1:]])
    assert _plan(ledger, "r2", rel) == {"changed": 1, "unchanged": 1, "retry": 2}
    assert _categories(ledger, "r2") == {"p-1": "changed", "p-3": "retry", "p\n4": "retry"}


def test_append_type_never_resends_a_processed_row(ledger):
    rel = make_view(ledger, "phones_v", COLS, ROWS[:2])
    _plan(ledger, "r1", rel, append=True)
    _finish(ledger, _send(ledger, "r1", ["p-1", "p-2"]), {"p-1": "processed", "p-2": "processed"})
    make_view(ledger, "phones_v", COLS, [("p-1", "1", "2175550199", "C"), ROWS[1]])
    assert _plan(ledger, "r2", rel, append=True) == {"changed_after_import": 1, "unchanged": 1}
    # --full-refresh alone keeps append types safe; with --duplicate-append-types both go again
    assert _plan(ledger, "r3", rel, append=True, full_refresh=True) == {"changed_after_import": 1, "unchanged": 1}
    assert _plan(ledger, "r4", rel, append=True, full_refresh=True, duplicate_append=True) == {"refresh": 2}
    assert _plan(ledger, "r5", rel, full_refresh=True) == {"changed": 1, "refresh": 1}  # as an upsert type


def test_in_flight_ambiguous_exhausted_and_gone(ledger):
    rel = make_view(ledger, "phones_v", COLS, ROWS[:3])
    _plan(ledger, "r1", rel)
    flying = _send(ledger, "r1", ["p-1"])
    ledger.mark_submitted(flying, 11)
    _send(ledger, "r1", ["p-2"])  # crashed after the POST: `submitting`
    failing = _send(ledger, "r1", ["p-3"])
    _finish(ledger, failing, {"p-3": "failed"})
    make_view(ledger, "phones_v", COLS, ROWS[:3])
    counts = _plan(ledger, "r2", rel, max_tries=1)
    assert counts == {"in_flight": 1, "ambiguous": 1, "retry_exhausted": 1}
    make_view(ledger, "phones_v", COLS, ROWS[1:3])  # p-1 left the view
    assert _plan(ledger, "r3", rel, max_tries=1)["gone"] == 1
    # p-2 still in the view but rejected this run (not among the passing rows): not gone, and not planned
    counts = _plan(ledger, "r3b", rel, max_tries=1, where="source_row_key <> 'p-2'")
    assert counts == {"gone": 1, "retry_exhausted": 1}
    assert _categories(ledger, "r3b") == {"p-1": "gone", "p-3": "retry_exhausted"}
    # retry-failed plans over retryable rows only, exhausted ones included
    assert _plan(ledger, "r4", rel, max_tries=1, retry_only_run="") == {"retry": 1}


def test_claims_are_exclusive(ledger):
    """Two runs that planned the same new rows (two workers started together): the first claim wins, the
    second commits nothing and POSTs nothing."""
    import pytest

    from connector.ledger import RowClaimConflict

    rel = make_view(ledger, "phones_v", COLS, ROWS[:2])
    assert _plan(ledger, "r1", rel) == _plan(ledger, "r2", rel) == {"new": 2}
    first = _send(ledger, "r1", ["p-1", "p-2"])
    with pytest.raises(RowClaimConflict):
        _send(ledger, "r2", ["p-1", "p-2"])
    second = next(j for j in ledger.jobs(run_id="r2"))
    assert second["local_state"] == JobState.UPLOADED  # not `submitting`: nothing POSTed
    assert {r["job_key"] for r in ledger.row_state("Phones")} == {first}


def test_a_stale_plan_never_sends_a_row_again(ledger):
    """Two runs planned the same new rows; the first sent them and VAN processed them before the second claims:
    the second's claim fails (the rows are no longer new) and sends nothing, though no job holds them any more."""
    import pytest

    from connector.ledger import RowClaimConflict

    rel = make_view(ledger, "phones_v", COLS, ROWS[:2])
    assert _plan(ledger, "r1", rel) == _plan(ledger, "r2", rel) == {"new": 2}
    first = _send(ledger, "r1", ["p-1", "p-2"])
    assert _finish(ledger, first, {"p-1": "processed", "p-2": "processed"}) == {"processed": 2}
    with pytest.raises(RowClaimConflict):
        _send(ledger, "r2", ["p-1", "p-2"])
    assert {(r["job_key"], r["outcome"]) for r in ledger.row_state("Phones")} == {(first, "processed")}
    assert _plan(ledger, "r3", rel) == {"unchanged": 2}


def test_older_ledger_is_migrated(ledger):
    """A ledger written before row-level sync (no row state): processed rows become `unchanged` at the
    current values, a failed one `retry`, rows of a job in flight `in_flight`."""
    wh = ledger.wh
    rel = make_view(ledger, "phones_v", COLS, ROWS[:3])
    with wh.begin() as c:
        c.execute(sa.text(f"drop table {ledger.rel(ROW_STATE)}"))
    ledger.wh.execute(f"insert into {ledger.rel(JOBS)} (job_key, run_id, mapping_types, api_target, database_mode, "
                      f"local_state, van_job_id, created_at) values ('j1', 'old', 'Phones', :t, 1, 'results_loaded', 1, "
                      f"current_timestamp), ('j2', 'old', 'Phones', :t, 1, 'submitted', 2, current_timestamp)",
                      {"t": ledger.api_target})
    ledger.wh.execute(f"insert into {ledger.rel('van_bulk_job_rows')} (job_key, source_row_key, mapping_type) values "
                      "('j1', 'p-1', null), ('j1', 'p-2', null), ('j2', 'p-3', null)")
    ledger.wh.execute(f"insert into {ledger.rel('van_bulk_row_results')} (job_key, run_id, mapping_type, "
                      "source_row_key, row_status, loaded_at) values ('j1', 'old', 'Phones', 'p-1', 'processed', "
                      "current_timestamp), ('j1', 'old', 'Phones', 'p-2', 'failed', current_timestamp)")
    ledger.notes.clear()
    ledger.ensure()
    assert ledger.notes and "3 row(s)" in ledger.notes[0] and "1 processed" in ledger.notes[0]
    assert {r["source_row_key"]: r["outcome"] for r in ledger.row_state("Phones")} == {
        "p-1": RowOutcome.PROCESSED, "p-2": RowOutcome.FAILED, "p-3": RowOutcome.PENDING}
    assert _plan(ledger, "r1", rel) == {PlanCategory.UNCHANGED: 1, PlanCategory.RETRY: 1, PlanCategory.IN_FLIGHT: 1}
    assert _plan(ledger, "r2", rel, append=True)[PlanCategory.UNCHANGED] == 1


def test_a_known_passing_count_gives_the_same_plan_in_fewer_statements(ledger):
    """Pre-flight counted the rows to send (``passing_count``): the plan's counts are the same as when it counts
    them itself, every category alike, and a plan with nothing new is two statements (the diff, the counts)."""
    rel = make_view(ledger, "phones_v", COLS, ROWS[:3])
    assert _plan(ledger, "r1", rel) == {"new": 3}
    _finish(ledger, _send(ledger, "r1", ["p-1", "p-2"]), {"p-1": "processed", "p-2": "failed"})
    sent: list[str] = []
    listen = lambda *a: sent.append(a[2])  # noqa: E731

    def plan(run, **kw):
        return ledger.plan(run, PlanRequest("Phones", append=False), f"select * from {rel}", rel, COLS, **kw)

    assert plan("r2") == plan("r2b", passing_count=3) == {"unchanged": 1, "retry": 1, "new": 1}
    _finish(ledger, _send(ledger, "r2", ["p-2", "p-3"]), {"p-2": "processed", "p-3": "processed"})
    sa.event.listen(ledger.wh.engine, "before_cursor_execute", listen)
    try:
        assert plan("r3", passing_count=3) == {"unchanged": 3}
    finally:
        sa.event.remove(ledger.wh.engine, "before_cursor_execute", listen)
    ours = [s for s in sent if not s.lstrip().lower().startswith(("begin", "commit", "rollback"))]
    assert len(ours) == 2, ours
    assert plan("r4") == {"unchanged": 3}  # counted by the plan itself: the same
    assert ledger.plan_counts("r3") == ledger.plan_counts("r4") == {"Phones": {"unchanged": 3}}
