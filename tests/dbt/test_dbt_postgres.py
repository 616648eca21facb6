"""The same `dbt build` on PostgreSQL (a throwaway database, since the staging schema name is fixed)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connector.catalog import load_catalog

from .helpers import assert_no_column_drift, assert_preflight_tests_left_to_preflight, views

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def engine(pg_build):
    _, _, url, _ = pg_build
    eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


def test_build_on_postgres_creates_21_views_and_tests_pass(pg_build, engine):
    _, result, _, seconds = pg_build
    assert result.success and not result.failed_nodes
    assert not result.warned_nodes, result.warned_nodes  # the tests that warn are pre-flight's (below)
    assert views(engine) == {mt.staging_view for mt in load_catalog()}
    with engine.connect() as c:
        seeds = c.execute(sa.text("select count(*) from information_schema.tables where table_schema = 'van_input'"))
        assert seeds.scalar() == 23
    print(f"dbt build on PostgreSQL: {seconds:.1f}s, {len(result.results)} nodes")


def test_sync_build_leaves_the_staging_tests_to_preflight_and_they_pass_on_postgres(pg_build, engine):
    settings, result, _, _ = pg_build
    assert_preflight_tests_left_to_preflight(settings, result)


def test_no_column_drift_on_postgres(engine):
    assert_no_column_drift(engine)


def test_postgres_rows_equal_duckdb_rows(engine, duckdb_build):
    """Same SQL, same canonical strings on both engines (dedup tie-breaks included)."""
    _, _, path, _ = duckdb_build
    duck = sa.create_engine(f"duckdb:///{path}", poolclass=sa.pool.NullPool)
    try:
        for mt in load_catalog():
            cols = ", ".join(f'"{c}"' for c in mt.staging_columns)
            q = sa.text(f"select {cols} from van_staging.{mt.staging_view} order by source_row_key")
            with engine.connect() as pg, duck.connect() as dk:
                assert [tuple(r) for r in pg.execute(q)] == [tuple(r) for r in dk.execute(q)], mt.name
    finally:
        duck.dispose()
