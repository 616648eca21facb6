"""The real catalogue: every mapping type's suite loads in GX and every rule query runs on both engines."""

from __future__ import annotations

from connector.catalog import load_catalog
from connector.preflight import run_preflight
from connector.preflight.runner import gx_root
from connector.preflight.suites import drifted_suites


def test_every_mapping_type_runs_on_empty_views(env):
    catalog = load_catalog()
    for mt in catalog:
        env.make_view(catalog, mt.name, [])
    settings = env.with_settings(database_mode=1)
    report = run_preflight(env.warehouse, catalog, catalog.names, "run-catalog", settings)
    # GX re-saves suites while it runs; the files must stay exactly as generated (and committed), so that
    # a run never dirties expectations/ in the user's repository.
    assert drifted_suites(catalog, gx_root(settings)) == {}
    assert report.gx_success is not None
    for name, res in report.results.items():
        assert res.rows_checked == 0 and res.rows_rejected == 0, name
        unavailable = {"database_mode", "not_permitted", "column_count"}
        assert set(res.rules_failed) <= unavailable, (name, res.rules_failed, res.block_reasons)
        # every rule ran in SQL and GX found the same (zero) rows
        assert all(o.gx_unexpected == 0 for o in res.outcomes if o.rows is not None), name
