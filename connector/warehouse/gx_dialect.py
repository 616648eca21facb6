"""``duckdb_gx://``: duckdb_engine's dialect, made safe for Great Expectations.

Why: GX runs each query inside ``with engine.connect()`` and calls ``fetchall()`` after the block has
ended. Closing the connection rolls back, and with duckdb_engine the DB-API cursor *is* the DuckDB
connection, which drops its pending result on rollback: every GX metric comes back empty. Fetching the
whole result right after ``execute`` (only for row-returning statements) fixes it. GX's queries are
aggregates, ``LIMIT`` samples or our unexpected-row queries, so the buffered results stay small.

Files get a ``QueuePool`` that registers itself: reopening the DuckDB file for each of GX's hundreds of
queries costs ~15 ms apiece, so connections are kept for the run, and :func:`dispose_pools` (called by
the pre-flight runner right after the checkpoint) closes them so the file is not held open afterwards
(dbt in another process would fail on the lock). GX re-creates data sources from its config, so the
engine it validates with is not always one we hold: tracking the pools is the reliable way to close it. The configuration passed to DuckDB is duckdb_engine's, so other engines in this process that open
the same file concurrently share the database instance instead of failing on a configuration mismatch.

Registered through the ``sqlalchemy.dialects`` entry point ``duckdb_gx`` in pyproject.toml; the dialect
name stays ``duckdb`` so SQLAlchemy/GX compile DuckDB SQL. :func:`gx_url` rewrites a ``duckdb://`` URL.
"""

from __future__ import annotations

import logging
import weakref

from duckdb_engine import Dialect as _DuckDBDialect
from sqlalchemy import pool
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.postgresql.psycopg2 import PGExecutionContext_psycopg2
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy

SCHEME = "duckdb_gx"
PG_DRIVER = "vanbulk_gx"

__all__ = ["DuckDBFetchAllDialect", "PostgresGxDialect", "SCHEME", "dispose_pools", "forget_columns", "gx_url",
           "known_columns", "register"]

_POOLS: "weakref.WeakSet[pool.Pool]" = weakref.WeakSet()


class _TrackedQueuePool(pool.QueuePool):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _POOLS.add(self)


# SQLAlchemy names pool loggers after the pool class: keep its per-connection INFO lines out of our logs.
logging.getLogger(f"{__name__}.{_TrackedQueuePool.__name__}").setLevel(logging.WARNING)


def dispose_pools() -> int:
    """Close every idle pooled connection opened through this dialect; returns how many pools."""
    pools = list(_POOLS)
    for p in pools:
        p.dispose()
    return len(pools)


# (schema, table) -> [(column, data type)]: the tables a checkpoint validates, read by the pre-flight runner in one
# catalogue query for the whole run. GX reflects each table it validates (its primary key, then its columns: 3
# statements per view on DuckDB, 5 on PostgreSQL, 63-105 a demo run); these dialects answer from here instead.
_KNOWN: dict[tuple[str, str], list[tuple[str, str]]] = {}


def known_columns(columns: dict[tuple[str, str], list[tuple[str, str]]]) -> None:
    """What a checkpoint is about to validate: replaces what an earlier one (in this process) knew."""
    _KNOWN.clear()
    _KNOWN.update(columns)


def forget_columns() -> None:
    _KNOWN.clear()


class _KnownColumns:
    """``get_columns`` / ``get_pk_constraint`` of a table in ``_KNOWN`` without a query (a CTAS table: no key)."""

    def get_columns(self, connection, table_name, schema=None, **kw):
        cols = _KNOWN.get((str(schema), str(table_name)))
        if cols is None:
            return super().get_columns(connection, table_name, schema=schema, **kw)
        return [{"name": name, "type": _sa_type(self, data_type), "nullable": True, "default": None,
                 "autoincrement": False, "comment": None} for name, data_type in cols]

    def get_pk_constraint(self, connection, table_name, schema=None, **kw):
        if (str(schema), str(table_name)) in _KNOWN:
            return {"constrained_columns": [], "name": None}
        return super().get_pk_constraint(connection, table_name, schema=schema, **kw)


def _sa_type(dialect, data_type: str):
    from sqlalchemy import types

    found = dialect.ischema_names.get(data_type.lower()) or dialect.ischema_names.get(data_type)
    try:
        return found() if found is not None else types.NullType()
    except TypeError:  # a type that needs arguments: its name is what GX shows, nothing reads it
        return types.NullType()


class DuckDBFetchAllExecutionContext(PGExecutionContext_psycopg2):
    def post_exec(self) -> None:
        super().post_exec()
        cursor = self.cursor
        if cursor is not None and cursor.description is not None:
            # Buffer now, while the DuckDB connection still holds the result.
            self.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(
                cursor, cursor.description, cursor.fetchall())


class DuckDBFetchAllDialect(_KnownColumns, _DuckDBDialect):
    name = "duckdb"
    driver = "duckdb_gx"
    execution_ctx_cls = DuckDBFetchAllExecutionContext
    supports_statement_cache = False

    def _load_enums(self, connection, schema=None, **kw):
        """No enum types to reflect: duckdb_engine's ``get_columns`` asks PostgreSQL's catalogue for them on every
        table GX reflects (the same query once per view, 21 in a demo run), and DuckDB's ``pg_enum`` is empty."""
        return []

    @classmethod
    def get_pool_class(cls, url):
        if url.database in (None, "", ":memory:"):
            return pool.SingletonThreadPool  # a memory database lives only as long as its connection
        return _TrackedQueuePool


class PostgresGxDialect(_KnownColumns, PGDialect_psycopg):
    """psycopg 3's dialect, reflecting the checkpoint's tables from ``_KNOWN`` (``postgresql+vanbulk_gx://``)."""

    driver = PG_DRIVER
    supports_statement_cache = True


def gx_url(url: str) -> str:
    """``duckdb:///file.duckdb`` -> ``duckdb_gx:///file.duckdb``, ``postgresql+psycopg://`` ->
    ``postgresql+vanbulk_gx://``; other URLs unchanged."""
    if url.startswith("duckdb://"):
        return SCHEME + url[len("duckdb"):]
    if url.startswith("postgresql+psycopg://"):
        return f"postgresql+{PG_DRIVER}://" + url.split("://", 1)[1]
    return url


def register() -> None:
    """Register the dialect in-process too (the entry point needs ``pip install -e .``)."""
    from sqlalchemy.dialects import registry

    registry.register(SCHEME, __name__, "DuckDBFetchAllDialect")
    registry.register(f"postgresql.{PG_DRIVER}", __name__, "PostgresGxDialect")
