"""PostgreSQL: COPY in and out through psycopg 3, a session advisory lock per (ledger schema, VAN target)."""

from __future__ import annotations

import itertools
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import parse_qs, quote, unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.errors import ConfigError
from connector.redaction import register_secret
from connector.warehouse.engines.base import Engine, LockHeld

__all__ = ["PostgresEngine"]

_BLOCK = 1 << 20
# The session's work_mem, unless the URL's ``options`` or PGOPTIONS set one: the ledger hash-joins a job's rows (up
# to a chunk, 500k) with the plan, the sync state and the results; at the server default (4 MB, hash nodes 2x) each
# join spilled in 4-8 batches to temporary files. 32 MB (64 MB for a hash) holds a chunk's keys: the outcome update
# of 400k rows 5.1 -> 3.9 s. Per connection and per hash or sort node, so bounded by the chunk, not the rows.
# temp_buffers likewise: a job's keys and its result files are COPYed into temporary tables (a 500k-row job's keys
# about 30 MB) and read back at once; at the default 8 MB their pages went to disk and back.
WORK_MEM, TEMP_BUFFERS = "32MB", "64MB"
_temp_names = itertools.count()


def _copy_from_file(conn: Connection, statement: str, path: Path) -> None:
    with conn.connection.dbapi_connection.cursor() as cur, open(path, "rb") as f:
        with cur.copy(statement) as cp:
            while data := f.read(_BLOCK):
                cp.write(data)


