"""``duckdb_gx://``: duckdb_engine's dialect, made safe for Great Expectations.

Why: GX runs each query inside ``with engine.connect()`` and calls ``fetchall()`` after the block has
ended. Closing the connection rolls back, and with duckdb_engine the DB-API cursor *is* the DuckDB
connection, which drops its pending result on rollback: every GX metric comes back empty. Fetching the
whole result right after ``execute`` (only for row-returning statements) fixes it. GX's queries are
aggregates, ``LIMIT`` samples or our unexpected-row queries, so the buffered results stay small.

Files get a ``NullPool`` so GX never keeps the DuckDB file open between queries (another engine in this
process with a different configuration, or dbt in another process, would fail on it).

Registered through the ``sqlalchemy.dialects`` entry point ``duckdb_gx`` in pyproject.toml; the dialect
name stays ``duckdb`` so SQLAlchemy/GX compile DuckDB SQL. :func:`gx_url` rewrites a ``duckdb://`` URL.
"""

from __future__ import annotations

from duckdb_engine import Dialect as _DuckDBDialect
from sqlalchemy import pool
from sqlalchemy.dialects.postgresql.psycopg2 import PGExecutionContext_psycopg2
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy
from sqlalchemy.engine.url import URL

SCHEME = "duckdb_gx"

__all__ = ["DuckDBFetchAllDialect", "SCHEME", "gx_url", "register"]


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

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if url.database in (None, "", ":memory:"):
            return pool.SingletonThreadPool  # a memory database lives only as long as its connection
        return pool.NullPool


def gx_url(url: str) -> str:
    """``duckdb:///file.duckdb`` -> ``duckdb_gx:///file.duckdb``; other URLs unchanged."""
    if url.startswith("duckdb://"):
        return SCHEME + url[len("duckdb"):]
    return url


def register() -> None:
    """Register the dialect in-process too (the entry point needs ``pip install -e .``)."""
    from sqlalchemy.dialects import registry

    registry.register(SCHEME, __name__, "DuckDBFetchAllDialect")
