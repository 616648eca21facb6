"""The demo project end to end with warehouse and ledger on Snowflake (the fakesnow emulator,
tests/fixtures/snowflake.py), reached the way an analyst's project reaches it: a dbt profile with
``type: snowflake``. dbt builds the 21 staging views in a Snowflake schema, pre-flight (SQL pass + GX) checks them
there, the plan, claims, job rows, results and sync state live there. The same project run on DuckDB gives the
same answer for every mapping type; then one new contribution and one changed email make the next run send
exactly those 2 rows (and nothing of the other 19 types), and a third run of those two types sends nothing. Every statement the runs send to Snowflake is linted as
Snowflake SQL: the emulator runs DuckDB and would accept functions Snowflake lacks.

One demo run shared by every assertion (module fixture): the whole file costs one emulator start and three runs on
Snowflake, one dbt build among them (the night's rows land in the input tables); the DuckDB answers come from the
session's shared first run (tests/fixtures/demo.py)."""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml

from connector.config import load_settings
from connector.run import run
from connector.warehouse import Warehouse
from tests.fixtures.demo import (FAST, apply_nights_changes_in_warehouse, assert_only_changed_views_checked,
                                 copy_demo_project, demo_simulator_store,
                                 sent_by_type, shared_first_run)
from tests.helpers.snowflake_lint import lint

CHANGED = ["Contributions", "Email"]  # the types apply_nights_changes_in_warehouse touches
pytestmark = [pytest.mark.snowflake, pytest.mark.slow]


def _answers(summary) -> dict[str, dict]:
    """Each mapping type's line of the summary, without VAN's job ids (two simulators number jobs apart)."""
    return {name: {k: v for k, v in dataclasses.asdict(m).items() if k != "van_job_ids"}
            for name, m in summary.mapping_types.items()}


