"""Every rule, on DuckDB and PostgreSQL, from one probe view: each bad row is caught by exactly the rules it
breaks, no good row is rejected, GX agrees with the rejects table, and both engines give identical rejects."""

from __future__ import annotations

import pytest

from connector.preflight import run_preflight
from tests.preflight.probe import CASES, PROBE, expected, rows

RUN = "run-probe"

@pytest.fixture(scope="module")
def probe(env, probe_catalog):
    env.make_view(probe_catalog, PROBE, rows(probe_catalog.get(PROBE).staging_columns))
    settings = env.with_settings(split_disclosure=True)
    report = run_preflight(env.warehouse, probe_catalog, [PROBE], RUN, settings)
    rejects = env.warehouse.fetchall(
        f"select source_row_key, rule, column_name, value, message from {report.rejects_relation} "
        "where run_id = :r and mapping_type = :m", {"r": RUN, "m": PROBE})
    return env, settings, report, rejects


def test_each_row_caught_by_exactly_the_rules_it_breaks(probe):
    _, _, _, rejects = probe
    got: dict = {}
    for key, rule, column, _, _ in rejects:
        got.setdefault(key, set()).add((rule, column))
    want = {k: v for k, v in expected().items() if v}
    assert got == want


def test_no_passing_row_rejected_and_passing_sql_returns_exactly_the_good_rows(probe):
    env, _, report, _ = probe
    res = report.results[PROBE]
    good = {k for k, (_, exp) in CASES.items() if not exp}
    # split mode: passing_rows_sql has every passing row, the split SELECTs partition them
    sent = {r[0] for r in env.warehouse.fetchall(f"select source_row_key from ({res.passing_rows_sql}) p")}
    assert sent == good
    assert res.rows_checked == len(rows(["source_row_key"]))
    assert res.rows_rejected == res.rows_checked - len(good)
    assert res.passing_count == len(sent)  # what the plan takes instead of counting the rows again


def test_messages_name_row_key_column_and_rule(probe):
    _, _, _, rejects = probe
    for key, rule, column, _, message in rejects:
        assert f"(rule {rule}, class " in message  # the evidence class, named in every message
        assert message.endswith(("class van-stated)", "class impossible)", "class inferred)"))
        if key is not None:
            assert message.startswith(f"row '{key}': ")
        if rule not in ("row_requirement", "row_key"):
            assert column.split(",")[0] in message
    msgs = {(k, r): m for k, r, _, _, m in rejects}
    assert msgs[("bad-parent", "parent_required")] == (
        "row 'bad-parent': column Occupation is set but its prerequisite Employer is blank (rule parent_required, class van-stated)")
    assert msgs[("bad-quote'key", "format")].startswith("row 'bad-quote'key': column DateReceived value '2026-1-1'")


def test_gx_agrees_with_rejects_table(probe):
    _, _, report, _ = probe
    res = report.results[PROBE]
    row_outcomes = [o for o in res.outcomes if o.rows is not None]
    assert row_outcomes and all(o.gx_unexpected == o.rows for o in row_outcomes), \
        [(o.rule, o.column, o.rows, o.gx_unexpected) for o in row_outcomes if o.gx_unexpected != o.rows]
    assert all(o.gx_success == (o.rows == 0) for o in row_outcomes)
    assert not res.blocked, res.block_reasons
    assert report.data_docs_path and report.data_docs_path.endswith("index.html")


def test_disclosure_split_into_two_column_groups(probe):
    env, _, report, _ = probe
    res = report.results[PROBE]
    assert res.split_categories == ["Individual", "Organization"]
    ind, org = res.split
    assert "Employer" in ind and "OrgName" not in ind and "OrgName" in org and "Employer" not in org
    parts = [{r[0] for r in env.warehouse.fetchall(f"select source_row_key from ({sql}) p")}
             for sql in res.split_rows_sql]
    good = {k for k, (_, exp) in CASES.items() if not exp}
    assert parts[1] == {"ok-04-org"}
    assert parts[0] == good - {"ok-04-org"}  # rows without disclosure values travel with the first group
    assert [len(env.warehouse.fetchall(sql)[0]) for sql in res.split_rows_sql] == [len(ind), len(org)]


