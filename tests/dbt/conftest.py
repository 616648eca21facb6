"""One dbt build per engine for the whole session (each dbt invocation costs seconds)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.config import Settings
from connector.dbt_runner import build

REPO = Path(__file__).resolve().parents[2]
DBT_PROJECT = REPO / "dbt_project"


def duckdb_settings(tmp: Path, name: str = "warehouse.duckdb", **kw) -> Settings:
    return Settings(project_dir=tmp, dbt_project_dir=kw.pop("dbt_project_dir", DBT_PROJECT),
                    warehouse_url=f"duckdb:///{tmp / name}", **kw)


DUCKDB_EVENTS: list[dict] = []  # dbt's structured events of the duckdb_build, in order


@pytest.fixture(scope="session")
def duckdb_build(tmp_path_factory):
    DUCKDB_EVENTS.clear()
    tmp = tmp_path_factory.mktemp("dbt_duckdb")
    settings = duckdb_settings(tmp)
    started = time.time()
    result = build(settings, on_event=DUCKDB_EVENTS.append)  # as a run builds: dbt's structured log streamed
    return settings, result, tmp / "warehouse.duckdb", time.time() - started


@pytest.fixture(scope="session")
def pg_build(postgres_url):
    """Build into a throwaway database (the staging schema name is fixed, so isolate by database)."""
    admin = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    dbname = f"vanbulk_dbt_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(sa.text(f'create database "{dbname}"'))
    base = postgres_url.rsplit("/", 1)[0]
    url = f"{base}/{dbname}"
    tmp = Path(f"/tmp/{dbname}")
    tmp.mkdir(parents=True, exist_ok=True)
    settings = Settings(project_dir=tmp, dbt_project_dir=DBT_PROJECT, warehouse_url=url)
    try:
        started = time.time()
        result = build(settings)
        yield settings, result, url, time.time() - started
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'drop database if exists "{dbname}" with (force)'))
        admin.dispose()