@dataclasses.dataclass
class DemoRuns:
    project: object
    schema: str
    url: str
    first: object
    reference: object
    second: object
    third: object
    processed_in_ledger: int
    compiled_models: dict[str, str]
    statements: list[str]
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def demo_runs(snowflake_emulator, tmp_path_factory):
    import snowflake.connector.cursor as sf_cursor

    em = snowflake_emulator
    schema = em.new_schema("demo")
    project = copy_demo_project(tmp_path_factory.mktemp("sf"))
    profile = {"vanbulk": {"target": "snowflake", "outputs": {"snowflake": em.profile(schema)}}}
    (project / "dbt_project" / "profiles.yml").write_text(yaml.safe_dump(profile))

    statements: list[str] = []
    execute = sf_cursor.SnowflakeCursor.execute

    def recording(self, command, *a, **kw):  # what the connector sends from this process (dbt runs apart)
        statements.append(command)
        return execute(self, command, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(sf_cursor.SnowflakeCursor, "execute", recording)
    seconds: dict[str, float] = {}
    try:
        s = load_settings(project, env={}, poll_interval_seconds=0.05)
        assert s.warehouse_url.startswith("snowflake://"), s.warehouse_url
        started_first, t = time.time(), time.monotonic()
        first = run(s, simulator_config=FAST)
        seconds["first"] = time.monotonic() - t
        n_first = len(statements)
        with Warehouse(s.warehouse_url) as wh:  # the ledger's own count, before the next runs add to it
            processed = wh.scalar(f"select count(*) from {wh.relation('van_bulk_row_state', schema)} "
                                  "where outcome = 'processed'")

        target = Path(os.environ.get("DBT_TARGET_PATH") or "target")  # tests/conftest.py: one per worker
        target = target if target.is_absolute() else project / "dbt_project" / target
        compiled = {str(p.relative_to(target)): p.read_text() for p in (target / "compiled").rglob("*.sql")
                    if p.stat().st_mtime >= started_first - 1}  # the worker's target may hold other builds' files
        reference = shared_first_run(tmp_path_factory)[1]  # the same project's first run on DuckDB

        # the night's rows land in the input tables: the views need no rebuild (test_row_sync_demo re-seeds)
        apply_nights_changes_in_warehouse(s.warehouse_url)
        t = time.monotonic()
        second = run(s, simulator_config=FAST, skip_dbt=True)
        seconds["second"] = time.monotonic() - t
        t = time.monotonic()
        # the two types the night changed, run again: nothing to send (the other 19 sent nothing in the second
        # run already; a whole third run on the emulator cost 90 s)
        third = run(s, CHANGED, simulator_config=FAST, skip_dbt=True)
        seconds["third"] = time.monotonic() - t
        seconds["statements_first_run"] = n_first
        yield DemoRuns(project, schema, s.warehouse_url, first, reference, second, third, processed, compiled,
                       statements, seconds)
    finally:
        mp.undo()
        kinds = collections.Counter(" ".join(q.split()[:2]).lower()[:40] for q in statements)
        print(f"\nSnowflake demo: {json.dumps({k: round(v, 1) for k, v in seconds.items()})}, "
              f"{len(statements)} statements in all; most frequent: {kinds.most_common(8)}")


def test_first_run_gives_the_duckdb_answers(demo_runs):
    assert demo_runs.first.ok, demo_runs.first.render()
    assert demo_runs.reference.ok, demo_runs.reference.render()
    assert _answers(demo_runs.first) == _answers(demo_runs.reference)
    assert sum(m.sent for m in demo_runs.first.mapping_types.values()) > 50  # the demo, not an empty run


def test_ledger_and_sync_state_are_in_the_snowflake_schema(demo_runs):
    assert demo_runs.processed_in_ledger == sum(m.processed for m in demo_runs.first.mapping_types.values())
    with Warehouse(demo_runs.url) as wh, wh.connect() as c:
        tables = set(wh.ops.schema_columns(c, demo_runs.schema) or {})
    assert {"van_bulk_runs", "van_bulk_jobs", "van_bulk_row_state"} <= tables, sorted(tables)


def test_then_only_the_two_changed_rows_then_nothing(demo_runs):
    first, second, third = demo_runs.first, demo_runs.second, demo_runs.third
    assert second.ok, second.render()
    assert sent_by_type(second) == {"Contributions": 1, "Email": 1}, second.render()
    n_gifts = first.mapping_types["Contributions"].processed
    assert second.mapping_types["Contributions"].plan == {"unchanged": n_gifts, "new": 1}
    assert third.ok and sent_by_type(third) == {}, third.render()
    assert {n: set(m.plan) for n, m in third.mapping_types.items()} == {n: {"unchanged"} for n in CHANGED}
    assert_only_changed_views_checked(demo_runs.url, demo_runs.schema, first, second, third, CHANGED)

    store = demo_simulator_store(demo_runs.project)
    applied = collections.Counter(json.dumps(r["fields"], sort_keys=True) for r in store.applied("Contributions"))
    assert sum(applied.values()) == n_gifts + 1 and set(applied.values()) == {1}, applied  # every gift once
    emails = [r["fields"].get("Email") for r in store.applied("Email") if r["primaryKey"] == 100002]
    assert emails[-1] == "ben@newjob.example.com"


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_statement_sent_is_snowflake_sql(demo_runs):
    # the connector's pyformat placeholders stand for bound literals: the lint reads the SQL around them
    sent = {_PLACEHOLDER.sub("'x'", q).replace("%%", "%") for q in demo_runs.statements}
    assert len(sent) > 50
    problems = {sql[:300]: found for sql in sorted(sent) if (found := lint(sql))}
    assert not problems, json.dumps(problems, indent=1)


def test_every_compiled_dbt_model_is_snowflake_sql(demo_runs):
    """What dbt ran on the emulator for the first run (staging views, dropped-row views, monitoring models),
    linted as Snowflake."""
    compiled = demo_runs.compiled_models
    assert len(compiled) >= 43, sorted(compiled)
    problems = {name: found for name, sql in compiled.items() if (found := lint(sql))}
    assert not problems, json.dumps(problems, indent=1)
