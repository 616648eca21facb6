"""The engine seam: one object per warehouse engine (capability flags + the operations that differ).

``engine_for_dialect`` / ``engine_for_url`` pick it; ``Warehouse.ops`` carries it. Adding an engine is one
module here (a subclass of ``base.Engine``), its ``ENGINES`` entry, the dbt macro variants in
``dbt_project/macros/cross_db.sql``, a test fixture and a ``pyproject`` extra (docs/warehouses.md).
"""

from __future__ import annotations

from connector.errors import ConfigError
from connector.warehouse.engines.base import Engine, LockHeld
from connector.warehouse.engines.bigquery import BigQueryEngine
from connector.warehouse.engines.duckdb import DuckDBEngine
from connector.warehouse.engines.postgres import PostgresEngine

__all__ = ["ENGINES", "Engine", "LockHeld", "engine_for_dialect", "engine_for_dbt_type", "engine_for_url",
           "supported_urls"]

ENGINES: tuple[Engine, ...] = (DuckDBEngine(), PostgresEngine(), BigQueryEngine())


def engine_for_dialect(name: str) -> Engine:
    for e in ENGINES:
        if e.name == name:
            return e
    raise ConfigError(f"warehouse engine {name!r} is not supported; supported: "
                      + ", ".join(e.name for e in ENGINES))


def engine_for_dbt_type(kind: str) -> Engine | None:
    return next((e for e in ENGINES if e.dbt_type == kind), None)


def engine_for_url(url: str) -> Engine | None:
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return next((e for e in ENGINES if scheme in e.url_schemes), None)


def supported_urls() -> tuple[str, ...]:
    return tuple(e.url_example for e in ENGINES)