class PostgresEngine(Engine):
    name = "postgresql"
    dbt_type = "postgres"
    url_schemes = ("postgresql", "postgres")
    url_example = "postgresql://user[:password]@host:5432/database"
    enforces_unique_keys = True
    writer_lock = "advisory"
    bulk_load = "copy"
    reports_rows_written = True
    export_stream = "copy"
    update_returning = True
    snapshot_isolation = "REPEATABLE READ"  # READ COMMITTED takes a snapshot per statement
    text_type = "text"

    @classmethod
    def normalise_url(cls, url: str) -> str:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            # psycopg 3 (dbt-postgres also pulls psycopg2; be explicit)
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    def create_engine(self, url: str) -> sa.Engine:
        from sqlalchemy.pool import NullPool

        u = sa.make_url(url)
        given = u.query.get("options")
        options = (" ".join(given) if isinstance(given, tuple) else given) or os.environ.get("PGOPTIONS", "")
        for name, value in (("work_mem", WORK_MEM), ("temp_buffers", TEMP_BUFFERS)):
            if name not in options:  # a value the user set wins
                options = f"{options} -c {name}={value}".strip()
        return sa.create_engine(u.difference_update_query(["options"]), poolclass=NullPool, future=True,
                                connect_args={"options": options})

    def concat_skipping_nulls(self, parts: Sequence[str]) -> str:
        return f"concat({', '.join(parts)})"  # concat() skips NULL arguments: the cheapest form

    def drop_tables_sql(self, relations: Sequence[str]) -> list[str]:
        return [f"drop table if exists {', '.join(relations)}"] if relations else []

    def content_fingerprint_sql(self, relation: str, columns: Sequence[str], group_by: str | None = None
                                ) -> str | None:
        # The row's text form quotes each value and leaves NULL empty ((,a) vs ("",a)); hashtextextended (PG 11+)
        # with two seeds: 0.3 s over 1M rows.
        cols = ", ".join(f"v.{self.quote(c)}" for c in columns)
        key, tail = self._fingerprint_grouping(group_by)
        return (f"select {key}count(*), cast(sum(hashtextextended(cast(row({cols}) as text), 0)) as text), "
                f"cast(sum(hashtextextended(cast(row({cols}) as text), 1)) as text) from {relation} v{tail}")

    def matches_icase(self, expr: str, pattern: str) -> str:
        # POSIX ARE: \y is the word boundary (\b is a backspace)
        pattern = pattern.replace(chr(92) + "b", chr(92) + "y")
        return f"{expr} ~* '{pattern.replace(chr(39), chr(39) * 2)}'"

    def try_bigint(self, expr: str) -> str:
        return f"case when {expr} ~ '^-?[0-9]{{1,18}}$' then cast({expr} as bigint) end"

    # -- bulk paths ---------------------------------------------------------------------------------
    def csv_relation(self, conn: Connection, path: Path, ncols: int, name: str) -> str:
        table = f"vanbulk_{name}_{next(_temp_names)}"
        conn.execute(sa.text(f"create temporary table {table} ("
                             + ", ".join(f"c{i} text" for i in range(ncols)) + ") on commit drop"))
        _copy_from_file(conn, f"copy {table} from stdin with (format csv, header true)", path)
        return table

    def copy_into(self, conn: Connection, relation: str, columns: Sequence[str], path: Path) -> None:
        collist = ", ".join(self.quote(c) for c in columns)
        _copy_from_file(conn, f"copy {relation} ({collist}) from stdin with (format csv, header true)", path)

    def refresh_statistics(self, conn: Connection, relations: Sequence[str]) -> None:
        for rel in relations:
            conn.execute(sa.text(f"analyze {rel}"))

    def ensure_indexes(self, conn: Connection, schema: str, indexes: Mapping[str, Sequence[Sequence[str]]],
                       relation: Callable[[str], str], fillfactor: Mapping[str, int] | None = None) -> list[str]:
        # One catalogue query per run for both: the schema's indexes and its tables' storage options.
        have, options = set(), {}
        for name, kind, opts in conn.execute(sa.text(
                "select c.relname, c.relkind, c.reloptions from pg_class c join pg_namespace n "
                "on n.oid = c.relnamespace where n.nspname = :s and c.relkind in ('i', 'r')"), {"s": schema}):
            if kind == "i":
                have.add(name)
            else:
                options[name] = set(opts or ())
        created = []
        for table, column_lists in indexes.items():
            for cols in column_lists:
                name = f"{table}_{'_'.join(cols)}_idx"
                if name not in have:
                    conn.execute(sa.text(f"create index if not exists {self.quote(name)} on {relation(table)} "
                                         f"({', '.join(self.quote(c) for c in cols)})"))
                    created.append(name)
        for table, percent in (fillfactor or {}).items():
            if table in options and f"fillfactor={int(percent)}" not in options[table]:
                # New pages only (an older ledger's full pages fill up as VACUUM frees them): no table rewrite.
                conn.execute(sa.text(f"alter table {relation(table)} set (fillfactor = {int(percent)})"))
        return created

    @contextmanager
    def copy_out(self, warehouse: Any, rows_query: str, workdir: Path, *, memory_limit: str | None
                 ) -> Iterator[tuple[Iterator[bytes], bool]]:
        """``COPY (query) TO STDOUT (FORMAT csv, FORCE_QUOTE *)`` through psycopg (LF rows: the exporter adds
        the CR)."""
        with warehouse.connect() as conn:
            raw = conn.connection.dbapi_connection
            with raw.cursor() as cur:

                def blocks() -> Iterator[bytes]:
                    with cur.copy(f"copy ({rows_query}) to stdout (format csv, header false, force_quote *)") as cp:
                        parts: list[bytes] = []
                        size = 0
                        for data in cp:  # one row per message: joined into ~1 MB blocks
                            parts.append(bytes(data))
                            size += len(data)
                            if size >= _BLOCK:
                                yield b"".join(parts)
                                parts, size = [], 0
                        if parts:
                            yield b"".join(parts)

                yield blocks(), True

    # -- the one-writer lock --------------------------------------------------------------------------
    def try_lock(self, warehouse: Any, *, key: int, holder: Mapping[str, Any]) -> tuple[LockHeld | None, dict | None]:
        """A session advisory lock held on a connection of its own for the whole command (released when the
        connection closes, also on a crash); who holds it is the ledger's ``running`` row (the caller's)."""
        conn = warehouse.engine.connect()
        got = conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if not got:
            conn.close()
            return None, None

        def release() -> None:
            try:
                conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            finally:
                conn.close()

        return LockHeld(release), None

    # -- dbt ----------------------------------------------------------------------------------------
    def url_from_profile(self, out: Mapping[str, Any], dbt_dir: Path, where: str) -> tuple[str, str]:
        missing = [k for k in ("host", "user", "dbname")
                   if not out.get(k) and not (k == "dbname" and out.get("database"))]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        password = "" if out.get("password") is None else str(out.get("password"))
        register_secret(password or None)
        register_secret(quote(password, safe="") or None)  # as it appears inside the URL
        user = quote(str(out["user"]), safe="")
        auth = f"{user}:{quote(password, safe='')}" if password else user
        dbname = quote(str(out.get("dbname") or out.get("database")), safe="")
        url = f"postgresql://{auth}@{out['host']}:{int(out.get('port') or 5432)}/{dbname}"
        if out.get("sslmode"):
            url += f"?sslmode={quote(str(out['sslmode']), safe='')}"
        return url, str(out.get("schema") or "public")

    def dbt_env(self, url: str, project_dir: Path, schema_hint: str | None) -> dict[str, str]:
        parts = urlsplit(url)
        env = {"VANBULK_PG_HOST": parts.hostname or "127.0.0.1", "VANBULK_PG_PORT": str(parts.port or 5432),
               "VANBULK_PG_USER": unquote(parts.username or "postgres"),
               "VANBULK_PG_DATABASE": unquote(parts.path.lstrip("/")) or "postgres",
               "VANBULK_PG_SCHEMA": _search_path_schema(parts.query) or schema_hint or "public"}
        env["DBT_ENV_SECRET_PG_PASSWORD"] = unquote(parts.password) if parts.password else ""
        return env

    def location(self, url: str, base: Path | None) -> str:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port or 5432}/{unquote(parts.path.lstrip('/'))}"


def _search_path_schema(query: str) -> str | None:
    params = parse_qs(query)
    for opt in params.get("options", []):
        for part in unquote(opt).split():
            if part.startswith("-csearch_path="):
                first = part.split("=", 1)[1].split(",")[0].strip().strip('"')
                if first:
                    return first
    if params.get("schema"):
        return params["schema"][0]
    return None
