"""A separate dbt project installs vanbulk via packages.yml, points Apply Activist Code at its own model."""

from __future__ import annotations

import sqlalchemy as sa

from connector.catalog import load_catalog
from connector.dbt_runner import build, run_dbt

from .conftest import REPO, duckdb_settings
from .helpers import view_columns, views


def test_analyst_project_builds_its_activist_code_view(tmp_path):
    settings = duckdb_settings(tmp_path, "analyst.duckdb", dbt_project_dir=REPO / "examples" / "analyst_project")
    run_dbt(settings, ["deps"])
    result = build(settings)
    assert result.success and not result.failed_nodes and not result.warned_nodes
    eng = sa.create_engine(f"duckdb:///{tmp_path / 'analyst.duckdb'}", poolclass=sa.pool.NullPool)
    try:
        assert views(eng) == {"stg_van__activist_code"}  # the other 20 are disabled by var
        cols = [c for c, _ in view_columns(eng)["stg_van__activist_code"]]
        assert cols == load_catalog().get("ActivistCode").staging_columns
        with eng.connect() as c:
            rows = c.execute(sa.text(
                'select source_row_key, "VanID", "ActivistCodeID", "DateCanvassed" '
                "from van_staging.stg_van__activist_code order by 1")).all()
            # No demo seeds in the analyst's warehouse.
            assert c.execute(sa.text("select count(*) from information_schema.tables "
                                     "where table_schema = 'van_input'")).scalar() == 0
    finally:
        eng.dispose()
    assert [tuple(r) for r in rows] == [
        ("V-1001", "100001", "4150002", "2026-03-01"),
        ("V-1002", "100002", "4150004", "2026-03-02"),
        ("V-1003", "100003", "4150001", None),
    ]
