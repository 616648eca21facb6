"""A job's state moves by one conditional UPDATE (issue 20 item 3: it was a read, then an update); a transition
the state machine does not allow is refused with the same ``LedgerStateError`` and changes nothing. On every engine
of the contract suite: DuckDB and PostgreSQL answer the UPDATE's ``RETURNING``, BigQuery and Snowflake (emulators;
live opt-in) its row count (``Engine.dml_rowcount``)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from connector.ledger import JobState, Ledger, LedgerStateError
from connector.ledger.schema import JOBS
from connector.warehouse.engines import bigquery as bq_engine
from tests.helpers.bigquery_lint import lint
from tests.helpers.statements import counting_statements
from tests.warehouse.conftest import ENGINES, open_engine


@pytest.fixture(params=ENGINES)
def ledger(request, tmp_path) -> Ledger:
    wh, schema, _ = open_engine(request, request.param, tmp_path)
    ledger = Ledger(wh, schema, api_target="https://api.example.test/v4/", database_mode=1)
    ledger.ensure()
    yield ledger
    wh.dispose()


def _job(ledger, run: str = "r1") -> str:
    return ledger.record_job({"run_id": run, "content_key": run, "mapping_types": "ActivistCode", "row_count": 1},
                             [("k1", "ActivistCode")])


def _state(ledger, job: str) -> tuple:
    return tuple(ledger.wh.fetchall(f"select local_state, van_job_id, van_status from {ledger.rel(JOBS)} "
                                    "where job_key = :k", {"k": job})[0])


def test_a_transition_is_one_statement(ledger):
    job = _job(ledger)
    with counting_statements(ledger.wh.engine) as sent:
        ledger.mark_uploaded(job, "file:///x.zip", "r1/x.zip")
    assert len(sent) == 1 and sent[0].lower().startswith("update"), sent
    ledger.transition(job, JobState.SUBMITTING)
    ledger.mark_submitted(job, 42)
    with counting_statements(ledger.wh.engine) as sent:
        for status in ("Pending", "InProgress", "InProgress"):  # polling -> polling: allowed, every poll
            ledger.mark_polled(job, status)
    assert len(sent) == 3, sent
    assert _state(ledger, job) == ("polling", 42, "InProgress")


def test_a_transition_not_allowed_is_refused_and_changes_nothing(ledger):
    job = _job(ledger)
    ledger.mark_uploaded(job, "file:///x.zip", "r1/x.zip")
    with pytest.raises(LedgerStateError, match="uploaded -> submitted is not a transition the ledger allows"):
        ledger.mark_submitted(job, 7)
    assert _state(ledger, job) == ("uploaded", None, None)
    with pytest.raises(LedgerStateError, match="exported is not a transition"):  # nothing leads to exported
        ledger.transition(job, JobState.EXPORTED)
    with pytest.raises(LedgerStateError, match="job nope is not in the ledger"):
        ledger.mark_polled("nope", "Pending")
    with pytest.raises(LedgerStateError, match="uploaded -> results_loaded"):  # inside a larger transaction
        ledger.load_results({"job_key": job, "mapping_types": "ActivistCode"}, [], failed_message=None)
    assert _state(ledger, job) == ("uploaded", None, None)


@contextmanager
def _rendered_bigquery(into: list[str]):
    """What the BigQuery engine's DB-API cursor sends, parameters rendered (as tests/scenarios/test_bigquery_demo.py)."""
    original = bq_engine.render_params

    def recording(operation, parameters):
        into.append(sql := original(operation, parameters))
        return sql

    bq_engine.render_params = recording
    try:
        yield
    finally:
        bq_engine.render_params = original


def _guarded(ledger, run: str, content: str = "same", processed_blocks: bool = True) -> str | None:
    return ledger.record_job({"run_id": run, "content_key": content, "mapping_types": "ActivistCode", "row_count": 1,
                              "retry_of_run_id": None}, [("k1", "ActivistCode")], unless_blocked=processed_blocks)


def _jobs_of(ledger, content: str) -> list:
    return [tuple(r) for r in ledger.wh.fetchall(
        f"select run_id, local_state from {ledger.rel(JOBS)} where content_key = :c order by run_id", {"c": content})]


def test_a_job_row_is_written_only_while_no_job_blocks_its_content(ledger):
    """The content guard is part of the job row's INSERT (run/submit.py asks nothing first): same statements as
    an unguarded job; a job in flight (or one VAN processed rows of, unless --full-refresh) blocks the same
    content, and a blocked job writes nothing; one VAN refused does not block."""
    with counting_statements(ledger.wh.engine) as plain:
        _job(ledger, "r0")
    rendered: list[str] = []
    with counting_statements(ledger.wh.engine) as guarded, _rendered_bigquery(rendered):
        first = _guarded(ledger, "r1")
    assert first is not None and len(guarded) == len(plain), (plain, guarded)
    # the emulator runs what real BigQuery refuses (a WHERE without a FROM): what was sent is linted as GoogleSQL
    assert {q[:120]: found for q in rendered if (found := lint(q))} == {}
    ledger.mark_uploaded(first, "file:///x.zip", "r1/x.zip")
    ledger.transition(first, JobState.SUBMITTING)
    ledger.mark_submitted(first, 42)
    assert _guarded(ledger, "r2") is None  # in flight: blocked
    assert _jobs_of(ledger, "same") == [("r1", "submitted")]
    assert ledger.blocking_job_for_content("same")["job_key"] == first
    ledger.load_results({"job_key": first, "mapping_types": "ActivistCode", "row_count": 1, "van_job_id": 42,
                         "run_id": "r1"}, [{"job_key": first, "mapping_type": "ActivistCode", "source_row_key": "k1",
                                            "row_status": "processed", "van_job_id": 42, "run_id": "r1"}],
                        failed_message=None, completed=("Completed", None))
    assert _guarded(ledger, "r3") is None  # processed rows: blocked...
    assert _guarded(ledger, "r4", processed_blocks=False) is not None  # ...but for an explicit --full-refresh
    other = _guarded(ledger, "r5", content="other")
    ledger.mark_uploaded(other, "file:///y.zip", "r5/y.zip")
    ledger.transition(other, JobState.SUBMITTING)
    ledger.mark_refused(other, ["ActivistCode"], "r5", "refused at POST", "[]")
    assert _jobs_of(ledger, "other") == [("r5", "submit_failed")]
    assert _guarded(ledger, "r6", content="other") is not None  # a job VAN refused does not block
