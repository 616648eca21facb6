"""Keys with CR, LF, tabs, unicode and padding through the real pre-flight and the HTTP simulator; a POST
answered 500. Checked from the simulator's applied rows and from the ledger: keys round-trip exactly, no
made-up key, every key in one outcome, and one failing POST does not stop the other mapping types."""

from __future__ import annotations

import collections

from connector.catalog import load_catalog
from connector.config import Settings
from connector.run import run
from connector.simulator import SimulatorConfig
from connector.warehouse import Warehouse
from tests.connector.helpers import make_staging

FAST = {"pending_seconds": 0.0, "seconds_per_1000_rows": 0.0, "min_processing_seconds": 0.0}
CODE = load_catalog().allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
# the simulator's contacts are VanIDs 100001-100005
KEYS = {'plain "quote", comma': "100001", "line\nbreak": "100002", "carriage\rreturn": "100003",
        "tab\tinside": "100004", "é😀 ünïcode": "100005", " padded": "100001", "\r\n": "100002"}


def _settings(tmp_path):
    return Settings(project_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path}/w.duckdb", poll_interval_seconds=0.05)


def _q(s, sql, **params):
    with Warehouse(s.warehouse_url) as wh:
        return [tuple(r) for r in wh.fetchall(sql, params)]


def test_odd_keys_round_trip_and_are_accounted(tmp_path):
    s = _settings(tmp_path)
    make_staging(s.warehouse_url, activist_rows=[(k, v, CODE) for k, v in KEYS.items()])
    summary = run(s, ["ActivistCode"], skip_dbt=True, simulator_config=SimulatorConfig.from_dict(FAST))
    assert summary.ok, summary.render()
    results = dict(_q(s, "select source_row_key, row_status from van_bulk_row_results"))
    rejected = dict(_q(s, "select source_row_key, rule from van_preflight_rejects"))
    assert rejected == {" padded": "row_key", "\r\n": "row_key"}
    assert results == {k: "processed" for k in KEYS if k not in rejected}  # exact keys, none made up
    assert _q(s, "select count(*) from van_bulk_row_state where outcome = 'processed'") == [(len(results),)]
    # at VAN: each contact got the code once
    from connector.simulator.store import Store

    applied = collections.Counter(r["primaryKey"] for r in Store(tmp_path / ".vanbulk" / "simulator").applied())
    assert sorted(applied) == sorted(int(KEYS[k]) for k in results) and set(applied.values()) == {1}
    # the next run sends nothing: every odd key matched its row state
    again = run(s, ["ActivistCode"], skip_dbt=True, simulator_config=SimulatorConfig.from_dict(FAST))
    assert again.mapping_types["ActivistCode"].plan == {"unchanged": len(results)}, again.render()


def test_a_post_answered_500_is_ambiguous_and_the_run_goes_on(tmp_path):
    s = _settings(tmp_path)
    make_staging(s.warehouse_url)
    cfg = SimulatorConfig.from_dict({**FAST, "faults": {"rules": [
        {"path": "*/bulkImportJobs", "method": "POST", "kind": "status", "status": 500, "count": 1}]}})
    summary = run(s, ["ActivistCode", "CreateOrUpdateContact"], skip_dbt=True, simulator_config=cfg)
    assert summary.ok, summary.render()
    ac, co = summary.mapping_types["ActivistCode"], summary.mapping_types["CreateOrUpdateContact"]
    assert ac.sent == 0 and co.processed == 3  # the other mapping type was sent and processed
    assert any("may or may not have reached VAN" in m for m in summary.messages)
    assert _q(s, "select mapping_types, local_state from van_bulk_jobs order by created_at")[0] == (
        "ActivistCode", "ambiguous")
    # the next run does not send the ambiguous rows again; resolving it (VAN has no such job) does
    again = run(s, ["ActivistCode", "CreateOrUpdateContact"], skip_dbt=True,
                simulator_config=SimulatorConfig.from_dict(FAST))
    assert set(again.mapping_types["ActivistCode"].plan) == {"ambiguous"} and again.mapping_types["ActivistCode"].sent == 0
    from connector.api import resolve

    [(job_key,)] = _q(s, "select job_key from van_bulk_jobs where local_state = 'ambiguous'")
    resolve(s, job_key, not_at_van=True)
    third = run(s, ["ActivistCode", "CreateOrUpdateContact"], skip_dbt=True,
                simulator_config=SimulatorConfig.from_dict(FAST))
    assert third.mapping_types["ActivistCode"].plan.get("retry") == 4 and third.mapping_types["ActivistCode"].processed == 3


def test_a_refused_result_link_is_fetched_again_and_never_stops_the_others(tmp_path):
    s = _settings(tmp_path)
    make_staging(s.warehouse_url)
    once = SimulatorConfig.from_dict({**FAST, "faults": {"rules": [
        {"path": "/resultFiles/*", "method": "GET", "kind": "status", "status": 403, "count": 1}]}})
    first = run(s, ["ActivistCode", "CreateOrUpdateContact"], skip_dbt=True, preflight=None, simulator_config=once)
    assert first.ok and first.mapping_types["CreateOrUpdateContact"].processed == 3  # fresh links: loaded
    assert {st for (st,) in _q(s, "select local_state from van_bulk_jobs")} == {"results_loaded"}
    # links refused for good: the job stays `completed`, the other job is loaded, the next run collects it
    always = SimulatorConfig.from_dict({**FAST, "faults": {"rules": [
        {"path": "/resultFiles/*", "method": "GET", "kind": "status", "status": 403, "count": 2}]}})
    make_staging(s.warehouse_url, contact_rows=[("c-9", "100005", "Edsger", "Dijkstra", "ed@example.org")])
    second = run(s, ["CreateOrUpdateContact"], skip_dbt=True, simulator_config=always)
    assert second.ok and any("results not loaded" in m for m in second.messages), second.render()
    assert _q(s, "select local_state from van_bulk_jobs where run_id = :r", r=second.run_id) == [("completed",)]
    third = run(s, ["CreateOrUpdateContact"], skip_dbt=True, simulator_config=SimulatorConfig.from_dict(FAST))
    assert _q(s, "select local_state from van_bulk_jobs where run_id = :r", r=second.run_id) == [("results_loaded",)]
    assert third.mapping_types["CreateOrUpdateContact"].plan.get("unchanged") == 1  # c-9 collected, not resent
