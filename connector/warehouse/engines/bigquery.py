"""BigQuery: datasets for schemas, backticks, GoogleSQL spellings, load jobs, no enforced keys, no advisory locks.

Reached as ``bigquery://PROJECT/DATASET`` (``?location=EU``, ``?credentials_path=key.json``; without a key file
the client uses Application Default Credentials, as ``gcloud auth application-default login`` leaves them;
``?api_endpoint=http://127.0.0.1:9050&anonymous=true`` reaches a local emulator). ``pip install
'vanbulk[bigquery]'``.

What BigQuery does not give, and what stands in for it:

* **No enforced primary key.** A row is claimed before its POST with one ``MERGE ... WHEN NOT MATCHED THEN
  INSERT`` whose source is empty when any of the job's rows is held (connector/ledger/claim.py). Two claims
  racing with no lock between them could both insert a new row (concurrent inserts do not conflict), so on
  BigQuery the claim's exclusivity between processes rests on the one-writer lock every command takes first.
* **No advisory lock.** The one-writer lock is a table of its own taken with ``CREATE TABLE`` (atomic), holding
  a lease row renewed while the command runs; a lease not renewed for ``LEASE_SECONDS`` belongs to a dead
  process and is taken over (``try_lock``).
* **Bound parameters are rendered as literals** by this module's DB-API cursor (GoogleSQL escaping), so one code
  path serves BigQuery and the local emulator (which takes no query parameters).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.errors import ConfigError, WarehouseError
from connector.warehouse.engines.base import Engine, LockHeld
from connector.warehouse.engines.lease import (LEASE_SECONDS, LOCK_TABLE, LeaseSpelling,  # noqa: F401
                                              lease_lock, lock_table)


__all__ = ["BigQueryEngine", "LEASE_SECONDS", "LOCK_TABLE", "bq_literal", "render_params"]

log = logging.getLogger(__name__)


_BACKTICKED = re.compile(r"`([^`\\']*)`")  # relations this engine quoted, read back as ANSI identifiers
_BIND = re.compile(r"(?<![:\\\w]):(\w+)")  # a sqlalchemy.text bind parameter (not ::, not \\:)
_BIND_MARK = "vanbulk_bind__"
_PLACEHOLDER = re.compile(r"%\((\w+)(?::[^)]*)?\)s|%%")


def bq_literal(v: Any) -> str:
    """A GoogleSQL literal for a Python value (the escapes of GoogleSQL's quoted strings)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (float, decimal.Decimal)):
        return repr(float(v)) if isinstance(v, float) else f"NUMERIC '{v}'"
    if isinstance(v, dt.datetime):  # naive: UTC, the ledger's convention
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    s = str(v)
    out = []
    for ch in s:
        if ch in ("\\", "'", '"'):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def render_params(operation: str, parameters: Mapping[str, Any] | Sequence[Any] | None) -> str:
    """``%(name:TYPE)s`` placeholders (sqlalchemy-bigquery's pyformat) replaced by literals; ``%%`` -> ``%``."""
    params = parameters or {}

    def sub(m: re.Match) -> str:
        if m.group(0) == "%%":
            return "%"
        name = m.group(1)
        if name not in params:
            raise WarehouseError(f"no value for the query parameter {name!r}")
        return bq_literal(params[name])

    return _PLACEHOLDER.sub(sub, operation)


class _Cursor:
    """The DB-API cursor SQLAlchemy needs, over ``google.cloud.bigquery.Client.query``."""

    arraysize = 10_000

    def __init__(self, client):
        self._client = client
        self.description = None
        self.rowcount = -1
        self._rows: Iterator[tuple] = iter(())

    def execute(self, operation: str, parameters=None, **_ignored) -> None:
        from google.api_core import exceptions as gexc

        sql = render_params(operation, parameters)
        try:
            job = self._client.query(sql)
            result = job.result(page_size=self.arraysize)
        except gexc.GoogleAPICallError as exc:  # DB-API's own error: SQLAlchemy wraps it as sa.exc.DatabaseError
            from google.cloud.bigquery.dbapi import exceptions as dbapi_exc

            raise dbapi_exc.DatabaseError(_message(exc)) from exc
        self.rowcount = job.num_dml_affected_rows if job.num_dml_affected_rows is not None else -1
        schema = result.schema or []
        self.description = [(f.name, f.field_type, None, None, None, None, f.mode != "REQUIRED") for f in schema] \
            if schema else None
        self._rows = (tuple(r.values()) for r in result)

    def executemany(self, operation: str, seq) -> None:
        for params in seq:
            self.execute(operation, params)

    def fetchone(self):
        return next(self._rows, None)

    def fetchmany(self, size: int | None = None):
        size = size or self.arraysize
        out = []
        for row in self._rows:
            out.append(row)
            if len(out) >= size:
                break
        return out

    def fetchall(self):
        return list(self._rows)

    def close(self) -> None:
        self._rows = iter(())

    def setinputsizes(self, *a) -> None:
        """DB-API: sizes are a hint this cursor does not need."""

    def setoutputsizes(self, *a) -> None:
        """DB-API: as ``setinputsizes``."""


def _message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message"))
    return text or getattr(exc, "message", None) or str(exc)


class _Connection:
    """DB-API connection: BigQuery has no transactions across statements sent one by one, so commit and
    rollback do nothing (``BigQueryEngine.transactional_dml`` says so, and the ledger's claim does not rely on
    them)."""

    def __init__(self, client):
        self._client = client

    def cursor(self) -> _Cursor:
        return _Cursor(self._client)

    def commit(self) -> None:
        """Nothing to commit: each statement took effect when it ran."""

    def rollback(self) -> None:
        """Nothing to roll back (see the class doc)."""

    def close(self) -> None:
        """The client is shared by the engine's connections and closed with it."""


def bigquery_client(url: sa.URL | str):
    """A ``google.cloud.bigquery.Client`` for ``bigquery://PROJECT/DATASET?...`` (module doc)."""
    try:
        from google.cloud import bigquery
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ConfigError("BigQuery needs its client: pip install 'vanbulk[bigquery]'") from None
    parts = urlsplit(str(url))
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    project = parts.hostname or q.get("project")
    if not project:
        raise ConfigError("a BigQuery URL names its project: bigquery://PROJECT/DATASET")
    options = {"api_endpoint": q["api_endpoint"]} if q.get("api_endpoint") else None
    if q.get("anonymous", "").lower() == "true":
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    elif q.get("credentials_path"):
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(q["credentials_path"])
    else:
        credentials = None  # Application Default Credentials
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return bigquery.Client(project=project, credentials=credentials, location=q.get("location"),
                               client_options=options)
    except DefaultCredentialsError:
        raise ConfigError(f"BigQuery project {project}: no credentials found; run `gcloud auth application-default "
                          "login`, or give the dbt profile `method: service-account` and a `keyfile`") from None


class BigQueryEngine(Engine):
    name = "bigquery"
    dbt_type = "bigquery"
    url_schemes = ("bigquery",)
    url_example = "bigquery://PROJECT/DATASET[?location=EU&credentials_path=key.json]"
    enforces_unique_keys = False
    writer_lock = "lease"
    bulk_load = "load_job"
    export_stream = "paged"
    transactional_dml = False
    dml_rowcount = True
    transactional_ddl = False
    text_type = "string"
    case_insensitive_columns = True
    identifier_quote = "`"

    def create_engine(self, url: str) -> sa.Engine:
        from sqlalchemy.pool import NullPool

        try:
            from connector.warehouse.engines.bigquery_dialect import dialect_url
        except ImportError:  # pragma: no cover - the extra is not installed
            raise ConfigError("BigQuery needs its client: pip install 'vanbulk[bigquery]'") from None
        return sa.create_engine(dialect_url(url), poolclass=NullPool, future=True)

    def url_schema(self, url: sa.URL) -> str | None:
        dataset = (url.database or "").strip("/")
        if not dataset:
            raise ConfigError("a BigQuery URL names its dataset: bigquery://PROJECT/DATASET")
        return dataset

    def quote(self, ident: str) -> str:
        return "`" + ident.replace("\\", "\\\\").replace("`", "\\`") + "`"

    def column_type(self, type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
        """The ledger's naive UTC timestamps are TIMESTAMP (an instant: what ``current_timestamp()`` in the dbt
        monitoring models compares with), not DATETIME; text is STRING without a length."""
        if isinstance(type_, sa.DateTime):
            return "TIMESTAMP"
        if isinstance(type_, sa.String):
            return "STRING"
        return type_.compile(dialect=dialect)

    def scratch_table(self, name: str, schema: str) -> tuple[str, str]:
        """A table in the dataset with a day's expiration: BigQuery's temporary tables live only inside one
        multi-statement script. Its name carries a random part, so two connections never share one."""
        rel = f"{self.quote(schema)}.{self.quote(f'{name}_{uuid.uuid4().hex[:8]}')}"
        return rel, "create table"

    def literal(self, value: str) -> str:
        return bq_literal(value)

    def md5_hex(self, expr: str) -> str:
        return f"to_hex(md5({expr}))"

    def content_fingerprint_sql(self, relation: str, columns: Sequence[str], group_by: str | None = None
                                ) -> str | None:
        # The row as JSON (null apart from ""); its md5 as two 60-bit integers (hex casts to INT64), summed as
        # NUMERIC. (FARM_FINGERPRINT would do on BigQuery; the emulator the tests use lacks it.)
        row = f"to_json_string(struct({', '.join(f'v.{self.quote(c)}' for c in columns)}))"
        part = lambda at: f"cast(concat('0x', substr(to_hex(md5({row})), {at}, 15)) as int64)"  # noqa: E731
        key, tail = self._fingerprint_grouping(group_by)
        return (f"select {key}count(*), cast(sum(cast({part(1)} as numeric)) as string), "
                f"cast(sum(cast({part(16)} as numeric)) as string) from {relation} v{tail}")

    def matches_icase(self, expr: str, pattern: str) -> str:
        return f"regexp_contains({expr}, {bq_literal('(?i)' + pattern)})"

    def try_bigint(self, expr: str) -> str:
        return f"safe_cast({expr} as int64)"

    def json_text(self, expr: str) -> str:
        return f"to_json_string({expr})"

    def compile_portable(self, sql: str) -> str:
        """The portable pre-flight/plan vocabulary in GoogleSQL: sqlglot (pinned) rewrites identifiers to
        backticks and ``varchar`` to ``STRING``; it is trusted only for that narrow vocabulary, which the
        golden-result tests run on DuckDB, PostgreSQL and the emulator and compare (docs/warehouses.md)."""
        import sqlglot

        protected = sql.replace("\\:", "\ue000")  # sqlalchemy.text's escaped colons survive the round trip
        protected = _BIND.sub(lambda m: f"{_BIND_MARK}{m.group(1)}", protected)  # and its :binds (not @params)
        protected = _BACKTICKED.sub(lambda m: '"' + m.group(1).replace('"', '""') + '"', protected)
        out = sqlglot.transpile(protected, read="postgres", write="bigquery",
                                unsupported_level=sqlglot.ErrorLevel.RAISE)[0]
        out = re.sub(rf"\b{_BIND_MARK}(\w+)", r":\1", out)
        return out.replace("\ue000", "\\:")

    # -- introspection ------------------------------------------------------------------------------
    def columns(self, conn: Connection, schema: str, name: str) -> list[str] | None:
        from google.api_core.exceptions import NotFound

        client = conn.connection.dbapi_connection._client
        try:
            table = client.get_table(f"{client.project}.{schema}.{name}")
        except NotFound:
            return None
        return [f.name for f in table.schema] or None

    def relation_exists(self, conn: Connection, schema: str, name: str) -> bool:
        return self.columns(conn, schema, name) is not None

    def schema_columns(self, conn: Connection, schema: str) -> dict[str, list[str]] | None:
        return None  # API calls per table (get_table), not a catalogue query: nothing to gain from a cache

    def create_table_sql(self, relation: str, columns: Sequence[tuple[str, str]],
                         primary_key: Sequence[str] = ()) -> str:
        return super().create_table_sql(relation, columns, ())  # not enforced: the claim MERGE guards instead

    def replace_table_as_sql(self, relation: str, select: str) -> list[str]:
        return [f"create or replace table {relation} as {select}"]

    def drop_tables_sql(self, relations: Sequence[str]) -> list[str]:
        # DROP TABLE names one table; a multi-statement script is one query job (one round trip, not one each)
        return ["; ".join(f"drop table if exists {r}" for r in relations)] if relations else []

    # -- bulk paths ---------------------------------------------------------------------------------
    def copy_into(self, conn: Connection, relation: str, columns: Sequence[str], path: Path) -> None:
        """One load job (not row by row): the CSV is appended to the table with the table's own schema."""
        from google.cloud import bigquery

        client = conn.connection.dbapi_connection._client
        table_id = relation.replace("`", "")
        if table_id.count(".") == 1:
            table_id = f"{client.project}.{table_id}"
        table = client.get_table(table_id)
        by_name = {f.name: f for f in table.schema}
        schema = [by_name[c] for c in columns]
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.CSV, skip_leading_rows=1,
                                        schema=schema, allow_quoted_newlines=True,
                                        write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
        if [f.name for f in table.schema] != list(columns):
            raise WarehouseError(f"{table_id}: a load job needs the table's columns in order ({list(columns)})")
        with open(path, "rb") as f:
            client.load_table_from_file(f, table_id, job_config=config).result()

    def csv_relation(self, conn: Connection, path: Path, ncols: int, name: str) -> str:
        """A scratch table in the dataset (text columns), filled by one load job, that BigQuery deletes by itself
        a day later (its expiration): BigQuery's temporary tables live only inside a multi-statement script."""
        from google.cloud import bigquery

        client = conn.connection.dbapi_connection._client
        dataset = conn.engine.url.database
        table_id = f"{client.project}.{dataset}.vanbulk_{name}_{uuid.uuid4().hex[:12]}"
        schema = [bigquery.SchemaField(f"c{i}", "STRING") for i in range(ncols)]
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.CSV, skip_leading_rows=1,
                                        schema=schema, allow_quoted_newlines=True)
        with open(path, "rb") as f:
            client.load_table_from_file(f, table_id, job_config=config).result()
        table = client.get_table(table_id)
        table.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
        try:  # the safety net for a process that dies before release_relation drops it
            client.update_table(table, ["expires"])
        except Exception as exc:  # noqa: BLE001 - the local emulator refuses the field; the table is dropped anyway
            log.debug("could not set an expiration on %s: %s", table_id, exc)
        return self.quote(dataset) + "." + self.quote(table_id.rsplit(".", 1)[1])

    def release_relation(self, conn: Connection, relation: str) -> None:
        # Dropped with the others when the warehouse closes (drop_released: one script, one query job), not one
        # statement each: two a job (its keys' and its results' tables). Their day's expiration is the net.
        self.__dict__.setdefault("_released", []).append(relation)  # (list.append: safe across collect threads)

    def drop_released(self, warehouse: Any) -> None:
        relations = self.__dict__.pop("_released", [])
        if relations:
            with warehouse.begin() as c:
                for stmt in self.drop_tables_sql(relations):
                    c.execute(sa.text(stmt))

    def is_concurrent_update(self, exc: BaseException) -> bool:
        text = str(exc).lower()  # BigQuery's words; the emulator's (DuckDB's) "write-write conflict"
        return any(w in text for w in ("concurrent update", "could not serialize", "write-write conflict"))

    # -- the one-writer lock --------------------------------------------------------------------------
    def lock_table(self, key: int) -> str:
        return lock_table(key)

    def lease_spelling(self) -> LeaseSpelling:
        # MERGE, not UPDATE: a compare-and-set GoogleSQL runs as one DML job (an UPDATE equals it)
        return LeaseSpelling("string", "timestamp", "current_timestamp()",
                             "timestamp_diff(current_timestamp(), renewed_at, second)",
                             lambda rel, sets, holder: f"merge {rel} t using (select {holder} as holder) s "
                                                       f"on t.holder = s.holder when matched then update set {sets}")

    def try_lock(self, warehouse: Any, *, key: int, holder: Mapping[str, Any]) -> tuple[LockHeld | None, dict | None]:
        """A lease table (connector/warehouse/engines/lease.py), as on Snowflake."""
        return lease_lock(self, warehouse, key=key, holder=holder)

    # -- dbt ----------------------------------------------------------------------------------------
    def url_from_profile(self, out: Mapping[str, Any], dbt_dir: Path, where: str) -> tuple[str, str]:
        """dbt-bigquery's keys: ``project`` (or ``database``), ``dataset`` (or ``schema``), ``location``,
        ``method`` oauth (Application Default Credentials) / service-account (``keyfile``); an ``api_endpoint``
        with ``method: oauth-secrets`` is a local emulator (any token)."""
        from urllib.parse import quote, urlencode

        project = out.get("project") or out.get("database")
        dataset = out.get("dataset") or out.get("schema")
        if not project or not dataset:
            raise ConfigError(f"{where}: a BigQuery target needs project and dataset")
        method = str(out.get("method") or "oauth")
        q: dict[str, str] = {}
        if out.get("location"):
            q["location"] = str(out["location"])
        if method == "service-account":
            if not out.get("keyfile"):
                raise ConfigError(f"{where}: method service-account needs keyfile")
            q["credentials_path"] = str(Path(str(out["keyfile"])).expanduser())
        elif method == "oauth-secrets" and out.get("api_endpoint"):
            q["anonymous"] = "true"
        elif method != "oauth":
            raise ConfigError(f"{where}: method {method!r} is not supported by vanbulk yet; use oauth "
                              "(gcloud auth application-default login) or service-account (keyfile)")
        if out.get("api_endpoint"):
            q["api_endpoint"] = str(out["api_endpoint"])
        url = f"bigquery://{quote(str(project), safe='')}/{quote(str(dataset), safe='')}"
        return (url + ("?" + urlencode(q) if q else "")), str(dataset)

    def dbt_env(self, url: str, project_dir: Path, schema_hint: str | None) -> dict[str, str]:
        parts = urlsplit(url)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        env = {"VANBULK_BQ_PROJECT": parts.hostname or "", "VANBULK_BQ_DATASET": parts.path.strip("/")}
        if q.get("location"):
            env["VANBULK_BQ_LOCATION"] = q["location"]
        if q.get("api_endpoint"):
            env["VANBULK_BQ_API_ENDPOINT"] = q["api_endpoint"]
        if q.get("credentials_path"):
            env["VANBULK_BQ_METHOD"], env["VANBULK_BQ_KEYFILE"] = "service-account", q["credentials_path"]
        elif q.get("anonymous", "").lower() == "true":
            env["VANBULK_BQ_METHOD"] = "oauth-secrets"  # an emulator takes any token
            env["DBT_ENV_SECRET_BQ_TOKEN"] = "anonymous"
        return env

    def location(self, url: str, base: Path | None) -> str:
        parts = urlsplit(url)
        return f"{parts.hostname}/{parts.path.strip('/')}"
