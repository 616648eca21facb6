"""The demo project as `make demo` runs it (dbt seeds + views, GX pre-flight, vanbulk.yml, all 21 mapping types,
embedded simulator): every staging row ends in exactly one of van_preflight_rejects or van_bulk_row_results."""

from __future__ import annotations

import pytest

from connector.catalog import load_catalog
from connector.warehouse import Warehouse


@pytest.mark.slow
def test_demo_run_accounts_for_every_row(demo_after_first_run):
    _, s, summary = demo_after_first_run  # `make demo`'s run, shared (tests/fixtures/demo.py)
    assert s.static_values == {"ApplyContactCustomFields": {"CustomFieldGroupID": "501"}}
    assert summary.ok, summary.render()
    catalog = load_catalog()
    assert len(summary.mapping_types) == 21
    with Warehouse(s.warehouse_url) as wh:
        for name, m in summary.mapping_types.items():
            view = wh.relation(catalog.get(name).staging_view, s.staging_schema)
            keys = {r[0] for r in wh.fetchall(f"select distinct source_row_key from {view}")}
            rejected = {r[0] for r in wh.fetchall(
                "select distinct source_row_key from van_preflight_rejects where run_id = :r and mapping_type = :m",
                {"r": summary.run_id, "m": name})}
            results = {r[0] for r in wh.fetchall(
                "select distinct source_row_key from van_bulk_row_results where run_id = :r and mapping_type = :m",
                {"r": summary.run_id, "m": name})}
            assert keys and not rejected & results, (name, rejected & results)
            # every input row of the seed: in the view, or dropped by it with a recorded reason
            seed = wh.relation(f"demo_{catalog.get(name).staging_view.removeprefix('stg_van__')}", "van_input")
            n_input = wh.scalar(f"select count(*) from {seed}")
            n_dropped = wh.scalar("select count(*) from van_preflight_dropped where run_id = :r and mapping_type = :m",
                                  {"r": summary.run_id, "m": name})
            assert n_input == m.rows_checked + n_dropped and m.dropped == n_dropped, (name, n_input, n_dropped)
            assert len(keys) == len(rejected) + len(results) + m.pending, (name, keys - rejected - results)
            assert m.rows_checked == m.rejected + m.sent, name
            assert m.refused == 0 and m.pending == 0, (name, summary.messages)  # vanbulk.yml avoids refusals
        # every row that passed pre-flight is one VAN accepts: the demo's existing contacts, contributions and
        # activist codes exist on the VAN side, and pre-flight and VAN agree on formats
        not_processed = wh.fetchall("select mapping_type, source_row_key, row_status, first_error_message "
                                    "from van_bulk_row_results where run_id = :r and row_status <> 'processed'",
                                    {"r": summary.run_id})
        assert not_processed == [], not_processed
        sup = summary.mapping_types["Suppressions"]
        assert sup.blocked and sup.rejected == sup.rows_checked > 0
        assert {r[0] for r in wh.fetchall("select distinct rule from van_preflight_rejects where run_id = :r and "
                                          "mapping_type = 'Suppressions'", {"r": summary.run_id})} >= {"mapping_type_blocked"}
        # CF201 (group 502) is never mapped under the static group 501; its one demo row was rejected
        assert wh.fetchall("select rule from van_preflight_rejects where run_id = :r and source_row_key = 'cf-bad-03'",
                           {"r": summary.run_id}) == [("parent_value",)]
    assert summary.mapping_types["ApplyContactCustomFields"].processed > 0
    assert any(line.startswith("Suppressions: blocked (Suppressions is not permitted") for line in summary.messages)
