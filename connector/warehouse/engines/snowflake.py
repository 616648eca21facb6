"""Snowflake: upper-case folding of plain names, stages for bulk loads, no enforced keys, no advisory locks.

Reached as ``snowflake://USER[:PASSWORD]@ACCOUNT/DATABASE/SCHEMA?warehouse=WH&role=ROLE`` (snowflake-sqlalchemy's
URL; ``&private_key_file=/path/key.p8`` for key-pair authentication; ``&host=...&port=...&protocol=http`` reach
another endpoint, e.g. a local emulator), or a dbt profile with ``type: snowflake``. ``pip install
'vanbulk[snowflake]'``. The password travels only in the URL's password part (redacted wherever the URL is shown)
and, for dbt, in ``DBT_ENV_SECRET_SF_PASSWORD``.

Names: Snowflake folds an unquoted name to upper case. dbt creates the views, their schemas and ``source_row_key``
unquoted (``STG_VAN__EMAIL``, ``SOURCE_ROW_KEY``) and VAN's columns quoted as they are (``"VanID"``). So here a
*plain lower-case name* (``[a-z_][a-z0-9_$]*``, every name vanbulk itself makes) is written unquoted and folds as
dbt's do; any other name (``VanID``, ``DOB``) is quoted exactly. The catalogue answers folded names; they are read
back in lower case (as snowflake-sqlalchemy does), and columns match whatever their case
(``case_insensitive_columns``). A user's own lower-case *quoted* column would not be found: a known limit.

What Snowflake does not give, and what stands in for it (as on BigQuery):

* **No enforced primary key.** The row claim is one ``MERGE`` (connector/ledger/claim.py); its exclusivity between
  processes rests on the one-writer lock.
* **No advisory lock.** The writer lock is a table of its own taken with ``CREATE TABLE`` (atomic: of two racing
  processes exactly one creates it) holding a lease row renewed while the holder lives (``try_lock``).
* **Bulk loads** go through a temporary stage: ``PUT`` of the CSV file, then one ``COPY INTO`` (never row by row).
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import quote as urlquote, urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.errors import ConfigError
from connector.warehouse.engines.base import Engine, LockHeld
from connector.warehouse.engines.lease import LEASE_SECONDS, LOCK_TABLE, LeaseSpelling, lease_lock, lock_table  # noqa: F401

__all__ = ["LEASE_SECONDS", "LOCK_TABLE", "SnowflakeEngine", "sf_literal"]

log = logging.getLogger(__name__)


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")
_QUOTED_PLAIN = re.compile(r'"([a-z_][a-z0-9_$]*)"')  # a quoted plain name in portable SQL: dbt made it unquoted
_BIND = re.compile(r"(?<![:\\\w]):(\w+)")  # a sqlalchemy.text bind parameter (not ::, not \\:)
_BIND_MARK = "vanbulk_bind__"
_CONNECT_KEYS = ("host", "port", "protocol")  # URL query keys for another endpoint (an emulator, a private link)
_OWN_KEYS = (*_CONNECT_KEYS, "private_key_file")  # snowflake-sqlalchemy refuses these in a URL's query
DRIVER = "vanbulk"
_RESERVED = frozenset({  # Snowflake's reserved words: quoted even when plain (e.g. a column named "order")
    "account", "all", "alter", "and", "any", "as", "between", "by", "case", "cast", "check", "column", "connect",
    "connection", "constraint", "create", "cross", "current", "current_date", "current_time", "current_timestamp",
    "current_user", "database", "delete", "distinct", "drop", "else", "exists", "false", "following", "for", "from",
    "full", "grant", "group", "gscluster", "having", "ilike", "in", "increment", "inner", "insert", "intersect",
    "into", "is", "issue", "join", "lateral", "left", "like", "localtime", "localtimestamp", "minus", "natural",
    "not", "null", "of", "on", "or", "order", "organization", "qualify", "regexp", "revoke", "right", "rlike", "row",
    "rows", "sample", "schema", "select", "set", "some", "start", "table", "tablesample", "then", "to", "trigger",
    "true", "try_cast", "union", "unique", "update", "using", "values", "view", "when", "whenever", "where", "with"})


def sf_literal(v: Any) -> str:
    """A Snowflake string literal: a single-quoted string in which a backslash is an escape character."""
    s = str(v).replace("\\", "\\\\").replace("'", "''")
    return "'" + s.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t").replace("\x00", "\\0") + "'"


def _fold(name: str) -> str:
    """The name as Snowflake's catalogue holds it (a plain name unquoted: upper case)."""
    return name.upper() if _PLAIN.match(name) and name not in _RESERVED else name