def test_without_split_the_minority_disclosure_rows_are_rejected(probe, probe_catalog):
    env, settings, _, _ = probe
    report = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-nosplit", settings.replace(split_disclosure=False))
    res = report.results[PROBE]
    assert not res.blocked and not res.split_categories and "disclosure_mixed" in res.rules_failed
    # the file maps one category: the Organization columns, blank in every row to send, are left out
    assert res.columns_left_out == ["OrgName", "OrgContact"]
    assert res.split and not {"OrgName", "OrgContact"} & set(res.split[0])
    rows = env.warehouse.fetchall(
        f"select source_row_key, column_name, message from {report.rejects_relation} "
        "where run_id = 'run-nosplit' and rule = 'disclosure_mixed'")
    # Individual rows are the majority: the one Organization-only row is rejected, the mixed row keeps
    # its own rule (disclosure_row_both), and nothing else.
    assert rows == [("ok-04-org", "OrgName, OrgContact",
                     "row 'ok-04-org': columns OrgName, OrgContact are Organization disclosure fields, but most rows "
                     "of this view carry Individual ones; VAN takes each category in its own job "
                     "(set split_disclosure to send both) (rule disclosure_mixed, class van-stated)")]
    sent = {r[0] for r in env.warehouse.fetchall(f"select source_row_key from ({res.passing_rows_sql}) p")}
    assert sent == {k for k, (_, exp) in CASES.items() if not exp} - {"ok-04-org"}
    out = {(o.rule, o.column): o for o in res.outcomes}
    assert out[("disclosure_mixed", "disclosure")].gx_unexpected == out[("disclosure_mixed", "disclosure")].rows == 1


def test_rerun_replaces_the_runs_rows(probe, probe_catalog):
    env, settings, report, rejects = probe
    run_preflight(env.warehouse, probe_catalog, [PROBE], RUN, settings, gx=False)
    again = env.warehouse.fetchall(f"select count(*) from {report.rejects_relation} where run_id = :r", {"r": RUN})
    assert again[0][0] == len(rejects)


def test_policy_block_blocks_any_reject(probe, probe_catalog):
    env, settings, _, _ = probe
    res = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-block", settings.replace(preflight_policy="block"),
                        gx=False).results[PROBE]
    assert res.blocked and res.rows_rejected > 0 and any("policy 'block'" in r for r in res.block_reasons)
    assert env.warehouse.fetchall(res.passing_rows_sql) == [] and res.split_rows_sql == []
    # every row is in the rejects table once blocked: rule rejects plus one mapping_type_blocked per good row
    rel = env.warehouse.relation("van_preflight_rejects", settings.results_schema or env.warehouse.default_schema)
    keys = env.warehouse.fetchall(f"select count(distinct source_row_key) from {rel} where run_id = 'run-block' "
                                  "and source_row_key is not null")[0][0]
    blocked = env.warehouse.fetchall(f"select count(*) from {rel} where run_id = 'run-block' "
                                     "and rule = 'mapping_type_blocked'")[0][0]
    assert keys == int(env.warehouse.scalar(f"select count(distinct source_row_key) from {res.relation} "
                                            "where trim(source_row_key) <> ''"))
    assert blocked == res.rows_blocked > 0


def test_engines_reject_identically(tmp_path, postgres_url, probe_catalog):
    """Both engines in one test (not one per parametrised run), so the comparison never depends on order."""
    import uuid

    import sqlalchemy as sa

    from connector.config import Settings
    from connector.warehouse import Warehouse
    from tests.preflight.conftest import Env, _duckdb_env

    tag = uuid.uuid4().hex[:8]
    pg = Env("postgresql", Warehouse(postgres_url),
             Settings(project_dir=tmp_path, warehouse_url=postgres_url, staging_schema=f"pf_{tag}_stg",
                      results_schema=f"pf_{tag}"))
    got = {}
    try:
        for env in (_duckdb_env(tmp_path), pg):
            env.make_view(probe_catalog, PROBE, rows(probe_catalog.get(PROBE).staging_columns))
            report = run_preflight(env.warehouse, probe_catalog, [PROBE], RUN, env.with_settings(split_disclosure=True),
                                   gx=False)
            got[env.engine] = sorted((tuple(r) for r in env.warehouse.fetchall(
                f"select source_row_key, rule, column_name, value, message from {report.rejects_relation} "
                "where run_id = :r", {"r": RUN})), key=repr)
    finally:
        with pg.warehouse.begin() as c:
            for schema in (pg.settings.staging_schema, pg.settings.results_schema):
                c.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        pg.warehouse.dispose()
    assert got["duckdb"] and got["duckdb"] == got["postgresql"]
