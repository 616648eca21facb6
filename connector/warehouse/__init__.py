"""One handle on the warehouse: a DuckDB file, PostgreSQL or BigQuery, each behind ``ops`` (the engine seam).

Why SQLAlchemy for DuckDB too: the same code path (streaming reads, bulk writes, quoting) serves
every engine. NullPool, because DuckDB allows one configuration per file per process and dbt in another
process needs the file lock released between steps.

A command holding the run lock keeps one DuckDB connection open (``kept_open``) and lets it go only while dbt
works (``released``): DuckDB shares one database instance among a process's connections to a file, so with
the instance kept alive each further connection opens in microseconds, and closing it no longer checkpoints
the file. Opening and closing the file per statement was about a quarter of a demo run (233 opens, 9 s).

A command holding the run lock also keeps what the catalogue says of each schema it looks at
(``introspection_cached``): one query per schema instead of one per view and question (a demo run asked 112
times). It is forgotten while dbt works (``released``) and for any schema a DDL statement of this handle names.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from connector.errors import WarehouseError
from connector.warehouse.engines import Engine as EngineOps
from connector.warehouse.engines import engine_for_dialect, engine_for_url

log = logging.getLogger(__name__)

__all__ = ["Warehouse", "WarehouseError"]

_DDL = re.compile(r"\s*(create|alter|drop|rename|comment|truncate)\b", re.I)
_IDENT = r'(?:"(?:[^"]|"")*"|`[^`]*`|[\w$]+)'
# The object a DDL statement changes: its kind and (qualified) name. What it reads (``as select ...``) is not
# named here: a table built from a view leaves the view's schema cached.
_DDL_TARGET = re.compile(
    r"\s*(?:create(?:\s+or\s+replace)?(?P<temp>(?:\s+(?:local|global))?\s+temp(?:orary)?)?"
    r"(?:\s+(?:materialized|unique|recursive|unlogged))*"
    r"|alter|drop|truncate|comment\s+on)"
    r"\s+(?P<kind>table|view|schema|index|sequence|type|macro|function)?"
    r"\s*(?:if\s+(?:not\s+)?exists\s+)?"
    rf"(?P<name>{_IDENT}(?:\s*\.\s*{_IDENT})*)", re.I)


def _interrupted(exc: BaseException) -> bool:
    """DuckDB takes SIGINT while it runs a statement and raises ``RuntimeError("Query interrupted")`` (caused by
    the KeyboardInterrupt), or its ``InterruptException``: the user's Ctrl-C, to be handled as one. A Ctrl-C
    inside SQLAlchemy's own code mid-statement leaves the transaction invalid, and leaving ``begin()`` then
    raises "Can't reconnect until invalid transaction is rolled back" *during* the KeyboardInterrupt (its
    ``__context__``): that is the Ctrl-C too (seen under load: the run ended with exit 2 instead of 130)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "InterruptException":
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


