"""Every source row ends accounted for: blocked views, jobs VAN refuses at POST, static values nobody gave,
static values from vanbulk.yml (and the columns they rule out), on DuckDB and PostgreSQL.

Views are hand-made; pre-flight is the real one without the GX checkpoint (same rejects, less time), or the
pass-through when a test needs VAN itself to refuse."""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.api import retry_failed
from connector.catalog import load_catalog
from connector.config import ConfigError, Settings, load_settings, merge_static_values
from connector.run import resolve_static_values, run
from connector.preflight import run_preflight
from connector.preflight.rejects import ensure_table
from connector.simulator import SimulatorConfig
from connector.warehouse import Warehouse
from tests.connector.helpers import passthrough_preflight

FAST = SimulatorConfig(pending_seconds=0.0, seconds_per_1000_rows=0.0, min_processing_seconds=0.0)
NO_GX = functools.partial(run_preflight, gx=False)
CAT = load_catalog()


def make_view(url: str, mapping_type: str, rows: list[dict], schema: str = "van_staging") -> None:
    """A text table + the staging view over it, with exactly the catalogue's staging columns."""
    mt = CAT.get(mapping_type)
    cols, src = mt.staging_columns, f"{schema}_src"
    with Warehouse(url) as wh:
        q = wh.quote
        for s in (schema, src):
            wh.execute(f"create schema if not exists {q(s)}")
        wh.execute(f"drop view if exists {q(schema)}.{q(mt.staging_view)}")
        wh.execute(f"drop table if exists {q(src)}.{q(mt.staging_view)}")
        wh.execute(f"create table {q(src)}.{q(mt.staging_view)} ({', '.join(q(c) + ' text' for c in cols)})")
        wh.insert_rows(mt.staging_view, cols, [[r.get(c) for c in cols] for r in rows], schema=src)
        wh.execute(f"create view {q(schema)}.{q(mt.staging_view)} as select {', '.join(q(c) for c in cols)} "
                   f"from {q(src)}.{q(mt.staging_view)}")


def settings_for(tmp_path, **kw) -> Settings:
    return Settings(project_dir=tmp_path, warehouse_url=kw.pop("warehouse_url", f"duckdb:///{tmp_path}/w.duckdb"),
                    poll_interval_seconds=0.05, **kw)


def fetch(s: Settings, sql: str, **params) -> list[tuple]:
    with Warehouse(s.warehouse_url) as wh:
        return [tuple(r) for r in wh.fetchall(sql, params)]


def rel(s: Settings, name: str) -> str:
    return f'"{s.results_schema}".{name}' if s.results_schema else name


def assert_accounted(s: Settings, run_id: str, mapping_types, pending: int = 0) -> dict[str, tuple[int, int]]:
    """Distinct keys of each view == keys rejected + keys with a result for the run; no key in both."""
    out = {}
    with Warehouse(s.warehouse_url) as wh:  # the pass-through pre-flight writes no rejects table
        ensure_table(wh, s.results_schema or wh.default_schema)
    for name in mapping_types:
        mt = CAT.get(name)
        view = f'"{s.staging_schema}"."{mt.staging_view}"'
        keys = {k for (k,) in fetch(s, f"select distinct source_row_key from {view}")}
        rejected = {k for (k,) in fetch(s, f"select distinct source_row_key from {rel(s, 'van_preflight_rejects')} "
                                           "where run_id = :r and mapping_type = :m", r=run_id, m=name)}
        results = {k for (k,) in fetch(s, f"select distinct source_row_key from {rel(s, 'van_bulk_row_results')} "
                                          "where run_id = :r and mapping_type = :m", r=run_id, m=name)}
        assert not rejected & results, (name, rejected & results)
        assert len(keys) == len(rejected) + len(results) + pending, (name, keys, rejected, results)
        out[name] = (len(rejected), len(results))
    return out


