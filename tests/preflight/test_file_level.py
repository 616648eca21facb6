"""File-level rules on both engines: view drift, column count, missing view, database mode, permission."""

from __future__ import annotations

import pytest

from connector.preflight import run_preflight
from tests.preflight.probe import GOOD, PROBE, WIDE

ROW = {**GOOD, "source_row_key": "k1", "OrgName": None}


@pytest.fixture(scope="module")
def shapes(env, probe_catalog):
    """One checkpoint over a drifted probe view and a 51-column view."""
    cols = [c for c in probe_catalog.get(PROBE).staging_columns if c != "Rate"] + ["Extra"]
    env.make_view(probe_catalog, PROBE, [tuple(ROW.get(c) for c in cols)], columns=cols)
    wide = probe_catalog.get(WIDE).staging_columns
    env.make_view(probe_catalog, WIDE, [tuple(["w1"] + ["x"] * (len(wide) - 1))])
    return run_preflight(env.warehouse, probe_catalog, [PROBE, WIDE], "run-shapes", env.settings)


def test_drift_blocks_with_clear_error(shapes):
    res = shapes.results[PROBE]
    assert res.blocked and "columns_match_catalog" in res.rules_failed
    assert any("missing Rate" in r and "unexpected Extra" in r for r in res.block_reasons), res.block_reasons


def test_more_than_50_columns_blocks_and_gx_says_so(shapes, env):
    res = shapes.results[WIDE]
    assert res.blocked and "column_count" in res.rules_failed and res.rows_checked == 1
    assert env.warehouse.fetchall(res.passing_rows_sql) == []
    assert shapes.gx_success is False


def test_missing_view_blocks(env, probe_catalog):
    res = run_preflight(env.warehouse, probe_catalog, ["ActivistCode"], "run-missing",
                        env.with_settings(staging_schema=env.settings.staging_schema + "_none"), gx=False)
    r = res.results["ActivistCode"]
    assert r.blocked and r.rules_failed == ["missing_view"]


@pytest.fixture(scope="module")
def good_probe(env, probe_catalog):
    env.make_view(probe_catalog, PROBE, [tuple(ROW.get(c) for c in probe_catalog.get(PROBE).staging_columns)])


@pytest.mark.parametrize("changes, available, rule", [
    ({"database_mode": 0}, None, "database_mode"),
    ({}, {"ActivistCode"}, "not_permitted"),
    ({"permitted_mapping_types": ("ActivistCode",)}, None, "not_permitted"),
])
def test_unavailable_mapping_type_blocks(good_probe, env, probe_catalog, changes, available, rule):
    res = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-avail", env.with_settings(**changes),
                        available_mapping_types=available, gx=False).results[PROBE]
    assert res.blocked and res.rules_failed == [rule] and res.rows_rejected == 0
    assert env.warehouse.fetchall(res.passing_rows_sql) == []


def test_available_and_permitted_by_display_name(good_probe, env, probe_catalog):
    res = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-ok", env.with_settings(
        permitted_mapping_types=("preflight probe",)), available_mapping_types={PROBE}, gx=False).results[PROBE]
    assert not res.blocked and [r[0] for r in env.warehouse.fetchall(res.passing_rows_sql)] == ["k1"]


@pytest.mark.parametrize("static, rejected", [("12", True), ("77", False), (None, False)])
def test_child_of_a_static_parent(good_probe, env, probe_catalog, static, rejected):
    statics = {PROBE: {"CommitteeID": static}} if static else None
    report = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-static", env.settings,
                           static_values=statics, gx=False)
    rows = env.warehouse.fetchall(f"select source_row_key, rule, column_name, message from {report.rejects_relation} "
                                  "where run_id = 'run-static'")
    if rejected:
        assert rows == [("k1", "parent_value", "Memo", "row 'k1': column Memo is set but its parent CommitteeID is "
                                                      "the static value '12', not one of 77 (rule parent_value)")]
    else:
        assert rows == []
