"""One contract suite, generated per engine (Meltano's ``get_target_test_class`` habit): every test here takes
``engine_wh`` and runs on a real DuckDB file, a schema on the PostgreSQL server and a dataset on the BigQuery
emulator (crucible)."""

from __future__ import annotations

import pytest

from connector.warehouse import Warehouse

ENGINES = ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("bigquery", marks=pytest.mark.bigquery)]


def bigquery_url(emulator, dataset: str) -> str:
    return f"bigquery://{emulator.project}/{dataset}?api_endpoint={emulator.api_endpoint}&anonymous=true"


def open_engine(request, name: str, tmp_path) -> tuple[Warehouse, str, str]:
    """(warehouse, schema, url) of a fresh schema on engine ``name``."""
    if name == "duckdb":
        url = f"duckdb:///{tmp_path}/contract.duckdb"
        return Warehouse(url), "main", url
    if name == "postgresql":
        url, schema = request.getfixturevalue("pg_schema")
        return Warehouse(url, schema), schema, url
    emulator, dataset = request.getfixturevalue("bq_dataset")
    url = bigquery_url(emulator, dataset)
    return Warehouse(url), dataset, url


@pytest.fixture(params=ENGINES)
def engine_wh(request, tmp_path):
    wh, schema, url = open_engine(request, request.param, tmp_path)
    wh.test_url = url
    yield wh, schema
    wh.dispose()
