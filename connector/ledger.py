"""The job ledger in the target warehouse: the single record of what was sent, to whom, and what happened.

Tables (schema ``settings.results_schema`` or the connection's default; see docs/ledger.md):

* ``van_bulk_runs``        one row per invocation
* ``van_bulk_jobs``        one row per submitted file chunk (a VAN job), with local state and VAN status
* ``van_bulk_job_rows``    which ``source_row_key`` each chunk carried (anti-join and retry-failed)
* ``van_bulk_row_results`` one row per sent row per mapping type: processed | failed | not_in_results
* ``van_bulk_row_latest``  view: latest result per (mapping_type, source_row_key)

Idempotency: ``content_key`` = sha256(mapping types | VAN target | database mode | file sha256). A chunk
whose content_key already has a job in any state but ``submit_failed`` is not submitted again unless
forced. The row is written (state ``submitting``) BEFORE the POST and gets its VAN job id right after;
a crash in between leaves ``submitting``, which later runs treat as ambiguous (see ``AMBIGUOUS_STATES``).

Bulk writes stream through a temporary CSV: DuckDB reads it with ``read_csv``, PostgreSQL with ``COPY``;
other engines fall back to ``executemany`` in batches. Memory stays bounded for million-row jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

import sqlalchemy as sa

logger = logging.getLogger(__name__)

# Local states of a job, in order. Only `submitting` is ambiguous: the POST may or may not have reached VAN.
STATES = ("exported", "uploaded", "submitting", "submitted", "polling", "completed", "failed",
          "results_loaded", "submit_failed", "ambiguous", "timed_out")
IN_FLIGHT_STATES = ("submitted", "polling", "timed_out")
AMBIGUOUS_STATES = ("submitting", "ambiguous")
RESUBMITTABLE_STATES = ("exported", "uploaded", "submit_failed")

RUNS, JOBS, JOB_ROWS, ROW_RESULTS, ROW_LATEST = (
    "van_bulk_runs", "van_bulk_jobs", "van_bulk_job_rows", "van_bulk_row_results", "van_bulk_row_latest")

TABLES: dict[str, list[tuple[str, str]]] = {
    RUNS: [
        ("run_id", "varchar(64)"), ("invoked_at", "timestamp"), ("finished_at", "timestamp"),
        ("command", "varchar(64)"), ("selector", "text"), ("target", "text"), ("package_version", "varchar(32)"),
        ("dry_run", "boolean"), ("simulated", "boolean"), ("status", "varchar(32)"), ("args_json", "text"),
        ("summary_json", "text"),
    ],
    JOBS: [
        ("job_key", "varchar(64)"), ("run_id", "varchar(64)"), ("content_key", "varchar(64)"),
        ("van_job_id", "bigint"), ("mapping_types", "text"), ("resource_type", "varchar(64)"),
        ("source_relation", "text"), ("api_target", "text"), ("database_mode", "integer"),
        ("chunk_no", "integer"), ("chunk_count", "integer"), ("row_count", "bigint"), ("file_name", "text"),
        ("file_sha256", "varchar(64)"), ("zipped_bytes", "bigint"), ("storage_uri", "text"), ("hosted_key", "text"),
        ("local_state", "varchar(32)"), ("van_status", "varchar(32)"), ("errors_json", "text"),
        ("result_file_count", "integer"), ("result_files_json", "text"), ("result_files_expire_at", "text"),
        ("rows_processed", "bigint"), ("rows_failed", "bigint"), ("rows_not_in_results", "bigint"),
        ("forced", "boolean"), ("retry_of_run_id", "varchar(64)"), ("created_at", "timestamp"),
        ("submitted_at", "timestamp"), ("last_polled_at", "timestamp"), ("completed_at", "timestamp"),
        ("hosted_deleted_at", "timestamp"),
    ],
    # mapping_type NULL: the row is carried for every mapping type of the job; set (multi-mapping jobs):
    # the row has data for that mapping type only, so results and the anti-join are limited to it.
    JOB_ROWS: [("job_key", "varchar(64)"), ("source_row_key", "text"), ("mapping_type", "varchar(128)")],
    ROW_RESULTS: [
        ("job_key", "varchar(64)"), ("van_job_id", "bigint"), ("run_id", "varchar(64)"),
        ("mapping_type", "varchar(128)"), ("source_row_key", "text"), ("bulk_upload_data_id", "bigint"),
        ("ul_file_id", "text"), ("primary_key", "text"), ("primary_key_type", "varchar(64)"),
        ("mapping_messages_json", "text"), ("row_status", "varchar(32)"), ("first_error_message", "text"),
        ("error_category", "varchar(64)"), ("result_file_no", "integer"), ("loaded_at", "timestamp"),
    ],
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


def content_key(mapping_types: Sequence[str], api_target: str, database_mode: int, file_sha256: str) -> str:
    raw = "|".join(["+".join(mapping_types), api_target, str(database_mode), file_sha256])
    return hashlib.sha256(raw.encode()).hexdigest()


class Ledger:
    def __init__(self, warehouse, schema: str | None = None):
        self.wh = warehouse
        self.schema = schema or warehouse.default_schema

    def rel(self, name: str) -> str:
        return self.wh.relation(name, self.schema)

    # -- DDL -------------------------------------------------------------------------------------
    def ensure(self) -> None:
        with self.wh.begin() as c:
            c.execute(sa.text(f"create schema if not exists {self.wh.quote(self.schema)}"))
            for table, cols in TABLES.items():
                body = ", ".join(f"{self.wh.quote(n)} {t}" for n, t in cols)
                c.execute(sa.text(f"create table if not exists {self.rel(table)} ({body})"))
                # Tables from an older version gain new columns instead of failing.
                have = {r[0] for r in c.execute(sa.text(
                    "select column_name from information_schema.columns where table_schema = :s and table_name = :t"),
                    {"s": self.schema, "t": table})}
                for n, t in cols:
                    if n not in have:
                        c.execute(sa.text(f"alter table {self.rel(table)} add column {self.wh.quote(n)} {t}"))
            c.execute(sa.text(
                f"create or replace view {self.rel(ROW_LATEST)} as "
                f"select job_key, van_job_id, run_id, mapping_type, source_row_key, primary_key, primary_key_type, "
                f"row_status, first_error_message, error_category, mapping_messages_json, loaded_at from ("
                f"select r.*, row_number() over (partition by mapping_type, source_row_key "
                f"order by loaded_at desc, job_key desc) as rn from {self.rel(ROW_RESULTS)} r) t where rn = 1"))

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, run_id: str, command: str, *, selector: str | None = None, target: str | None = None,
                  dry_run: bool = False, simulated: bool = False, args: Mapping[str, Any] | None = None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            pkg_version = version("vanbulk")
        except PackageNotFoundError:
            pkg_version = None
        self.insert(RUNS, {"run_id": run_id, "invoked_at": utcnow(), "command": command, "selector": selector,
                           "target": target, "package_version": pkg_version, "dry_run": dry_run,
                           "simulated": simulated, "status": "running",
                           "args_json": json.dumps(args or {}, default=str)})

    def finish_run(self, run_id: str, status: str, summary: Mapping[str, Any] | None = None) -> None:
        self.update(RUNS, "run_id", run_id, {"finished_at": utcnow(), "status": status,
                                             "summary_json": json.dumps(summary or {}, default=str)})

    # -- jobs ------------------------------------------------------------------------------------
    def find_by_content(self, key: str) -> dict | None:
        """The most recent job for this content that counts as sent (or possibly sent)."""
        states = ", ".join(f"'{s}'" for s in RESUBMITTABLE_STATES)
        rows = self.query(f"select * from {self.rel(JOBS)} where content_key = :k and local_state not in ({states}) "
                          "order by created_at desc", {"k": key})
        return rows[0] if rows else None

    def create_job(self, fields: Mapping[str, Any], row_keys: Iterable[str],
                   mapping_rows: Iterable[tuple[str, str]] | None = None) -> str:
        """Job row + the rows it carries. ``mapping_rows`` (multi-mapping jobs): (source_row_key, mapping type)
        pairs, one per mapping type the row has data for; otherwise each key is carried for every type."""
        job_key = fields.get("job_key") or new_id()
        values = {"job_key": job_key, "created_at": utcnow(), "local_state": "exported", **fields}
        with self.wh.begin() as c:
            self.insert(JOBS, values, conn=c)
            if mapping_rows is not None:
                self.bulk_load(JOB_ROWS, ["job_key", "source_row_key", "mapping_type"],
                               ((job_key, k, mt) for k, mt in mapping_rows), conn=c)
            else:
                self.bulk_load(JOB_ROWS, ["job_key", "source_row_key"], ((job_key, k) for k in row_keys), conn=c)
        return job_key

    def carried_counts(self, job_key: str) -> dict[str, int]:
        """Multi-mapping job: rows carried per mapping type (empty for a single-mapping job)."""
        return {r["mapping_type"]: int(r["n"]) for r in self.query(
            f"select mapping_type, count(*) as n from {self.rel(JOB_ROWS)} where job_key = :k "
            "and mapping_type is not null group by mapping_type", {"k": job_key})}

    def update_job(self, job_key: str, **fields: Any) -> None:
        self.update(JOBS, "job_key", job_key, fields)

    def get_job(self, job_key: str | None = None, van_job_id: int | None = None) -> dict | None:
        if job_key:
            rows = self.query(f"select * from {self.rel(JOBS)} where job_key = :k", {"k": job_key})
        else:
            rows = self.query(f"select * from {self.rel(JOBS)} where van_job_id = :j order by created_at desc",
                              {"j": int(van_job_id)})
        return rows[0] if rows else None

    def jobs(self, run_id: str | None = None, states: Sequence[str] | None = None) -> list[dict]:
        where, params = [], {}
        if run_id:
            where.append("run_id = :r")
            params["r"] = run_id
        if states:
            where.append(f"local_state in ({', '.join(repr(s) for s in states)})")
        sql = f"select * from {self.rel(JOBS)}" + (f" where {' and '.join(where)}" if where else "")
        return self.query(sql + " order by created_at, chunk_no", params)

    def in_flight(self) -> list[dict]:
        return [j for j in self.jobs(states=IN_FLIGHT_STATES) if j["van_job_id"] is not None]

    def latest_run_id(self) -> str | None:
        return self.wh.scalar(f"select run_id from {self.rel(RUNS)} order by invoked_at desc limit 1")

    # -- rows ------------------------------------------------------------------------------------
    def replace_results(self, job_key: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Load a job's parsed result rows (re-loading a job replaces its rows), then add the anti-join."""
        cols = [n for n, _ in TABLES[ROW_RESULTS]]
        with self.wh.begin() as c:
            c.execute(sa.text(f"delete from {self.rel(ROW_RESULTS)} where job_key = :k"), {"k": job_key})
            n = self.bulk_load(ROW_RESULTS, cols, ([r.get(k) for k in cols] for r in rows), conn=c)
        return n

    def add_not_in_results(self, job_key: str, mapping_types: Sequence[str], van_job_id: int | None,
                           run_id: str | None) -> int:
        """Every sent row with no result row for a mapping type: VAN dropped it (failed its validation)."""
        total = 0
        with self.wh.begin() as c:
            for mt in mapping_types:
                res = c.execute(sa.text(
                    f"insert into {self.rel(ROW_RESULTS)} (job_key, van_job_id, run_id, mapping_type, source_row_key, "
                    f"row_status, first_error_message, error_category, loaded_at) "
                    f"select s.job_key, cast(:j as bigint), cast(:r as varchar(64)), cast(:mt as varchar(128)), "
                    f"s.source_row_key, 'not_in_results', "
                    f"'row absent from VAN''s result files (rejected by VAN validation)', 'not_in_results', :t "
                    f"from {self.rel(JOB_ROWS)} s where s.job_key = :k "
                    f"and (s.mapping_type is null or s.mapping_type = cast(:mt as varchar(128))) and not exists ("
                    f"select 1 from {self.rel(ROW_RESULTS)} r where r.job_key = s.job_key "
                    f"and r.mapping_type = cast(:mt as varchar(128)) and r.source_row_key = s.source_row_key)"),
                    {"j": van_job_id, "r": run_id, "mt": mt, "k": job_key, "t": utcnow()})
                total += max(res.rowcount or 0, 0)
        return total

    def add_refused(self, job_key: str, mapping_types: Sequence[str], run_id: str | None, message: str) -> None:
        """VAN refused the POST (400/403): no job exists, nothing was imported. Every row the chunk carried
        gets a ``refused`` result with VAN's (redacted) error, so the row is accounted for and
        ``retry-failed`` can send it again once the cause (permission, static value...) is fixed."""
        with self.wh.begin() as c:
            c.execute(sa.text(f"delete from {self.rel(ROW_RESULTS)} where job_key = :k"), {"k": job_key})
            for mt in mapping_types:
                c.execute(sa.text(
                    f"insert into {self.rel(ROW_RESULTS)} (job_key, van_job_id, run_id, mapping_type, source_row_key, "
                    f"row_status, first_error_message, error_category, loaded_at) "
                    f"select s.job_key, cast(null as bigint), cast(:r as varchar(64)), cast(:mt as varchar(128)), "
                    f"s.source_row_key, 'refused', cast(:m as text), 'refused', :t "
                    f"from {self.rel(JOB_ROWS)} s where s.job_key = :k "
                    f"and (s.mapping_type is null or s.mapping_type = cast(:mt as varchar(128)))"),
                    {"r": run_id, "mt": mt, "k": job_key, "m": message, "t": utcnow()})

    def drop_uncarried_results(self, job_key: str) -> None:
        """VAN answers every mapping column of a multi-mapping file for every row; keep only the (row,
        mapping type) pairs the file carried data for, so a staging view's rows add up."""
        with self.wh.begin() as c:
            c.execute(sa.text(
                f"delete from {self.rel(ROW_RESULTS)} where job_key = :k and exists (select 1 from "
                f"{self.rel(JOB_ROWS)} s where s.job_key = :k and s.mapping_type is not null) and not exists ("
                f"select 1 from {self.rel(JOB_ROWS)} s where s.job_key = {self.rel(ROW_RESULTS)}.job_key "
                f"and s.source_row_key = {self.rel(ROW_RESULTS)}.source_row_key "
                f"and s.mapping_type = {self.rel(ROW_RESULTS)}.mapping_type)"), {"k": job_key})

    def status_counts(self, job_key: str) -> dict[str, int]:
        rows = self.query(f"select row_status, count(*) as n from {self.rel(ROW_RESULTS)} where job_key = :k "
                          "group by row_status", {"k": job_key})
        return {r["row_status"]: int(r["n"]) for r in rows}

    # -- generic SQL -----------------------------------------------------------------------------
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        with self.wh.connect() as c:
            res = c.execute(sa.text(sql), dict(params or {}))
            return [dict(r._mapping) for r in res]

    def insert(self, table: str, values: Mapping[str, Any], conn=None) -> None:
        cols = list(values)
        sql = sa.text(f"insert into {self.rel(table)} ({', '.join(self.wh.quote(c) for c in cols)}) "
                      f"values ({', '.join(':' + c for c in cols)})")
        if conn is not None:
            conn.execute(sql, dict(values))
        else:
            with self.wh.begin() as c:
                c.execute(sql, dict(values))

    def update(self, table: str, key_col: str, key: Any, values: Mapping[str, Any]) -> None:
        if not values:
            return
        sets = ", ".join(f"{self.wh.quote(c)} = :v_{c}" for c in values)
        params = {f"v_{c}": v for c, v in values.items()}
        params["key"] = key
        with self.wh.begin() as c:
            c.execute(sa.text(f"update {self.rel(table)} set {sets} where {self.wh.quote(key_col)} = :key"), params)

    def bulk_load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], conn) -> int:
        dialect = self.wh.dialect
        if dialect not in ("duckdb", "postgresql"):
            return self._executemany(table, columns, rows, conn)
        fd, path = tempfile.mkstemp(prefix="vanbulk-load-", suffix=".csv")
        try:
            n = 0
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(",".join(columns) + "\n")
                for r in rows:
                    f.write(",".join(_csv_cell(v) for v in r) + "\n")
                    n += 1
            if n == 0:
                return 0
            collist = ", ".join(self.wh.quote(c) for c in columns)
            if dialect == "duckdb":
                lit = path.replace("'", "''")
                conn.execute(sa.text(
                    f"insert into {self.rel(table)} ({collist}) select * from read_csv('{lit}', header=true, "
                    f"all_varchar=true, allow_quoted_nulls=false, quote='\"', escape='\"', delim=',')"))
            else:
                raw = conn.connection.dbapi_connection
                with raw.cursor() as cur, open(path, "rb") as f:
                    with cur.copy(f"copy {self.rel(table)} ({collist}) from stdin with (format csv, header true)") as cp:
                        while data := f.read(1 << 20):
                            cp.write(data)
            return n
        finally:
            os.unlink(path)

    def _executemany(self, table, columns, rows, conn) -> int:
        n, batch = 0, []
        for r in rows:
            batch.append(r)
            if len(batch) >= 5000:
                n += self.wh.insert_rows(table, columns, batch, schema=self.schema, conn=conn)
                batch = []
        return n + self.wh.insert_rows(table, columns, batch, schema=self.schema, conn=conn)


def _csv_cell(v: Any) -> str:
    """NULL is an empty unquoted field; every value is quoted (so '' stays an empty string)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        v = "true" if v else "false"
    elif isinstance(v, datetime):
        v = v.isoformat(sep=" ")
    return '"' + str(v).replace('"', '""') + '"'


def iter_chunks(it: Iterable, size: int) -> Iterator[list]:
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
