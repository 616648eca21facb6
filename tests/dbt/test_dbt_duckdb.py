"""`dbt build` on DuckDB: 21 views, all tests pass, columns match the catalogue, values normalised."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from connector import dbtgen
from connector.catalog import load_catalog
from connector.dbt_runner import DbtError, run_dbt

from .helpers import assert_no_column_drift, assert_preflight_tests_left_to_preflight, demo_rows, views

RULES = {"required", "parent", "parent_value", "predefined_value", "format", "impossible_value", "max_length",
         "disclosure_mixed", "row_requirement"}


@pytest.fixture(scope="module")
def engine(duckdb_build):
    _, _, path, _ = duckdb_build
    eng = sa.create_engine(f"duckdb:///{path}", poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


def _rows(engine, view):
    with engine.connect() as c:
        return {r["source_row_key"]: r for r in c.execute(sa.text(f"select * from van_staging.{view}")).mappings()}


def test_build_creates_21_views_and_every_test_passes(duckdb_build, engine):
    _, result, _, seconds = duckdb_build
    assert result.success and not result.failed_nodes
    assert views(engine) == {mt.staging_view for mt in load_catalog()}
    assert not result.warned_nodes, result.warned_nodes  # the tests that warn are pre-flight's (below)
    statuses = {r["status"] for r in result.results}
    assert statuses <= {"success", "pass", "no-op"}, statuses  # no-op: exposures
    print(f"dbt build on DuckDB: {seconds:.1f}s, {len(result.results)} nodes")


def test_sync_build_leaves_the_staging_tests_to_preflight_and_they_pass(duckdb_build, engine):
    settings, result, _, _ = duckdb_build
    assert_preflight_tests_left_to_preflight(settings, result)


def test_build_reports_each_node_as_dbt_finishes_it(duckdb_build):
    """The run's dbt stage counts dbt's own node results (``--log-format json``), not only a clock."""
    from connector.dbt_runner import node_progress

    from .conftest import DUCKDB_EVENTS

    _, result, _, _ = duckdb_build
    nodes = [n for n in map(node_progress, DUCKDB_EVENTS) if n is not None]
    total = {t for _, t, _ in nodes}
    assert total == {len(result.results)}, total  # every node dbt ran, each reported once
    assert sorted(i for i, _, _ in nodes) == list(range(1, len(result.results) + 1))
    assert any(d.endswith("stg_van__activist_code") for _, _, d in nodes)
    assert "{" not in result.stdout.splitlines()[0] and "Completed" in result.stdout  # dbt's text, for errors


def test_no_column_drift(engine):
    assert_no_column_drift(engine)


def test_generated_dbt_files_match_the_catalogue():
    assert dbtgen.check() == [], "run `vanbulk catalog render-dbt` and commit the result"


def test_generated_models_are_thin_and_the_macro_builds_the_ctes(engine):
    """Each model is its config and one van_staging_view call; the CTE layering lives in macros/staging.sql."""
    catalog = load_catalog()
    for mt in catalog:
        sql = dbtgen.render_model_sql(catalog, mt)
        assert sql.count("vanbulk.van_staging_view(") == 1 and " as (" not in sql, mt.name
        assert sql.count("{'column': ") == len(mt.staging_columns) - 1, mt.name
    with engine.connect() as c:
        defs = {r[0]: r[1] for r in c.execute(sa.text(
            "select view_name, sql from duckdb_views() where schema_name = 'van_staging'"))}
    assert set(defs) == {mt.staging_view for mt in catalog}
    for name, sql in defs.items():
        # DuckDB stores the view re-serialised (upper-case keywords, "source" quoted).
        layers = [sql.lower().replace('"', "").find(f"{cte} as (") for cte in ("source", "normalized", "ranked",
                                                                              "final")]
        assert -1 not in layers and layers == sorted(layers), name


def test_normalisation_and_pass_through(engine):
    ac = _rows(engine, "stg_van__activist_code")
    assert ac["ac-002"]["DateCanvassed"] == "2026-03-07" and ac["ac-002"]["ContactTypeID"] == "2"
    assert ac["ac-002"]["ActivistCodeID"] == "4150002"  # value name -> id
    assert ac["ac-003"]["ActivistCodeID"] == "4150003" and ac["ac-003"]["DateCanvassed"] == "2026-03-08"
    assert ac["ac-004"]["DateCanvassed"] == "2026-03-09"
    assert ac["ac-bad-04"]["DateCanvassed"] == "next tuesday"  # cannot normalise: unchanged, not null
    assert ac["ac-bad-01"]["CanvassedBy"] is None and ac["ac-bad-01"]["DateCanvassed"] == "2026-03-07"
    c = _rows(engine, "stg_van__create_or_update_contact")
    assert c["c-001"]["Email"] == "mia.moreno@example.org"
    assert (c["c-001"]["ZipOrPostal"], c["c-001"]["StateOrProvince"], c["c-001"]["CellPhone"]) == (
        "627011234", "IL", "2175550101")
    assert c["c-001"]["DOB"] == "1990-04-05" and c["c-005"]["Sex"] == "F"
    assert c["c-002"]["Phone"] == "2175550102" and c["c-002"]["CountryCode"] == "US"
    assert c["c-002"]["DisplayAsEntered"] == "Y"
    for key, col, raw in [("c-bad-03", "CellPhone", "555-01"), ("c-bad-04", "ZipOrPostal", "1234"),
                          ("c-bad-05", "StateOrProvince", "Calif"), ("c-bad-02", "Email", "pat.park.example.org")]:
        assert c[key][col] == raw
    ma = _rows(engine, "stg_van__mailing_address")
    assert ma["ma-002"]["MailingDisplayAsEntered"] == "1" and ma["ma-002"]["MailingStateOrProvince"] == "MA"
    assert _rows(engine, "stg_van__contributions")["ct-001"]["Amount"] == "1250.00"
    assert _rows(engine, "stg_van__phones")["ph-004"]["Phone"] == "2175550124"


def test_duplicates_resolved_and_empty_rows_dropped(engine):
    ac = _rows(engine, "stg_van__activist_code")
    assert ac["ac-005"]["ActivistCodeID"] == "4150002"  # the later updated_at wins
    assert "ac-006" not in ac  # nothing to apply
    # ... and neither leaves the input without a trace: the dropped view names both, with the reason
    with engine.connect() as c:
        dropped = sorted(tuple(r) for r in c.execute(sa.text(
            "select source_row_key, drop_reason, duplicate_rank from van_staging_dropped.stg_van__activist_code__dropped")))
    assert dropped == [("ac-005", "superseded", 2), ("ac-006", "nothing_to_apply", 1)]


def test_demo_covers_every_mapping_type_and_rule_and_bad_rows_reach_the_view(engine):
    seen_rules = set()
    for mt in load_catalog():
        rows = demo_rows(mt)
        good = [r for r in rows if not r["expect_reject_rule"]]
        bad = [r for r in rows if r["expect_reject_rule"]]
        assert len(good) >= 3 and bad, mt.name
        staged = _rows(engine, mt.staging_view)
        for r in bad:
            assert r["expect_reject_rule"] in RULES, r
            assert r["expect_reject_column"] in mt.staging_columns, r
            assert r["source_row_key"] in staged, (mt.name, r["source_row_key"])  # pre-flight must see it
            seen_rules.add(r["expect_reject_rule"])
        assert "expect_reject_rule" not in next(iter(staged.values()))
    assert seen_rules == RULES


def test_dbt_error_names_the_failing_node(duckdb_build):
    settings, _, _, _ = duckdb_build
    with pytest.raises(DbtError) as err:
        # An input without source_row_key: the view refuses to build.
        run_dbt(settings, ["run", "--select", "stg_van__suppressions"],
                vars={"vanbulk_input__suppressions": "demo_existing_contacts"})
    assert err.value.failed_nodes == ["model.vanbulk.stg_van__suppressions"]
    assert "source_row_key" in str(err.value)
