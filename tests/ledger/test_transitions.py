"""A job's state moves by one conditional UPDATE (issue 20 item 3: it was a read, then an update); a transition
the state machine does not allow is refused with the same ``LedgerStateError`` and changes nothing. On every engine
of the contract suite: DuckDB and PostgreSQL answer the UPDATE's ``RETURNING``, BigQuery and Snowflake (emulators;
live opt-in) its row count (``Engine.dml_rowcount``)."""

from __future__ import annotations


import pytest

from connector.ledger import JobState, Ledger, LedgerStateError
from connector.ledger.schema import JOBS
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