def _unfold(name: str) -> str:
    """A catalogue name as vanbulk spells it (snowflake-sqlalchemy's ``normalize_name``)."""
    return name.lower() if name == name.upper() and _PLAIN.match(name.lower()) else name


class SnowflakeEngine(Engine):
    name = "snowflake"
    dbt_type = "snowflake"
    url_schemes = ("snowflake",)
    url_example = "snowflake://USER:PASSWORD@ACCOUNT/DATABASE/SCHEMA[?warehouse=WH&role=ROLE]"
    enforces_unique_keys = False
    writer_lock = "lease"
    bulk_load = "stage"
    export_stream = "paged"
    transactional_dml = True
    dml_rowcount = True
    transactional_ddl = False  # DDL commits the open transaction
    text_type = "varchar"
    case_insensitive_columns = True

    # -- URLs ---------------------------------------------------------------------------------------
    @classmethod
    def normalise_url(cls, url: str) -> str:
        """``snowflake://`` -> ``snowflake+vanbulk://``: snowflake-sqlalchemy's dialect with the URL keys it takes
        only as connect arguments (``_dialect`` below), so Great Expectations, which builds its own engine from
        the URL, reaches the same endpoint as the ledger."""
        return "snowflake+" + DRIVER + url[len("snowflake"):] if url.startswith("snowflake://") else url

    def create_engine(self, url: str) -> sa.Engine:
        """Pooled sessions (not NullPool): a Snowflake connection is a login (an HTTP round trip, and on a real
        account a few hundred milliseconds); a demo run opens about 420 connections. A session's temporary
        tables and stage outlive a checkout, so every scratch relation has a name of its own and is dropped by
        ``release_relation``; the pool rolls back what a returned connection left open."""
        register()
        return sa.create_engine(self.normalise_url(url), pool_size=2, max_overflow=6, pool_recycle=3000,
                                future=True)

    def url_schema(self, url: sa.URL) -> str | None:
        db, _, schema = (url.database or "").strip("/").partition("/")
        if not db or not schema:
            raise ConfigError("a Snowflake URL names its database and schema: snowflake://USER@ACCOUNT/DATABASE/SCHEMA")
        return _unfold(schema)

    def default_schema(self, conn: Connection, url: sa.URL) -> str:
        return _unfold(conn.execute(sa.text("select current_schema()")).scalar_one())

    # -- identifiers, types, expressions ------------------------------------------------------------
    def content_fingerprint_sql(self, relation: str, columns: Sequence[str], group_by: str | None = None
                                ) -> str | None:
        # HASH of several values (NULL hashed as such), its low 60 bits (the emulator's HASH is unsigned 64-bit and
        # will not cast to NUMBER), summed: NUMBER(38), no overflow
        cols = ", ".join(f"v.{self.quote(c)}" for c in columns)
        sums = [f"to_varchar(sum(cast(hash({args}) % 1152921504606846976 as number(38, 0))))"
                for args in (cols, "'vanbulk', " + cols)]
        key, tail = self._fingerprint_grouping(group_by)
        return f"select {key}count(*), {', '.join(sums)} from {relation} v{tail}"

    def quote(self, ident: str) -> str:
        if _PLAIN.match(ident) and ident not in _RESERVED:
            return ident
        return '"' + ident.replace('"', '""') + '"'

    def column_type(self, type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
        if isinstance(type_, sa.DateTime):
            return "TIMESTAMP_NTZ"  # the ledger's naive UTC timestamps
        if isinstance(type_, sa.String):
            return "VARCHAR"
        return type_.compile(dialect=dialect)

    def literal(self, value: str) -> str:
        return sf_literal(value)

    def matches_icase(self, expr: str, pattern: str) -> str:
        # REGEXP_LIKE matches the whole text; REGEXP_INSTR finds a match anywhere, as regexp_matches does
        return f"(regexp_instr({expr}, {sf_literal(pattern)}, 1, 1, 0, 'i') > 0)"

    def try_bigint(self, expr: str) -> str:
        # TRY_TO_NUMBER would round '12.5' to 13; only whole numbers are bigints
        return (f"try_to_number(case when regexp_like({expr}, '[ ]*[+-]?[0-9]+[ ]*') then trim({expr}) end)")

    def json_text(self, expr: str) -> str:
        return f"to_json(to_variant({expr}))"

    def scratch_table(self, name: str, schema: str) -> tuple[str, str]:
        """A temporary table (it lives for the session: one connection), named apart per use."""
        return f"{name}_{uuid.uuid4().hex[:8]}", "create temporary table"

    def compile_portable(self, sql: str) -> str:
        """The portable pre-flight/plan vocabulary in Snowflake's spelling: sqlglot (pinned) rewrites ``strpos``,
        ``chr`` and string escapes; a quoted plain lower-case name is written unquoted first (dbt made
        ``source_row_key`` unquoted: ``SOURCE_ROW_KEY``). Trusted only for that narrow vocabulary, which the
        golden-result tests run on every engine and compare (docs/warehouses.md)."""
        import sqlglot

        protected = sql.replace("\\:", "\ue000")
        protected = _BIND.sub(lambda m: f"{_BIND_MARK}{m.group(1)}", protected)
        protected = _QUOTED_PLAIN.sub(lambda m: m.group(1) if m.group(1) not in _RESERVED else m.group(0), protected)
        out = sqlglot.transpile(protected, read="postgres", write="snowflake",
                                unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
        out = re.sub(rf"\b{_BIND_MARK}(\w+)", r":\1", out)
        return out.replace("\ue000", "\\:")

    # -- introspection ------------------------------------------------------------------------------
    def columns(self, conn: Connection, schema: str, name: str) -> list[str] | None:
        rows = conn.execute(sa.text(
            "select column_name from information_schema.columns where table_schema = :s and table_name = :n "
            "order by ordinal_position"), {"s": _fold(schema), "n": _fold(name)}).all()
        return [_unfold(r[0]) for r in rows] or None

    def schema_columns(self, conn: Connection, schema: str) -> dict[str, list[str]] | None:
        out: dict[str, list[str]] = {}
        for table, column in conn.execute(sa.text(
                "select table_name, column_name from information_schema.columns where table_schema = :s "
                "order by table_name, ordinal_position"), {"s": _fold(schema)}):
            out.setdefault(_unfold(table), []).append(_unfold(column))
        return out

    def relation_exists(self, conn: Connection, schema: str, name: str) -> bool:
        # information_schema.columns: views are in it (and in .views), tables too; one query for both
        return self.columns(conn, schema, name) is not None

    def create_table_sql(self, relation: str, columns: Sequence[tuple[str, str]],
                         primary_key: Sequence[str] = ()) -> str:
        return super().create_table_sql(relation, columns, ())  # not enforced: the claim MERGE guards instead

    def replace_table_as_sql(self, relation: str, select: str) -> list[str]:
        return [f"create or replace table {relation} as {select}"]

    # -- bulk paths ---------------------------------------------------------------------------------
    def _stage_file(self, conn: Connection, path: Path) -> str:
        """PUT the file into this session's temporary stage; returns its location (``@stage/dir``)."""
        stage = "vanbulk_load"
        conn.exec_driver_sql(f"create temporary stage if not exists {stage}")
        where = f"@{stage}/{uuid.uuid4().hex}"
        target = Path(path).resolve().as_posix().replace("'", "\\'")
        conn.exec_driver_sql(f"put 'file://{target}' {where} auto_compress = true overwrite = true")
        return where

    def copy_into(self, conn: Connection, relation: str, columns: Sequence[str], path: Path) -> None:
        """One ``PUT`` + one ``COPY INTO`` (RFC 4180: every field may be quoted; ``""`` loads as '', an unquoted
        empty field as NULL)."""
        where = self._stage_file(conn, path)
        collist = ", ".join(self.quote(c) for c in columns)
        conn.exec_driver_sql(
            f"copy into {relation} ({collist}) from {where} file_format = (type = csv skip_header = 1 "
            "field_optionally_enclosed_by = '\"' empty_field_as_null = true null_if = () "
            "escape_unenclosed_field = none) on_error = abort_statement purge = true")

    def csv_relation(self, conn: Connection, path: Path, ncols: int, name: str) -> str:
        table = f"vanbulk_{name}_{uuid.uuid4().hex[:12]}"
        conn.execute(sa.text(f"create temporary table {table} ("
                             + ", ".join(f"c{i} varchar" for i in range(ncols)) + ")"))
        self.copy_into(conn, table, [f"c{i}" for i in range(ncols)], path)
        return table

    def release_relation(self, conn: Connection, relation: str) -> None:
        conn.execute(sa.text(f"drop table if exists {relation}"))  # a temporary table outlives the transaction

    def is_concurrent_update(self, exc: BaseException) -> bool:
        text = str(exc).lower()
        return any(w in text for w in ("was aborted because of a deadlock", "lock wait timeout",
                                       "write-write conflict", "concurrent update"))

    # -- the one-writer lock --------------------------------------------------------------------------
    def lock_table(self, key: int) -> str:
        return lock_table(key)

    def lease_spelling(self) -> LeaseSpelling:
        return LeaseSpelling("varchar", "timestamp_ntz", "sysdate()", "datediff(second, renewed_at, sysdate())",
                             lambda rel, sets, holder: f"update {rel} set {sets} where holder = {holder}")

    def try_lock(self, warehouse: Any, *, key: int, holder: Mapping[str, Any]) -> tuple[LockHeld | None, dict | None]:
        """A lease table (connector/warehouse/engines/lease.py), as on BigQuery."""
        return lease_lock(self, warehouse, key=key, holder=holder)

    # -- dbt ----------------------------------------------------------------------------------------
    def url_from_profile(self, out: Mapping[str, Any], dbt_dir: Path, where: str) -> tuple[str, str]:
        """dbt-snowflake's keys: ``account``, ``user``, ``password`` or ``private_key_path`` (an unencrypted
        key; a passphrase is not supported yet), ``database``, ``schema``, ``warehouse``, ``role``; ``host``,
        ``port`` and ``protocol`` for another endpoint."""
        account, user = out.get("account"), out.get("user")
        database, schema = out.get("database"), out.get("schema")
        if not (account and user and database and schema):
            raise ConfigError(f"{where}: a Snowflake target needs account, user, database and schema")
        if out.get("private_key_passphrase"):
            raise ConfigError(f"{where}: an encrypted private key (private_key_passphrase) is not supported by "
                              "vanbulk yet; use an unencrypted key file or a password")
        auth = str(out.get("authenticator") or "snowflake").lower()
        if auth not in ("snowflake", "snowflake_jwt"):
            raise ConfigError(f"{where}: authenticator {auth!r} is not supported by vanbulk yet; use a password "
                              "or private_key_path")
        q: dict[str, str] = {}
        for k in ("warehouse", "role"):
            if out.get(k):
                q[k] = str(out[k])
        if out.get("private_key_path"):
            q["private_key_file"] = str(Path(str(out["private_key_path"])).expanduser())
        for k in _CONNECT_KEYS:
            if out.get(k):
                q[k] = str(out[k])
        cred = urlquote(str(user), safe="")
        if out.get("password"):
            cred += ":" + urlquote(str(out["password"]), safe="")
        url = (f"snowflake://{cred}@{urlquote(str(account), safe='')}/{urlquote(str(database), safe='')}/"
               f"{urlquote(str(schema), safe='')}")
        return url + ("?" + urlencode(q) if q else ""), str(schema)

    def dbt_env(self, url: str, project_dir: Path, schema_hint: str | None) -> dict[str, str]:
        """For a profile whose ``type: snowflake`` output reads them (docs/warehouses.md, Snowflake)."""
        parts = sa.make_url(url)
        db, _, schema = (parts.database or "").strip("/").partition("/")
        env = {"VANBULK_SF_ACCOUNT": parts.host or "", "VANBULK_SF_USER": parts.username or "",
               "VANBULK_SF_DATABASE": db, "VANBULK_SF_SCHEMA": schema or (schema_hint or "")}
        for k in ("warehouse", "role", "host", "port", "protocol"):
            if parts.query.get(k):
                env[f"VANBULK_SF_{k.upper()}"] = str(parts.query[k])
        if parts.query.get("private_key_file"):
            env["VANBULK_SF_PRIVATE_KEY_PATH"] = str(parts.query["private_key_file"])
        env["DBT_ENV_SECRET_SF_PASSWORD"] = parts.password or ""  # only ever in a DBT_ENV_SECRET_ variable
        return env

    def location(self, url: str, base: Path | None) -> str:
        parts = sa.make_url(url)
        where = parts.host or ""
        if parts.query.get("host"):
            where += f"@{parts.query['host']}:{parts.query.get('port', '')}"
        return f"{where}/{(parts.database or '').strip('/')}"


# -- the SQLAlchemy dialect ---------------------------------------------------------------------------
def _plain_params(params: Any) -> Any:
    """Bound values the connector can render: a ``str`` enum (``RunStatus``) as its text."""
    import enum

    if isinstance(params, Mapping):
        return {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return type(params)(v.value if isinstance(v, enum.Enum) else v for v in params)
    return params


_READ = re.compile(r"\s*(?:\(\s*)*(?:select|show|describe|desc)\b", re.I)  # what cannot start a write
_WROTE = "_vanbulk_wrote"  # on the DBAPI connection: a statement other than a read since its last commit/rollback


def _note(dbapi_connection: Any, statement: str) -> None:
    if not _READ.match(statement) or " for update" in statement.lower():
        setattr(dbapi_connection, _WROTE, True)


def _raw(connection: Any) -> Any:
    """The driver's connection behind SQLAlchemy's pool proxies (what a cursor's ``.connection`` is)."""
    return getattr(connection, "dbapi_connection", None) or connection


def _dialect_class():
    try:
        from snowflake.sqlalchemy.snowdialect import SnowflakeDialect
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ConfigError("Snowflake needs its client: pip install 'vanbulk[snowflake]'") from None

    class VanbulkSnowflakeDialect(SnowflakeDialect):
        """snowflake-sqlalchemy's dialect (name ``snowflake``: SQLAlchemy and GX compile Snowflake SQL) that takes
        ``host``, ``port``, ``protocol`` and ``private_key_file`` from the URL's query as connect arguments.
        snowflake-sqlalchemy refuses them there so that whoever controls only a URL cannot redirect the
        connection; vanbulk's URL is its user's own configuration (vanbulk.yml, the environment, the dbt
        profile), which names the warehouse anyway."""

        driver = DRIVER
        supports_statement_cache = True

        @classmethod
        def import_dbapi(cls):
            from snowflake import connector

            return connector

        def create_connect_args(self, url: sa.URL):
            own = {k: url.query[k] for k in _OWN_KEYS if k in url.query}
            cargs, opts = super().create_connect_args(url.difference_update_query(_OWN_KEYS))
            if "host" in own:
                opts["host"] = own["host"]
                opts["port"] = int(own.get("port") or 443)
            if "protocol" in own:
                opts["protocol"] = own["protocol"]
            if "private_key_file" in own:
                opts["private_key_file"] = own["private_key_file"]
                opts["authenticator"] = "SNOWFLAKE_JWT"
            return cargs, opts

        # Every COMMIT and ROLLBACK is a statement sent to Snowflake (a round trip), and SQLAlchemy ends each
        # connection it returns to the pool with one: a third of a demo run's statements were ROLLBACKs of
        # connections that had only read. A connection that sent nothing but reads since its last COMMIT or
        # ROLLBACK has nothing to end: it skips them. (A read leaves no lock, and under READ COMMITTED each
        # statement sees what was committed when it started, so an open read-only transaction changes nothing;
        # the next write on the connection, or DDL, ends it.)
        def do_execute(self, cursor, statement, parameters, context=None):
            _note(cursor.connection, statement)
            super().do_execute(cursor, statement, _plain_params(parameters), context)

        def do_execute_no_params(self, cursor, statement, context=None):
            _note(cursor.connection, statement)
            super().do_execute_no_params(cursor, statement, context)

        def do_executemany(self, cursor, statement, parameters, context=None):
            _note(cursor.connection, "")
            super().do_executemany(cursor, statement, [_plain_params(p) for p in parameters], context)

        def do_commit(self, dbapi_connection):
            raw = _raw(dbapi_connection)
            if getattr(raw, _WROTE, False):
                super().do_commit(dbapi_connection)  # (if it fails, the flag stays: the rollback is sent)
            setattr(raw, _WROTE, False)

        def do_rollback(self, dbapi_connection):
            raw = _raw(dbapi_connection)
            wrote = getattr(raw, _WROTE, False)
            setattr(raw, _WROTE, False)
            if wrote:
                super().do_rollback(dbapi_connection)

    return VanbulkSnowflakeDialect


_DIALECT: list[type] = []


def __getattr__(name: str):  # the dialect class is made on first use: snowflake-sqlalchemy is an extra
    if name == "VanbulkSnowflakeDialect":
        if not _DIALECT:
            _DIALECT.append(_dialect_class())
        return _DIALECT[0]
    raise AttributeError(name)


def register() -> None:
    from sqlalchemy.dialects import registry

    registry.register(f"snowflake.{DRIVER}", __name__, "VanbulkSnowflakeDialect")
