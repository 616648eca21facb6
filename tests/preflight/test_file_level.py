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


def _rejects(env, run_id, mt):
    return env.warehouse.fetchall(
        "select source_row_key, rule, column_name, message from van_preflight_rejects "
        "where run_id = :r and mapping_type = :m order by 1", {"r": run_id, "m": mt}) if env.engine == "duckdb" else \
        env.warehouse.fetchall(
            f"select source_row_key, rule, column_name, message from {env.settings.results_schema}.van_preflight_rejects "
            "where run_id = :r and mapping_type = :m order by 1", {"r": run_id, "m": mt})


def test_drift_blocks_with_clear_error(shapes, env):
    res = shapes.results[PROBE]
    assert res.blocked and "columns_match_catalog" in res.rules_failed
    assert any("missing Rate" in r and "unexpected Extra" in r for r in res.block_reasons), res.block_reasons
    # the drifted view's row is still accounted for: one reject saying why nothing was sent
    [(key, rule, col, msg)] = _rejects(env, "run-shapes", PROBE)
    assert (key, rule, col, res.rows_blocked, res.rows_rejected) == ("k1", "mapping_type_blocked", None, 1, 1)
    assert msg.startswith(f"row 'k1': not sent because mapping type {PROBE} is blocked: view columns differ")
    assert msg.endswith("(rule mapping_type_blocked)")


def test_more_than_50_columns_blocks_and_gx_says_so(shapes, env):
    res = shapes.results[WIDE]
    assert res.blocked and "column_count" in res.rules_failed and res.rows_checked == 1
    assert env.warehouse.fetchall(res.passing_rows_sql) == []
    assert shapes.gx_success is False
    assert [r[:2] for r in _rejects(env, "run-shapes", WIDE)] == [("w1", "mapping_type_blocked")]


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
    # the view's one row broke no row rule, yet it is recorded: blocked, with the reason in the message
    assert res.blocked and res.rules_failed == [rule] and res.rows_rejected == res.rows_blocked == 1
    assert env.warehouse.fetchall(res.passing_rows_sql) == []
    [(key, r, col, msg)] = _rejects(env, "run-avail", PROBE)
    assert (key, r, col) == ("k1", "mapping_type_blocked", None)
    want = "is not available in database mode 0" if rule == "database_mode" else "is not permitted for"
    assert msg.startswith(f"row 'k1': not sent because mapping type {PROBE} is blocked: {PROBE} {want}"), msg


def test_missing_static_value_rejects_every_row(good_probe, env, probe_catalog):
    """A required static-only field nobody gave: VAN would refuse the job, so pre-flight records each row."""
    res = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-nostatic", env.settings,
                        static_values={}, gx=False).results[PROBE]
    assert res.blocked and "missing_static_value" in res.rules_failed
    [(key, r, col, msg)] = _rejects(env, "run-nostatic", PROBE)
    assert (key, r, col) == ("k1", "missing_static_value", "CommitteeID")
    assert "required field CommitteeID cannot come from a column and has no static value" in msg
    ok = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-nostatic", env.settings,
                       static_values={PROBE: {"CommitteeID": "77"}}, gx=False).results[PROBE]
    assert not ok.blocked and _rejects(env, "run-nostatic", PROBE) == []  # re-check replaces the rows


def test_available_and_permitted_by_display_name(good_probe, env, probe_catalog):
    res = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-ok", env.with_settings(
        permitted_mapping_types=("preflight probe",)), available_mapping_types={PROBE}, gx=False).results[PROBE]
    assert not res.blocked and [r[0] for r in env.warehouse.fetchall(
        f"select source_row_key from ({res.passing_rows_sql}) p")] == ["k1"]


@pytest.mark.parametrize("static, rejected", [("12", True), ("77", False), (None, False)])
def test_child_of_a_static_parent(good_probe, env, probe_catalog, static, rejected):
    statics = {PROBE: {"CommitteeID": static}} if static else None
    report = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-static", env.settings,
                           static_values=statics, gx=False)
    rows = env.warehouse.fetchall(f"select source_row_key, rule, column_name, message from {report.rejects_relation} "
                                  "where run_id = 'run-static'")
    if rejected:
        assert rows == [("k1", "parent_value", "Memo", "row 'k1': column Memo is set but its parent CommitteeID is "
                                                      "the static value '12', not one of 77 (rule parent_value, class van-stated)")]
    else:
        assert rows == []
