"""One contract suite, generated per engine (Meltano's ``get_target_test_class`` habit): every test here takes
``engine_wh`` and runs on a real DuckDB file, a schema on the PostgreSQL server and a dataset on the BigQuery
emulator (crucible), a schema on the Snowflake emulator (fakesnow); and, opt-in, on real Snowflake
(``VANBULK_SF_LIVE_URL``, a snowflake:// URL whose schema part is replaced by a fresh schema) and on real BigQuery: set ``VANBULK_BQ_LIVE_PROJECT`` (and credentials as
Application Default Credentials, or ``VANBULK_BQ_LIVE_KEYFILE``; ``VANBULK_BQ_LIVE_LOCATION``). Each test gets
a dataset of its own, deleted afterwards. Without the variable the live cases skip, and the run says so."""

from __future__ import annotations

import os

import pytest

from connector.warehouse import Warehouse

ENGINES = ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres),
           pytest.param("bigquery", marks=pytest.mark.bigquery),
           pytest.param("bigquery-live", marks=pytest.mark.bigquery_live),
           pytest.param("snowflake", marks=pytest.mark.snowflake),
           pytest.param("snowflake-live", marks=pytest.mark.snowflake_live)]
LIVE_PROJECT = "VANBULK_BQ_LIVE_PROJECT"
SF_LIVE_URL = "VANBULK_SF_LIVE_URL"


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
    if name == "bigquery-live":
        return _live(request)
    if name == "snowflake":
        emulator, schema = request.getfixturevalue("sf_schema")
        url = emulator.url(schema)
        return Warehouse(url), schema, url
    if name == "snowflake-live":
        return _snowflake_live(request)
    emulator, dataset = request.getfixturevalue("bq_dataset")
    url = bigquery_url(emulator, dataset)
    return Warehouse(url), dataset, url


@pytest.fixture(params=ENGINES)
def engine_wh(request, tmp_path):
    wh, schema, url = open_engine(request, request.param, tmp_path)
    wh.test_url = url
    yield wh, schema
    wh.dispose()


def _live(request) -> tuple[Warehouse, str, str]:
    """A fresh dataset in the real BigQuery project named by ``VANBULK_BQ_LIVE_PROJECT`` (opt-in)."""
    import uuid
    from urllib.parse import urlencode

    project = os.environ.get(LIVE_PROJECT)
    if not project:
        pytest.skip(f"live BigQuery not tested: set {LIVE_PROJECT} (and credentials) to run the contract suite "
                    "against a real project")
    from connector.warehouse.engines.bigquery import bigquery_client

    dataset = f"vanbulk_contract_{uuid.uuid4().hex[:10]}"
    q = {k: v for k, v in (("credentials_path", os.environ.get("VANBULK_BQ_LIVE_KEYFILE")),
                           ("location", os.environ.get("VANBULK_BQ_LIVE_LOCATION"))) if v}
    url = f"bigquery://{project}/{dataset}" + ("?" + urlencode(q) if q else "")
    client = bigquery_client(url)
    client.create_dataset(dataset)
    request.addfinalizer(lambda: client.delete_dataset(dataset, delete_contents=True, not_found_ok=True))
    return Warehouse(url), dataset, url


def _snowflake_live(request) -> tuple[Warehouse, str, str]:
    """A fresh schema in the real Snowflake database named by ``VANBULK_SF_LIVE_URL`` (opt-in):
    ``snowflake://USER:PASSWORD@ACCOUNT/DATABASE/ANY_SCHEMA?warehouse=WH&role=ROLE`` (or ``private_key_file=``);
    the schema part is replaced by a new schema, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    base = os.environ.get(SF_LIVE_URL)
    if not base:
        pytest.skip(f"live Snowflake not tested: set {SF_LIVE_URL} to run the contract suite against a real account")
    parts = sa.make_url(base)
    database = (parts.database or "").strip("/").split("/")[0]
    schema = f"vanbulk_contract_{uuid.uuid4().hex[:10]}"
    url = parts.set(database=f"{database}/{schema}").render_as_string(hide_password=False)
    wh = Warehouse(url)
    with wh.connect() as c:
        c.execute(sa.text(f"create schema if not exists {schema}"))

    def drop() -> None:
        with wh.connect() as c:
            c.execute(sa.text(f"drop schema if exists {schema} cascade"))
        wh.dispose()

    request.addfinalizer(drop)
    return wh, schema, url