# -- static values: settings ----------------------------------------------------------------------------
def test_static_values_from_project_file_env_and_cli(tmp_path):
    (tmp_path / "vanbulk.yml").write_text("static_values:\n  ApplyContactCustomFields:\n    CustomFieldGroupID: 501\n")
    s = load_settings(tmp_path, env={})
    assert s.static_values == {"ApplyContactCustomFields": {"CustomFieldGroupID": "501"}}  # YAML int -> text
    s = load_settings(tmp_path, env={"VANBULK_STATIC_VALUES": '{"ApplyContactCustomFields": {"CustomFieldGroupID": "502"}}'})
    assert s.static_values["ApplyContactCustomFields"]["CustomFieldGroupID"] == "502"  # env beats file
    # CLI --static wins per field; names resolve to the catalogue's (display name accepted)
    merged = resolve_static_values(CAT, {"Apply Custom Contact Fields": {"CustomFieldGroupID": "501"}},
                                   {"ApplyContactCustomFields": {"CustomFieldGroupID": "502"}})
    assert merged == {"ApplyContactCustomFields": {"CustomFieldGroupID": "502"}}
    assert merge_static_values(None, {"A": {"x": 1}}) == {"A": {"x": "1"}}
    with pytest.raises(ConfigError):
        load_settings(tmp_path, env={"VANBULK_STATIC_VALUES": "not json"})
    with pytest.raises(ConfigError):
        resolve_static_values(CAT, {"NoSuchMappingType": {"X": "1"}})


CF_ROWS = [
    {"source_row_key": "cf-1", "VanID": "100001", "CF103": "Driving"},
    {"source_row_key": "cf-2", "VanID": "100002", "CF102": "2026-02-01"},
    {"source_row_key": "cf-3", "VanID": "100003", "CF201": "1"},  # group 502's field: not under 501
]


def test_static_value_from_settings_drops_columns_it_rules_out(tmp_path):
    s = settings_for(tmp_path, static_values={"ApplyContactCustomFields": {"CustomFieldGroupID": "501"}})
    make_view(s.warehouse_url, "ApplyContactCustomFields", CF_ROWS)
    summary = run(s, ["ApplyContactCustomFields"], skip_dbt=True, preflight=NO_GX, simulator_config=FAST)
    m = summary.mapping_types["ApplyContactCustomFields"]
    assert (m.rejected, m.sent, m.processed, m.refused) == (1, 2, 2, 0), summary.render()
    assert fetch(s, "select source_row_key, rule, column_name from van_preflight_rejects where run_id = :r",
                 r=summary.run_id) == [("cf-3", "parent_value", "CF201")]
    [job] = sim_jobs(tmp_path)
    request = job["request"]
    assert "CF201" not in [c["name"] for c in request["file"]["columns"]]  # VAN would refuse the job
    fvm = request["actions"][0]["mappingTypes"][0]["fieldValueMappings"]
    assert {"fieldName": "CustomFieldGroupID", "staticValue": "501"} in fvm
    assert "CF201" not in {f["fieldName"] for f in fvm}
    assert_accounted(s, summary.run_id, ["ApplyContactCustomFields"])


def test_missing_static_value_rejects_every_row_before_sending(tmp_path):
    s = settings_for(tmp_path)
    make_view(s.warehouse_url, "ApplyContactCustomFields", CF_ROWS)
    summary = run(s, ["ApplyContactCustomFields"], skip_dbt=True, preflight=NO_GX, simulator_config=FAST)
    m = summary.mapping_types["ApplyContactCustomFields"]
    assert m.blocked and m.rejected == 3 and m.sent == 0 and not sim_jobs(tmp_path)
    rows = fetch(s, "select source_row_key, rule, column_name, message from van_preflight_rejects "
                    "where run_id = :r and rule = 'missing_static_value' order by 1", r=summary.run_id)
    # without a static parent no row rule applies to CF201 either: all three rows carry the block's reason
    assert [r[:3] for r in rows] == [(k, "missing_static_value", "CustomFieldGroupID") for k in ("cf-1", "cf-2", "cf-3")]
    assert rows[0][3].startswith("row 'cf-1': not sent because mapping type ApplyContactCustomFields is blocked: "
                                 "required field CustomFieldGroupID cannot come from a column")
    assert any("ApplyContactCustomFields: blocked" in line for line in summary.messages)
    assert_accounted(s, summary.run_id, ["ApplyContactCustomFields"])