class Warehouse:
    """A connection handle; what differs between engines is asked of ``ops`` (connector.warehouse.engines)."""

    def __init__(self, url: str, default_schema: str | None = None):
        ops = engine_for_url(url)
        self.url = ops.normalise_url(url) if ops else url
        self.engine: Engine = ops.create_engine(self.url) if ops else sa.create_engine(
            self.url, poolclass=NullPool, future=True)
        self.dialect: str = self.engine.dialect.name  # "duckdb" | "postgresql" | "bigquery"
        self.ops: EngineOps = ops or engine_for_dialect(self.dialect)
        self._default_schema = default_schema
        self._keeper: Any = None  # the kept DuckDB connection (kept_open)
        self._kept = 0
        self._keep_lock = threading.Lock()
        self._catalog: dict[str, dict[str, list[str]] | None] | None = None  # schema -> relation -> columns
        self._catalog_depth = 0
        self._catalog_lock = threading.RLock()
        if self.duckdb_path:
            Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)

    # -- identity --------------------------------------------------------------------------------
    @property
    def duckdb_path(self) -> str | None:
        """The local database file (DuckDB), else None."""
        return self.ops.file_path(self.engine.url)

    @property
    def default_schema(self) -> str:
        if not self._default_schema:
            self._default_schema = self.ops.url_schema(self.engine.url)
        if not self._default_schema:
            with self.connect() as c:
                self._default_schema = self.ops.default_schema(c, self.engine.url)
        return self._default_schema

    def redacted_url(self) -> str:
        return sa.make_url(self.url).render_as_string(hide_password=True)  # the user's URL, not the driver's

    # -- SQL helpers -----------------------------------------------------------------------------
    def quote(self, ident: str) -> str:
        return self.ops.quote(ident)

    def relation(self, name: str, schema: str | None = None) -> str:
        schema = schema or self.default_schema
        return f"{self.quote(schema)}.{self.quote(name)}"

    # -- the DuckDB file kept open while a command works ---------------------------------------------
    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """DuckDB file: keep its database instance open until the outermost block ends (other engines: no-op)."""
        if not self.duckdb_path:
            yield
            return
        with self._keep_lock:
            self._kept += 1
            if self._keeper is None:
                self._keeper = self._open_keeper()
        try:
            yield
        finally:
            with self._keep_lock:
                self._kept -= 1
                if not self._kept:
                    self._close_keeper()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go of the kept DuckDB file while another process (dbt) needs it, then take it again. dbt rebuilds
        views: what the catalogue said is forgotten on both sides."""
        self.forget_relations()
        with self._keep_lock:
            self._close_keeper()
        try:
            yield
        finally:
            self.forget_relations()
            with self._keep_lock:
                if self._kept and self._keeper is None:
                    self._keeper = self._open_keeper()

    def _open_keeper(self) -> Any:
        try:
            return self.engine.raw_connection()
        except sa.exc.OperationalError as exc:
            raise WarehouseError(f"warehouse {self.redacted_url()}: {exc.orig}") from exc

    def _close_keeper(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.close()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except Exception as exc:
            if _interrupted(exc):  # Ctrl-C while DuckDB ran a statement: DuckDB took the signal, raise it on
                raise KeyboardInterrupt() from None
            if isinstance(exc, sa.exc.OperationalError):
                raise WarehouseError(f"warehouse {self.redacted_url()}: {exc.orig}") from exc
            raise

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self.connect() as conn:
            with conn.begin():
                yield conn

    def execute(self, sql: str, params: dict[str, Any] | Sequence[dict[str, Any]] | None = None) -> None:
        with self.begin() as conn:
            conn.execute(sa.text(sql), params or {})

    def fetchall(self, sql: str, params: dict[str, Any] | None = None) -> list[sa.Row]:
        with self.connect() as conn:
            return list(conn.execute(sa.text(sql), params or {}).fetchall())

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        with self.connect() as conn:
            return conn.execute(sa.text(sql), params or {}).scalar()

    def stream(self, sql: str, params: dict[str, Any] | None = None, batch_size: int = 10_000
               ) -> Iterator[tuple[list[str], list[tuple]]]:
        """Yield (column names, batch of rows) with bounded memory (server-side cursor where supported)."""
        with self.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                sa.text(sql), params or {})
            cols = list(result.keys())
            while True:
                rows = result.fetchmany(batch_size)
                if not rows:
                    break
                yield cols, [tuple(r) for r in rows]

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                    schema: str | None = None, conn: Connection | None = None) -> int:
        """Bulk insert with executemany; returns the number of rows written."""
        rows = [tuple(r) for r in rows]
        if not rows:
            return 0
        params = [f"p{i}" for i in range(len(columns))]
        sql = sa.text(
            f"insert into {self.relation(table, schema)} ({', '.join(self.quote(c) for c in columns)}) "
            f"values ({', '.join(':' + p for p in params)})")
        payload = [dict(zip(params, r)) for r in rows]
        if conn is not None:
            conn.execute(sql, payload)
        else:
            with self.begin() as c:
                c.execute(sql, payload)
        return len(rows)

    # -- introspection ----------------------------------------------------------------------------
    @contextmanager
    def introspection_cached(self) -> Iterator[None]:
        """Within: ``describe`` / ``columns`` / ``relation_exists`` answer from one catalogue query per schema
        (``Engine.schema_columns``), kept until ``released`` (dbt), ``forget_relations``, or a DDL statement sent
        through this handle that names the schema (or names none: the default schema). Nested blocks share it."""
        with self._catalog_lock:
            self._catalog_depth += 1
            if self._catalog_depth == 1:
                self._catalog = {}
                sa.event.listen(self.engine, "before_cursor_execute", self._on_statement)
                sa.event.listen(self.engine, "commit", self._on_end)
                sa.event.listen(self.engine, "rollback", self._on_end)
        try:
            yield
        finally:
            with self._catalog_lock:
                self._catalog_depth -= 1
                if not self._catalog_depth:
                    self._catalog = None
                    sa.event.remove(self.engine, "before_cursor_execute", self._on_statement)
                    sa.event.remove(self.engine, "commit", self._on_end)
                    sa.event.remove(self.engine, "rollback", self._on_end)

    def forget_relations(self, schema: str | None = None) -> None:
        """Drop what the cache holds (of ``schema``, or all)."""
        with self._catalog_lock:
            if self._catalog is None:
                return
            if schema is None:
                self._catalog.clear()
            else:
                self._catalog.pop(schema, None)

    def _named_schemas(self, statement: str) -> list[str]:
        """The cached schemas a DDL statement may change: the schema of the object it creates, alters or drops
        (an unqualified name: the default schema); none for a temporary object or an index; every schema when
        the statement is not understood."""
        with self._catalog_lock:
            cached = list(self._catalog or ())
        m = _DDL_TARGET.match(statement)
        if m is None:
            return cached
        kind = (m.group("kind") or "").lower()
        if m.group("temp") or kind == "index":
            return []
        parts = [p.strip() for p in re.findall(_IDENT, m.group("name"))]
        if kind == "schema":
            schema = parts[-1]
        elif len(parts) >= 2:
            schema = parts[-2]
        else:
            schema = self._default_schema or self.ops.url_schema(self.engine.url)
            if schema is None:
                return cached
        if schema[:1] in '"`':
            schema = schema[1:-1].replace('""', '"')
        return [s for s in cached if s.lower() == schema.lower()]

    def _on_statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if not _DDL.match(statement):
            return
        named = self._named_schemas(statement)
        for s in named:
            self.forget_relations(s)
        if named:  # seen by other connections only once committed: forget again then
            conn.info.setdefault("vanbulk_ddl_schemas", set()).update(named)

    def _on_end(self, conn) -> None:
        for s in conn.info.pop("vanbulk_ddl_schemas", ()):
            self.forget_relations(s)

    def _schema_catalog(self, schema: str, conn: Connection | None) -> dict[str, list[str]] | None:
        """The cached ``relation -> columns`` of ``schema`` (asked once), or None when nothing is cached."""
        with self._catalog_lock:
            if self._catalog is None:
                return None
            if schema in self._catalog:
                return self._catalog[schema]
        if conn is None:
            with self.connect() as c:
                found = self.ops.schema_columns(c, schema)
        else:
            found = self.ops.schema_columns(conn, schema)
        with self._catalog_lock:
            if self._catalog is not None:
                self._catalog[schema] = found
        return found

    def describe(self, name: str, schema: str | None = None, conn: Connection | None = None) -> list[str] | None:
        """A table's or view's columns in order, or None when it does not exist. ``conn``: ask on the caller's
        connection instead of opening one."""
        schema = schema or self.default_schema
        cached = self._schema_catalog(schema, conn)
        if cached is not None:
            cols = cached.get(name)
            return list(cols) if cols else None
        if conn is not None:
            return self.ops.columns(conn, schema, name)
        with self.connect() as c:
            return self.ops.columns(c, schema, name)

    def relation_exists(self, name: str, schema: str | None = None, conn: Connection | None = None) -> bool:
        schema = schema or self.default_schema
        cached = self._schema_catalog(schema, conn)
        if cached is not None:
            return bool(cached.get(name))
        if conn is not None:
            return self.ops.relation_exists(conn, schema, name)
        with self.connect() as c:
            return self.ops.relation_exists(c, schema, name)

    def columns(self, name: str, schema: str | None = None) -> list[str]:
        return self.describe(name, schema) or []

    def dispose(self) -> None:
        try:
            self.ops.drop_released(self)
        except Exception as exc:  # noqa: BLE001 - a scratch table left costs space until it expires, never answers
            log.warning("could not drop the run's scratch tables: %s", exc)
        with self._keep_lock:
            self._kept = 0
            self._close_keeper()
        self.engine.dispose()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()
