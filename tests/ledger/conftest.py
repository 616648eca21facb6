"""A ledger on each engine: a real DuckDB file, and a schema on the PostgreSQL server."""

from __future__ import annotations

import pytest

from connector.ledger import Ledger
from connector.warehouse import Warehouse


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_and_schema(request, tmp_path):
    if request.param == "duckdb":
        wh = Warehouse(f"duckdb:///{tmp_path}/l.duckdb")
        yield wh, "main"
    else:
        url, schema = request.getfixturevalue("pg_schema")
        wh = Warehouse(url, schema)
        yield wh, schema
    wh.dispose()


@pytest.fixture
def ledger(warehouse_and_schema) -> Ledger:
    wh, schema = warehouse_and_schema
    L = Ledger(wh, schema, api_target="https://api.example.test/v4/", database_mode=1)
    L.ensure()
    L.ensure()  # idempotent DDL
    return L


def make_view(ledger: Ledger, name: str, columns: list[str], rows: list[tuple]) -> str:
    """A text table ``<name>`` in the ledger's schema; returns its relation."""
    wh = ledger.wh
    rel = wh.relation(name, ledger.schema)
    wh.execute(f"drop table if exists {rel}")
    wh.execute(f"create table {rel} ({', '.join(f'{wh.quote(c)} text' for c in columns)})")
    if rows:
        wh.insert_rows(name, columns, rows, schema=ledger.schema)
    return rel
