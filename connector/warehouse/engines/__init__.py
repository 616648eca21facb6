"""The engine seam: one object per warehouse engine (capability flags + the operations that differ).

``engine_for_dialect`` / ``engine_for_url`` pick it; ``Warehouse.ops`` carries it. The built-in engines
(DuckDB, PostgreSQL, BigQuery) are listed here; any other is registered under the ``vanbulk.engines`` entry
point group (``name = "module:EngineClass"``, in this package's ``pyproject.toml`` or a plugin's), so adding an
engine is its module, that one line, the dbt macro variants in ``dbt_project/macros/cross_db.sql`` where
``default__`` is wrong for it, and a test fixture (docs/warehouses.md, "Adding an engine"): this file does not
change.
"""

from __future__ import annotations

import logging

from connector.errors import ConfigError
from connector.warehouse.engines.base import Engine, LockHeld
from connector.warehouse.engines.bigquery import BigQueryEngine
from connector.warehouse.engines.duckdb import DuckDBEngine
from connector.warehouse.engines.postgres import PostgresEngine

__all__ = ["ENGINES", "ENTRY_POINT_GROUP", "Engine", "LockHeld", "engine_for_dialect", "engine_for_dbt_type",
           "engine_for_url", "registered_engines", "supported_urls"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vanbulk.engines"
_BUILT_IN: tuple[type[Engine], ...] = (DuckDBEngine, PostgresEngine, BigQueryEngine)


def registered_engines() -> tuple[Engine, ...]:
    """The built-in engines, then every other ``vanbulk.engines`` entry point by name. An entry point that does
    not load (its module fails to import) is left out with a warning: one broken engine must not stop the
    others. Engine modules import their drivers lazily, so loading one needs no extra installed."""
    from importlib.metadata import entry_points

    out: list[Engine] = [cls() for cls in _BUILT_IN]
    seen: set[type] = set(_BUILT_IN)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            cls = ep.load()
        except Exception as exc:  # noqa: BLE001 - a plugin's import error is its own, not every engine's
            log.warning("warehouse engine %r (%s) could not be loaded: %s", ep.name, ep.value, exc)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Engine)):
            log.warning("entry point %s = %s is not an Engine subclass; ignored", ep.name, ep.value)
            continue
        if cls not in seen:
            seen.add(cls)
            out.append(cls())
    return tuple(out)


ENGINES: tuple[Engine, ...] = registered_engines()


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
