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
from sqlalchemy.dialects.postgresql.psycopg2 import PGExecutionContext_psycopg2
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy

SCHEME = "duckdb_gx"

__all__ = ["DuckDBFetchAllDialect", "SCHEME", "dispose_pools", "gx_url", "register"]

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


class DuckDBFetchAllExecutionContext(PGExecutionContext_psycopg2):
    def post_exec(self) -> None:
        super().post_exec()
        cursor = self.cursor
        if cursor is not None and cursor.description is not None:
            # Buffer now, while the DuckDB connection still holds the result.
            self.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(
                cursor, cursor.description, cursor.fetchall())


class DuckDBFetchAllDialect(_DuckDBDialect):
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


def gx_url(url: str) -> str:
    """``duckdb:///file.duckdb`` -> ``duckdb_gx:///file.duckdb``; other URLs unchanged."""
    if url.startswith("duckdb://"):
        return SCHEME + url[len("duckdb"):]
    return url


def register() -> None:
    """Register the dialect in-process too (the entry point needs ``pip install -e .``)."""
    from sqlalchemy.dialects import registry

    registry.register(SCHEME, __name__, "DuckDBFetchAllDialect")
