"""What every engine answers, and the portable defaults (dlt's ``capabilities()``, Meltano's ``SQLConnector``
flags): the ledger, the run, pre-flight, results and export read as protocol code and ask the engine only for
what differs. One module per engine beside this one, as ``dbt_project/macros/cross_db.sql`` keeps one macro
variant per adapter on the dbt side.

An engine is stateless and takes plain values (URLs, SQL text, paths, SQLAlchemy connections), never
``Settings``: the seam sits below configuration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["Engine", "LockHeld"]


class LockHeld:
    """A writer lock this process holds; ``release`` is idempotent."""

    def __init__(self, release: Callable[[], None]):
        self._release = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class Engine(ABC):
    """Capability flags + the operations that differ between warehouses. Subclasses override both; the abstract
    ones every engine must have (its bulk paths and its dbt profile); the defaults are DuckDB's spellings, the
    portable ones."""

    # -- identity -------------------------------------------------------------------------------
    name: ClassVar[str] = "ansi"  # SQLAlchemy's dialect name
    dbt_type: ClassVar[str] = ""  # the dbt adapter type of the same warehouse (profiles.yml `type:`)
    url_schemes: ClassVar[tuple[str, ...]] = ()
    url_example: ClassVar[str] = ""

    # -- capability flags -------------------------------------------------------------------------
    # A PRIMARY KEY is enforced: the row claim before each POST can rest on it (a racing insert fails).
    enforces_unique_keys: ClassVar[bool] = True
    # How one process keeps a second writer out: "file" (an OS lock beside the DuckDB file), "advisory"
    # (a session advisory lock), "lease" (a lease row in the ledger, for engines that have neither).
    writer_lock: ClassVar[str] = "lease"
    # How a CSV file gets into a table: "read_csv" (the engine reads the file), "copy" (COPY FROM STDIN),
    # "load_job" (a warehouse load job), "executemany" (batches of INSERTs: small tables only).
    bulk_load: ClassVar[str] = "executemany"
    # How the export reads rows: "copy" (the engine writes the CSV itself, streamed) or "paged" (rows in pages
    # through the client, written by the connector's CSV writer).
    export_stream: ClassVar[str] = "paged"
    # DML inside BEGIN ... COMMIT is atomic (every ledger transition relies on it where it is true).
    transactional_dml: ClassVar[bool] = True
    # ``UPDATE ... RETURNING`` answers the rows it changed: a ledger transition is then one conditional UPDATE
    # (DuckDB's driver reports no rowcount for an UPDATE, so rowcount is not the test). False: read, then update.
    update_returning: ClassVar[bool] = False
    transactional_ddl: ClassVar[bool] = True
    # ``create table ... as select`` and ``insert ... select`` answer how many rows they wrote (DuckDB: a result
    # row; PostgreSQL: the command tag's rowcount), read by ``rows_written``: pre-flight then skips a view's
    # per-rule statements when no row fails a rule, and counts no inserted rows again. False: unknown.
    reports_rows_written: ClassVar[bool] = False
    # INSERT, UPDATE and DELETE report exactly how many rows they wrote in the DB-API rowcount (BigQuery: the query
    # job's numDmlAffectedRows; Snowflake: its "number of rows inserted / updated / deleted"), read by ``dml_rows``;
    # a ledger transition is then one conditional UPDATE whose rowcount says whether it applied. Not a CTAS's rows
    # (Snowflake's rowcount is then 1, its status line; BigQuery's -1): ``rows_written`` says those.
    dml_rowcount: ClassVar[bool] = False
    # ``UPDATE ... FROM`` reports one per matching source row, not one per row updated (DuckDB): its count cannot say
    # how many rows a statement changed when a row matches twice (the row claim then counts back).
    update_from_counts_matches: ClassVar[bool] = False
    # The isolation level under which every statement of a transaction reads one snapshot (pre-flight: a view's
    # dropped rows and the copy of its rows agree); None where a transaction already does (DuckDB's MVCC).
    snapshot_isolation: ClassVar[str | None] = None
    # Settings for pre-flight's connection while it checks the rules (set before, reset after): planner settings
    # that make the rule pass cheaper and change no answer.
    rule_pass_settings: ClassVar[tuple[str, ...]] = ()
    rule_pass_reset: ClassVar[tuple[str, ...]] = ()
    text_type: ClassVar[str] = "varchar"
    # Column names match whatever their case (BigQuery): a view's ``vanid`` is the catalogue's ``VanID``.
    case_insensitive_columns: ClassVar[bool] = False
    # Why `vanbulk run` (and every command that reads or writes the ledger) refuses this engine for now, in one
    # line; empty when the whole run path is supported and tested.
    run_unsupported: ClassVar[str] = ""
    identifier_quote: ClassVar[str] = '"'

    def dml_rows(self, result: Any) -> int | None:
        """How many rows the INSERT, UPDATE or DELETE behind ``result`` wrote, or None where the engine does not say
        (``reports_rows_written``, ``dml_rowcount``)."""
        if self.reports_rows_written:
            return self.rows_written(result)
        if self.dml_rowcount and result.rowcount is not None and result.rowcount >= 0:
            return int(result.rowcount)
        return None

    def rows_written(self, result: Any) -> int | None:
        """How many rows the statement behind ``result`` (a CTAS or an ``insert ... select``) wrote, or None where
        the engine does not say (``reports_rows_written``)."""
        if not self.reports_rows_written:
            return None
        if result.returns_rows:  # DuckDB: one row, the count
            row = result.fetchone()
            value = row[0] if row else None
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else None

    # -- URLs ---------------------------------------------------------------------------------------
    @classmethod
    def normalise_url(cls, url: str) -> str:
        """The SQLAlchemy URL for a user's warehouse URL (a driver chosen, nothing else changed)."""
        return url

    def create_engine(self, url: str) -> sa.Engine:
        from sqlalchemy.pool import NullPool

        return sa.create_engine(url, poolclass=NullPool, future=True)

    def file_path(self, url: sa.URL) -> str | None:
        """The local database file (DuckDB), else None."""
        return None

    def url_schema(self, url: sa.URL) -> str | None:
        """The default schema when the URL alone says it (no connection: DuckDB's file may be another writer's)."""
        return None

    def default_schema(self, conn: Connection, url: sa.URL) -> str:
        return conn.execute(sa.text("select current_schema()")).scalar_one()

    # -- identifiers, types, expressions ------------------------------------------------------------
    def quote(self, ident: str) -> str:
        q = self.identifier_quote
        return q + ident.replace(q, q + q) + q

    def column_type(self, type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
        return type_.compile(dialect=dialect)

    def md5_hex(self, expr: str) -> str:
        return f"md5({expr})"

    def concat_skipping_nulls(self, parts: Sequence[str]) -> str:
        """Text concatenation in which a NULL part contributes nothing (the row hash rests on it)."""
        return " || ".join(f"coalesce({p}, '')" for p in parts)

    def content_fingerprint_sql(self, relation: str, columns: Sequence[str], group_by: str | None = None
                                ) -> str | None:
        """One row (count, then sums of two independent 64-bit hashes of every row: 128 bits, order-free) that
        differs, but for a hash collision, whenever the multiset of ``relation``'s rows does: a NULL and an
        empty string, a duplicated row, a value moved between columns all count. Pre-flight carries a view's
        check over when it equals the last check's (connector/preflight/reuse.py), the plan its plan
        (connector/ledger/plan_reuse.py). ``group_by``: a column of ``relation``; one row per value of it, that
        value first. None: the engine has no such expression here, and every view is checked on every run."""
        return None

    def _fingerprint_grouping(self, group_by: str | None) -> tuple[str, str]:
        """(select-list prefix, trailing GROUP BY) of ``content_fingerprint_sql``'s ``group_by``."""
        if group_by is None:
            return "", ""
        return f"v.{self.quote(group_by)}, ", f" group by v.{self.quote(group_by)}"

    def matches_icase(self, expr: str, pattern: str) -> str:
        """``expr`` contains a match of the (Python/RE2-style) ``pattern``, ignoring case."""
        return f"regexp_matches({expr}, {_lit(pattern)}, 'i')"

    def try_bigint(self, expr: str) -> str:
        """``expr`` (text) as a bigint, NULL when it is not one (never an error mid-scan)."""
        return f"try_cast({expr} as bigint)"

    def json_text(self, expr: str) -> str:
        """``expr`` (text) as a JSON string literal, as text."""
        return f"cast(to_json({expr}) as {self.text_type})"

    def scratch_table(self, name: str, schema: str) -> tuple[str, str]:
        """``(relation, create prefix)`` for a table one connection fills and drops within a statement sequence:
        ``f"{prefix} {relation} as select ..."``. A temporary table where the engine has them across statements."""
        return self.quote(name), "create temp table"

    def literal(self, value: str) -> str:
        """A string literal in this engine's spelling (GoogleSQL escapes quotes with backslashes, not doubling)."""
        return _lit(value)

    def compile_portable(self, sql: str) -> str:
        """Pre-flight and plan SQL are written in one portable vocabulary (connector/preflight/sql.py); an engine
        that spells some of it differently rewrites it here (BigQuery). Identity by default."""
        return sql

    # -- introspection ------------------------------------------------------------------------------
    def columns(self, conn: Connection, schema: str, name: str) -> list[str] | None:
        """A table's or view's columns in order, or None when it does not exist. One catalogue query: SQLAlchemy's
        ``inspect().get_columns`` costs 0.23 s per view on DuckDB (its pg_catalog emulation), 21 views a run."""
        rows = conn.execute(sa.text(
            "select column_name from information_schema.columns where table_schema = :s and table_name = :n "
            "order by ordinal_position"), {"s": schema, "n": name}).all()
        return [r[0] for r in rows] or None

    def schema_columns(self, conn: Connection, schema: str) -> dict[str, list[str]] | None:
        """Every table's and view's columns in a schema, in order (``{}``: no such schema), in one catalogue
        query: what ``Warehouse.introspection_cached`` keeps for a run. None: the engine cannot say in one query
        (each relation is then asked on its own)."""
        out: dict[str, list[str]] = {}
        for table, column in conn.execute(sa.text(
                "select table_name, column_name from information_schema.columns where table_schema = :s "
                "order by table_name, ordinal_position"), {"s": schema}):
            out.setdefault(table, []).append(column)
        return out

    def relation_exists(self, conn: Connection, schema: str, name: str) -> bool:
        return bool(conn.execute(sa.text(
            "select count(*) from information_schema.tables where table_schema = :s and table_name = :n"),
            {"s": schema, "n": name}).scalar())

    def create_schema_sql(self, schema: str) -> str:
        return f"create schema if not exists {self.quote(schema)}"

    def create_table_sql(self, relation: str, columns: Sequence[tuple[str, str]],
                         primary_key: Sequence[str] = ()) -> str:
        body = ", ".join(f"{self.quote(n)} {t}" for n, t in columns)
        if primary_key and self.enforces_unique_keys:
            body += f", primary key ({', '.join(self.quote(k) for k in primary_key)})"
        return f"create table if not exists {relation} ({body})"

    def add_column_sql(self, relation: str, column: str, type_sql: str) -> str:
        return f"alter table {relation} add column {self.quote(column)} {type_sql}"

    def drop_tables_sql(self, relations: Sequence[str]) -> list[str]:
        """Statements that drop every table of ``relations`` that exists: one each here; one for all where the
        engine drops several in one statement (PostgreSQL)."""
        return [f"drop table if exists {r}" for r in relations]

    def replace_table_as_sql(self, relation: str, select: str) -> list[str]:
        """Statements that fill ``relation`` from ``select``, replacing a table of that name: drop + create here;
        one ``create or replace table`` where the engine has it (one statement less per view per run)."""
        return [f"drop table if exists {relation}", f"create table {relation} as {select}"]

    # -- bulk paths -----------------------------------------------------------------------------------
    @abstractmethod
    def csv_relation(self, conn: Connection, path: Path, ncols: int, name: str) -> str:
        """A relation over a CSV file (header line, every field quoted, RFC 4180) whose text columns are ``c0`` ..
        ``c{ncols-1}``; a quoted empty field is '' and an unquoted one NULL. Lives for the transaction."""

    def release_relation(self, conn: Connection, relation: str) -> None:
        """A ``csv_relation`` or ``scratch_table`` is done with: drop it where it would outlive its use (BigQuery's
        dataset tables, later and together; Snowflake's temporary tables, which live for a pooled session); a
        temporary table goes with its transaction (``on commit drop``) or its connection (closed after each use:
        NullPool) by itself."""

    def drop_released(self, warehouse: Any) -> None:
        """Drop what ``release_relation`` left for later (an engine that drops them together when the warehouse
        closes); nothing here."""

    @abstractmethod
    def copy_into(self, conn: Connection, relation: str, columns: Sequence[str], path: Path) -> None:
        """Append a CSV file (header of ``columns``; NULL an unquoted empty field) to a typed table."""

    def refresh_statistics(self, conn: Connection, relations: Sequence[str]) -> None:
        """After a bulk fill of ``relations``, inside its transaction: planner statistics where the engine's planner
        needs them (PostgreSQL; connector/ledger/stats.py says why). Nothing by default."""

    def ensure_indexes(self, conn: Connection, schema: str, indexes: Mapping[str, Sequence[Sequence[str]]],
                       relation: Callable[[str], str], fillfactor: Mapping[str, int] | None = None) -> list[str]:
        """Create the missing ``table -> column lists`` indexes (``<table>_<cols>_idx``) and give the tables of
        ``fillfactor`` (``table -> percent``) that share of each page, the rest left for updated row versions;
        returns the names of the indexes created. Nothing where neither helps (DuckDB: hash joins without indexes,
        slower bulk loads with them, no heap pages; BigQuery has neither)."""
        return []

    @contextmanager
    def copy_out(self, warehouse: Any, rows_query: str, workdir: Path, *, memory_limit: str | None
                 ) -> Iterator[tuple[Iterator[bytes], bool]]:
        """``(blocks of CSV rows without a header, rows end in LF only)`` written by the engine itself. Called only
        for ``export_stream == "copy"``; a "paged" engine's rows go through ``Warehouse.stream`` and the
        connector's CSV writer (connector/export.py), so it has none."""
        raise NotImplementedError(f"{self.name} exports {self.export_stream}: no engine-side CSV export")
        yield  # pragma: no cover

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return False

    def is_concurrent_update(self, exc: BaseException) -> bool:
        """A statement lost a race with another transaction's DML on the same table (retry or give up)."""
        return False

    # -- the one-writer lock --------------------------------------------------------------------------
    def try_lock(self, warehouse: Any, *, key: int, holder: Mapping[str, Any]) -> tuple[LockHeld | None, dict | None]:
        """``(held, None)`` or ``(None, who holds it if known)``."""
        return LockHeld(lambda: None), None

    # -- dbt -----------------------------------------------------------------------------------------
    @abstractmethod
    def url_from_profile(self, out: Mapping[str, Any], dbt_dir: Path, where: str) -> tuple[str, str]:
        """``(warehouse URL, schema)`` from a rendered dbt profile output of this engine's ``type``."""

    @abstractmethod
    def dbt_env(self, url: str, project_dir: Path, schema_hint: str | None) -> dict[str, str]:
        """The ``VANBULK_*`` variables the packaged profiles.yml reads to reach the same warehouse."""

    def location(self, url: str, base: Path | None) -> str:
        """Where the data lives, without credentials (to compare two URLs)."""
        parts = sa.make_url(url)
        return f"{parts.host}:{parts.port}/{parts.database}"


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