# -- blocked by permission, refused by VAN ----------------------------------------------------------------
SUP_ROWS = [{"source_row_key": f"sup-{i}", "VanID": str(100000 + i), "SuppressionID": "1"} for i in (1, 2, 3)]
AC_ROWS = [{"source_row_key": f"ac-{i}", "VanID": str(100000 + i), "ActivistCodeID": None} for i in (1, 2)]


def _ac_rows():
    code = CAT.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    return [{**r, "ActivistCodeID": code} for r in AC_ROWS]


def sim_jobs(tmp_path) -> list[dict]:
    db = Path(tmp_path) / ".vanbulk" / "simulator" / "simulator.sqlite3"
    if not db.exists():
        return []
    with sqlite3.connect(db) as c:
        return [{"id": i, "request": json.loads(r)} for i, r in c.execute("select id, request from jobs order by id")]


def test_refused_at_post_rows_are_recorded_and_retried(tmp_path):
    """Pass-through pre-flight lets Suppressions reach VAN, which answers 403: the rows become 'refused'."""
    s = settings_for(tmp_path)
    make_view(s.warehouse_url, "Suppressions", SUP_ROWS)
    make_view(s.warehouse_url, "ActivistCode", _ac_rows())
    summary = run(s, ["Suppressions", "ActivistCode"], skip_dbt=True, preflight=passthrough_preflight,
                  simulator_config=FAST)
    sup, ac = summary.mapping_types["Suppressions"], summary.mapping_types["ActivistCode"]
    assert (sup.sent, sup.refused, sup.processed) == (0, 3, 0) and (ac.processed, ac.refused) == (2, 0)
    rows = fetch(s, "select source_row_key, row_status, error_category, first_error_message, van_job_id "
                    "from van_bulk_row_results where mapping_type = 'Suppressions' order by 1")
    assert [r[:3] for r in rows] == [(f"sup-{i}", "refused", "refused") for i in (1, 2, 3)]
    assert all("FORBIDDEN" in r[3] and s.api_key is None and r[4] is None for r in rows)
    assert fetch(s, "select local_state from van_bulk_jobs where mapping_types = 'Suppressions'") == [("submit_failed",)]
    assert fetch(s, "select count(*) from van_bulk_row_latest where row_status = 'refused'") == [(3,)]
    assert_accounted(s, summary.run_id, ["Suppressions", "ActivistCode"])
    # retry-failed resends refused rows (VAN imported nothing); still refused, recorded under the new run
    again = retry_failed(s, summary.run_id, simulator_config=FAST, preflight=passthrough_preflight)
    assert again.mapping_types["Suppressions"].refused == 3 and "ActivistCode" not in again.mapping_types
    # and a permitted key takes them
    ok = retry_failed(s, summary.run_id, preflight=passthrough_preflight, simulator_config=SimulatorConfig.from_dict(
        {**{k: 0.0 for k in ("pending_seconds", "seconds_per_1000_rows", "min_processing_seconds")},
         "api_keys": [{"key": "00000000-0000-4000-8000-000000000000", "application_name": "vanbulk-demo",
                       "permissions": ["Suppressions"]}]}))
    assert ok.mapping_types["Suppressions"].processed == 3
    assert fetch(s, "select count(*) from van_bulk_row_latest where mapping_type = 'Suppressions' "
                    "and row_status = 'processed'") == [(3,)]


@pytest.fixture
def pg_settings(tmp_path, postgres_url):
    tag = uuid.uuid4().hex[:8]
    s = settings_for(tmp_path, warehouse_url=postgres_url, staging_schema=f"acc_{tag}_stg",
                     results_schema=f"acc_{tag}")
    yield s
    with Warehouse(postgres_url) as wh:
        for schema in (s.staging_schema, s.staging_schema + "_src", s.results_schema):
            wh.execute(f'drop schema if exists "{schema}" cascade')


