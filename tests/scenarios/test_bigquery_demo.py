"""The demo project end to end with warehouse and ledger on BigQuery (the crucible emulator,
tests/fixtures/bigquery.py): dbt builds the 21 staging views in a dataset, pre-flight (SQL pass + GX) checks
them there, the plan, claims, job rows, results and sync state live there. The same project run on DuckDB gives
the same answer for every mapping type; then one new contribution and one changed email make the next run send
exactly those 2 rows (and nothing of the other 19 types), and a third run of those two types sends nothing. Checked from the simulator's own state too. Every statement
the runs send to BigQuery (the ledger's, pre-flight's, GX's) is linted as GoogleSQL: the emulator runs DuckDB and
would accept functions BigQuery lacks.

(A SIGKILL during a run, then another run, on BigQuery: tests/scenarios/test_kill_points.py.)"""

from __future__ import annotations

import collections
import dataclasses
import json
import re

import pytest

from connector.config import load_settings
from connector.run import run
from connector.warehouse import Warehouse
from connector.warehouse.engines import bigquery as bq_engine
from tests.fixtures.demo import (FAST, apply_nights_changes_in_warehouse, assert_only_changed_views_checked,
                                 copy_demo_project, demo_simulator_store, sent_by_type)
from tests.helpers.bigquery_lint import lint

CHANGED = ["Contributions", "Email"]  # the types apply_nights_changes_in_warehouse touches
pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

def _answers(summary) -> dict[str, dict]:
    """Each mapping type's line of the summary, without VAN's job ids (two simulators number jobs apart)."""
    return {name: {k: v for k, v in dataclasses.asdict(m).items() if k != "van_job_ids"}
            for name, m in summary.mapping_types.items()}


def test_demo_on_bigquery_same_answers_as_duckdb_then_only_changes(tmp_path, bq_dataset, monkeypatch,
                                                                   demo_after_first_run):
    emulator, dataset = bq_dataset
    sent_sql: set[str] = set()
    render = bq_engine.render_params

    def recording(operation, parameters):  # what the engine's DB-API cursor sends, parameters rendered
        sql = render(operation, parameters)
        sent_sql.add(sql)
        return sql

    monkeypatch.setattr(bq_engine, "render_params", recording)
    url = f"bigquery://{emulator.project}/{dataset}?api_endpoint={emulator.api_endpoint}&anonymous=true"
    project = copy_demo_project(tmp_path / "bq")
    s = load_settings(project, env={"VANBULK_WAREHOUSE_URL": url}, poll_interval_seconds=0.05)
    first = run(s, simulator_config=FAST)
    assert first.ok, first.render()

    reference = demo_after_first_run[2]  # the same project's first run on DuckDB (shared: tests/fixtures/demo.py)
    assert reference.ok, reference.render()
    assert _answers(first) == _answers(reference)
    assert sum(m.sent for m in first.mapping_types.values()) > 50  # the demo, not an empty run

    # the ledger and sync state are in the dataset, and agree with what VAN (the simulator) applied
    store = demo_simulator_store(project)
    with Warehouse(url) as wh:
        processed = wh.scalar(f"select count(*) from {wh.relation('van_bulk_row_state', dataset)} "
                              "where outcome = 'processed'")
    assert processed == sum(m.processed for m in first.mapping_types.values())
    n_gifts = first.mapping_types["Contributions"].processed

    apply_nights_changes_in_warehouse(url)  # in the input tables: no dbt build (test_row_sync_demo re-seeds)
    second = run(s, simulator_config=FAST, skip_dbt=True)
    assert second.ok, second.render()
    assert sent_by_type(second) == {"Contributions": 1, "Email": 1}, second.render()
    assert second.mapping_types["Contributions"].plan == {"unchanged": n_gifts, "new": 1}

    # the two types the night changed, run again: nothing to send (the other 19 sent nothing in the second
    # run already; a whole third run on the emulator cost 60-90 s)
    third = run(s, CHANGED, simulator_config=FAST, skip_dbt=True)
    assert third.ok and sent_by_type(third) == {}, third.render()
    assert {n: set(m.plan) for n, m in third.mapping_types.items()} == {n: {"unchanged"} for n in CHANGED}
    assert_only_changed_views_checked(url, dataset, first, second, third, CHANGED)  # the content fingerprint

    applied = collections.Counter(json.dumps(r["fields"], sort_keys=True) for r in store.applied("Contributions"))
    assert sum(applied.values()) == n_gifts + 1 and set(applied.values()) == {1}, applied  # every gift once
    emails = [r["fields"].get("Email") for r in store.applied("Email") if r["primaryKey"] == 100002]
    assert emails[-1] == "ben@newjob.example.com"
    # every scratch table of the three runs is gone (job keys and result files loaded, checked copies, flags)
    tables = [t.table_id for t in emulator.client().list_tables(dataset)]
    scratch = re.compile(r"van_checked__|vanbulk_.*_[0-9a-f]{8,12}$")  # (named apart per use: a random suffix)
    assert not [t for t in tables if scratch.match(t)], tables
    assert "vanbulk_sync_status" in tables  # (the listing is the dataset's)


    assert len(sent_sql) > 50
    problems = {sql[:300]: found for sql in sorted(sent_sql) if (found := lint(sql))}
    assert not problems, json.dumps(problems, indent=1)