def test_blocked_by_permission_is_accounted_on_postgresql(pg_settings):
    s = pg_settings
    make_view(s.warehouse_url, "Suppressions", SUP_ROWS + [{"source_row_key": "sup-bad", "VanID": "no-id",
                                                            "SuppressionID": "99"}], schema=s.staging_schema)
    make_view(s.warehouse_url, "ActivistCode", _ac_rows(), schema=s.staging_schema)
    summary = run(s, ["Suppressions", "ActivistCode"], skip_dbt=True, preflight=NO_GX, simulator_config=FAST)
    sup = summary.mapping_types["Suppressions"]
    assert sup.blocked and sup.rows_checked == sup.rejected == 4 and sup.sent == 0
    rows = fetch(s, f"select source_row_key, rule, message from {rel(s, 'van_preflight_rejects')} "
                    "where run_id = :r and mapping_type = 'Suppressions' order by 1, 2", r=summary.run_id)
    blocked = [r for r in rows if r[1] == "mapping_type_blocked"]
    assert [r[0] for r in blocked] == ["sup-1", "sup-2", "sup-3"]  # sup-bad has its own row-rule reject
    assert blocked[0][2].startswith("row 'sup-1': not sent because mapping type Suppressions is blocked: "
                                    "Suppressions is not permitted for the API key")
    assert any(r[0] == "sup-bad" and r[1] != "mapping_type_blocked" for r in rows)
    assert "Suppressions: blocked" in summary.render() and "recorded in van_preflight_rejects" in summary.render()
    counts = assert_accounted(s, summary.run_id, ["Suppressions", "ActivistCode"])
    assert counts == {"Suppressions": (4, 0), "ActivistCode": (0, 2)}


def test_a_job_van_failed_keeps_vans_status_and_errors(tmp_path):
    """Issue 22 #1: a job that ended `Failed` kept van_status 'Pending' beside local_state 'failed', errors_json
    empty. Every VAN-side fact of it is in the ledger now, and its rows are failed with VAN's reason."""
    s = settings_for(tmp_path)
    make_view(s.warehouse_url, "ActivistCode", _ac_rows())
    failing = SimulatorConfig.from_dict({"pending_seconds": 0.0, "seconds_per_1000_rows": 0.0,
                                         "min_processing_seconds": 0.0, "faults": {"fail_jobs": 1}})
    summary = run(s, ["ActivistCode"], skip_dbt=True, preflight=passthrough_preflight, simulator_config=failing)
    [(van_status, local_state, errors_json)] = fetch(s, "select van_status, local_state, errors_json from van_bulk_jobs")
    assert (van_status, local_state) == ("Failed", "failed")
    errors = json.loads(errors_json)
    assert errors and all(e.get("code") and e.get("text") for e in errors), errors
    reasons = fetch(s, "select distinct row_status, error_category, first_error_message from van_bulk_row_results")
    assert [(r[0], r[1]) for r in reasons] == [("failed", "job_failed")] and errors[0]["code"] in reasons[0][2]
    assert summary.mapping_types["ActivistCode"].failed == len(_ac_rows())


def test_full_refresh_resends_what_it_says_and_the_columns_add_up(tmp_path):
    """Issue 22 #6: `--full-refresh` resent nothing ("identical content already in job ...; not resubmitted"): the
    content guard protects against crashes, not against an explicit refresh of rows VAN already processed."""
    s = settings_for(tmp_path)
    rows = [{"source_row_key": f"em-{i}", "VanID": f"10000{i}", "Email": f"p{i}@example.org"} for i in (1, 2, 3)]
    make_view(s.warehouse_url, "Email", rows)
    first = run(s, ["Email"], skip_dbt=True, preflight=passthrough_preflight, simulator_config=FAST)
    assert first.mapping_types["Email"].processed == 3
    again = run(s, ["Email"], skip_dbt=True, preflight=passthrough_preflight, simulator_config=FAST)
    assert again.mapping_types["Email"].sent == 0 and again.mapping_types["Email"].unchanged == 3
    refresh = run(s, ["Email"], skip_dbt=True, preflight=passthrough_preflight, simulator_config=FAST,
                  full_refresh=True)
    em = refresh.mapping_types["Email"]
    assert (em.plan, em.sent, em.processed, em.unchanged) == ({"refresh": 3}, 3, 3, 0), refresh.render()
    assert not [m for m in refresh.messages if "identical content" in m]
