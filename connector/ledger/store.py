"""The job ledger in the target warehouse: the single record of what was sent, to whom, and what happened.

The ledger owns every state transition (``connector.ledger.states``): a job moves only through the
``mark_*`` / ``load_results`` methods, each of which checks the state it leaves and writes the job row, its
rows' results and their sync state in one transaction, so a crash leaves either the old or the new state.

Protocol around the POST (why each write is where it is):

1. ``record_job``: job row (``exported``) + one ``van_bulk_job_rows`` row per (key, mapping type) it carries.
2. ``mark_uploaded`` once the file is hosted.
3. ``mark_submitting``, committed BEFORE the POST: claims every carried row in ``van_bulk_row_state``
   (outcome ``pending``, the planned row hash, this job). A row another job holds ``pending`` fails the
   claim (``RowClaimConflict``) and nothing is POSTed: two workers can never both send a row.
4. ``mark_submitted`` with VAN's job id, or ``mark_ambiguous`` / ``mark_refused``.
5. ``load_results``: row results, the anti-join (``not_in_results``), the rows' outcomes and the job's final
   state in one transaction.

A crash between 3 and 4 leaves ``submitting`` with rows ``pending``: the plan puts them in ``ambiguous``
and never resends them automatically. Idempotency per chunk stays as a second guard: ``content_key`` =
sha256(mapping types | VAN target | database mode | file sha256).

Bulk writes stream through a temporary CSV into the engine's own bulk path (``Warehouse.ops``: DuckDB
``read_csv``, PostgreSQL ``COPY``, BigQuery a load job). Memory stays bounded for million-row jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa

from connector.errors import ConnectorError
from connector.ledger.schema import (JOB_ROWS, JOBS, PLAN_COUNTS, PLAN_ROWS, PRIMARY_KEYS, ROW_LATEST,
                                     ROW_RESULTS, ROW_STATE, RUNS, TABLES)
from connector.ledger.claim import claim_rows, is_claim_conflict
from connector.ledger.stats import analyze, ensure_indexes
from connector.ledger.states import (AMBIGUOUS_JOB_STATES, COLLECTABLE_JOB_STATES, JOB_TRANSITIONS,
                                     RESUBMITTABLE_JOB_STATES, SENT_CATEGORIES, JobState, PlanCategory,
                                     RowOutcome, RowStatus, RunStatus, sql_list)
from connector.ledger.sync import PlanRequest, categorize_sql, row_hash_sql
from connector.results import ResultFiles, read_header, result_rows_sql, results_insert_sql

logger = logging.getLogger(__name__)

__all__ = ["Ledger", "LedgerStateError", "RowClaimConflict", "content_key", "new_id", "utcnow"]


class LedgerStateError(ConnectorError):
    """A transition from a state that does not allow it (a bug, or two processes on one job)."""


class RowClaimConflict(ConnectorError):
    """Another job holds some of this job's rows (pending at VAN or being submitted): not POSTed."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


def content_key(mapping_types: Sequence[str], api_target: str, database_mode: int, file_sha256: str) -> str:
    raw = "|".join(["+".join(mapping_types), api_target, str(database_mode), file_sha256])
    return hashlib.sha256(raw.encode()).hexdigest()


class Ledger:
    def __init__(self, warehouse, schema: str | None = None, *, api_target: str = "", database_mode: int = 1):
        self.wh = warehouse
        self.schema = schema or warehouse.default_schema
        self.api_target = api_target
        self.database_mode = int(database_mode)
        self.notes: list[str] = []  # what ensure() did that a user should hear about (migrations)
        # the schema's tables when ensure() looked (its one catalogue query): e.g. copies a killed run left
        self.tables_at_start: set[str] = set()
        self._unhashed: set[str] | None = None  # _unhashed_mapping_types, asked once

    def rel(self, name: str) -> str:
        return self.wh.relation(name, self.schema)

    # -- DDL -------------------------------------------------------------------------------------
    def ensure(self) -> None:
        created: set[str] = set()
        ops, dialect = self.wh.ops, self.wh.engine.dialect
        with self.wh.begin() as c:
            c.execute(sa.text(ops.create_schema_sql(self.schema)))
            existing = ops.schema_columns(c, self.schema)  # one catalogue query for every table (None: per table)
            self.tables_at_start = set(existing or ())
            for table, cols in TABLES.items():
                have = set((existing.get(table) if existing is not None else ops.columns(c, self.schema, table))
                           or ())
                typed = [(n, ops.column_type(t, dialect)) for n, t in cols]
                if not have:
                    c.execute(sa.text(ops.create_table_sql(self.rel(table), typed, PRIMARY_KEYS.get(table, ()))))
                    created.add(table)
                    continue
                for n, t in typed:  # tables from an older version gain new columns instead of failing
                    if n not in have:
                        c.execute(sa.text(ops.add_column_sql(self.rel(table), n, t)))
            c.execute(sa.text(
                f"create or replace view {self.rel(ROW_LATEST)} as "
                f"select job_key, van_job_id, run_id, mapping_type, source_row_key, primary_key, primary_key_type, "
                f"row_status, first_error_message, error_category, mapping_messages_json, loaded_at from ("
                f"select r.*, row_number() over (partition by mapping_type, source_row_key "
                f"order by loaded_at desc, job_key desc) as rn from {self.rel(ROW_RESULTS)} r) t where rn = 1"))
            if ensure_indexes(c, self) and JOBS not in created:
                self.notes.append("ledger indexes created (PostgreSQL: job_key, run_id; issue 20)")
            if ROW_STATE in created and JOBS not in created:
                self._migrate_row_state(c)
                self._unhashed = None

    def _migrate_row_state(self, c) -> None:
        """A ledger from before row-level sync: every row an earlier job carried gets its sync state from
        its latest job (and whether any job processed it). Its row hash stays NULL until the next plan, which
        takes the current view's values as the version sent (docs/sync.md, "Upgrading")."""
        j, jr, r = self.rel(JOBS), self.rel(JOB_ROWS), self.rel(ROW_RESULTS)
        collectable, ambiguous = sql_list(COLLECTABLE_JOB_STATES), sql_list(AMBIGUOUS_JOB_STATES)
        c.execute(sa.text(
            f"insert into {self.rel(ROW_STATE)} (api_target, database_mode, mapping_type, source_row_key, row_hash, "
            f"outcome, job_key, run_id, tries, processed_hash, processed_at, updated_at) "
            f"select api_target, database_mode, mapping_type, source_row_key, cast(null as {self.wh.ops.text_type}), outcome, "
            f"job_key, run_id, 1, cast(null as {self.wh.ops.text_type}), processed_at, :t from ("
            f"select x.*, row_number() over (partition by api_target, database_mode, mapping_type, source_row_key "
            f"order by created_at desc, job_key desc) as rn, max(case when outcome = 'processed' then loaded_at end) "
            f"over (partition by api_target, database_mode, mapping_type, source_row_key) as processed_at from ("
            f"select j.api_target, j.database_mode, coalesce(jr.mapping_type, j.mapping_types) as mapping_type, "
            f"jr.source_row_key, j.job_key, j.run_id, j.created_at, r.loaded_at, case "
            f"when r.row_status is not null then r.row_status "
            f"when j.local_state in ({collectable}) then '{RowOutcome.PENDING}' "
            f"when j.local_state in ({ambiguous}) then '{RowOutcome.AMBIGUOUS}' "
            f"when j.local_state = '{JobState.SUBMIT_FAILED}' then '{RowOutcome.REFUSED}' end as outcome "
            f"from {jr} jr join {j} j on j.job_key = jr.job_key left join {r} r on r.job_key = jr.job_key "
            f"and r.source_row_key = jr.source_row_key "
            f"and r.mapping_type = coalesce(jr.mapping_type, j.mapping_types)) x where x.outcome is not null) y "
            f"where rn = 1"), {"t": utcnow()})
        n = c.execute(sa.text(f"select count(*), count(processed_at) from {self.rel(ROW_STATE)}")).one()
        if n[0]:
            self.notes.append(
                f"ledger upgraded to row-level sync: {n[0]} row(s) of earlier jobs now have a sync state "
                f"({n[1]} processed); processed rows take the current view's values as the version sent, so "
                "they are `unchanged` unless they change from now on")

    # -- runs ------------------------------------------------------------------------------------
    def start_run(self, run_id: str, command: str, *, selector: str | None = None, target: str | None = None,
                  dry_run: bool = False, simulated: bool = False, args: Mapping[str, Any] | None = None) -> None:
        import socket

        from connector.version import package_version

        pkg_version = package_version()

        self._insert(RUNS, {"run_id": run_id, "invoked_at": utcnow(), "command": command, "selector": selector,
                            "target": target, "package_version": pkg_version, "dry_run": dry_run,
                            "simulated": simulated, "status": "running",
                            "args_json": json.dumps(args or {}, default=str), "api_target": self.api_target,
                            "pid": os.getpid(), "host": socket.gethostname()})

    def record_dbt_build(self, run_id: str, record: Mapping[str, Any]) -> None:
        """What this run's dbt build was (connector/dbt_state.py): the next run skips the same build."""
        self._update(RUNS, "run_id", run_id, {"dbt_build_json": json.dumps(record)})

    def recent_dbt_builds(self, limit: int = 20) -> list[dict]:
        """The dbt builds runs recorded in this ledger, newest first (any VAN target: dbt builds the warehouse); a
        record that does not read as JSON stands for a build of unknown kind (an empty record)."""
        rows = self._query(f"select dbt_build_json from {self.rel(RUNS)} where dbt_build_json is not null "
                           f"order by invoked_at desc limit {int(limit)}")
        out = []
        for r in rows:
            try:
                record = json.loads(r["dbt_build_json"])
            except ValueError:
                record = None
            out.append(record if isinstance(record, dict) else {})
        return out

    def mark_dead_runs_interrupted(self, *, any_target: bool = False) -> int:
        """Runs still ``running`` while this process holds the writer lock died (killed, crashed): say so."""
        where = "" if any_target else " and (api_target = :t or api_target is null)"
        p = {"t": self.api_target, "now": utcnow()}
        with self.wh.begin() as c:  # counted first: DuckDB's driver reports no rowcount for an update
            n = int(c.execute(sa.text(f"select count(*) from {self.rel(RUNS)} where status = '{RunStatus.RUNNING}'{where}"),
                              p).scalar() or 0)
            c.execute(sa.text(f"update {self.rel(RUNS)} set status = '{RunStatus.INTERRUPTED}', finished_at = :now "
                              f"where status = '{RunStatus.RUNNING}'{where}"), p)
        if n:
            self.notes.append(f"{n} earlier run(s) had died without finishing: marked `interrupted` in van_bulk_runs "
                              "(their jobs are collected like any other)")
        return n

    def finish_run(self, run_id: str, status: str, summary: Mapping[str, Any] | None = None) -> None:
        self._update(RUNS, "run_id", run_id, {"finished_at": utcnow(), "status": status,
                                              "summary_json": json.dumps(summary or {}, default=str)})

    # -- jobs: reads -----------------------------------------------------------------------------
    def job(self, job_key: str | None = None, van_job_id: int | None = None) -> dict | None:
        if job_key:
            rows = self._query(f"select * from {self.rel(JOBS)} where job_key = :k", {"k": job_key})
        else:
            rows = self._query(f"select * from {self.rel(JOBS)} where van_job_id = :j order by created_at desc",
                               {"j": int(van_job_id)})
        return rows[0] if rows else None

    def jobs(self, run_id: str | None = None, states: Iterable[str] | None = None) -> list[dict]:
        where, params = [], {}
        if run_id:
            where.append("run_id = :r")
            params["r"] = run_id
        if states is not None:
            where.append(f"local_state in ({sql_list(states)})")
        sql = f"select * from {self.rel(JOBS)}" + (f" where {' and '.join(where)}" if where else "")
        return self._query(sql + " order by created_at, chunk_no", params)

    def recent_jobs(self, limit: int | None = 20) -> list[dict]:
        """The most recent jobs, newest first (``limit`` None: every job)."""
        tail = "" if limit is None else f" limit {int(limit)}"
        return self._query(f"select * from {self.rel(JOBS)} order by created_at desc{tail}")

    def count_jobs(self) -> int:
        return int(self._query(f"select count(*) as n from {self.rel(JOBS)}")[0]["n"])

    def collectable(self) -> list[dict]:
        """Jobs VAN has (or finished) whose results are not loaded: every later run and `status` collect them."""
        return [j for j in self.jobs(states=COLLECTABLE_JOB_STATES) if j["van_job_id"] is not None]

    def blocking_job_for_content(self, key: str, *, processed_blocks: bool = True) -> dict | None:
        """The latest job with this content that must not be sent again: in flight, ambiguous, or (unless
        ``processed_blocks`` is false: an explicit --full-refresh) loaded with at least one processed row. A job
        VAN failed or refused, or whose rows all failed, does not block."""
        rows = self._query(f"select * from {self.rel(JOBS)} j where {_blocking('j', processed_blocks)} "
                           "order by created_at desc", {"k": key})
        return rows[0] if rows else None

    def carried_counts_of_run(self, run_id: str) -> dict[str, dict[str, int]]:
        """Rows carried per job and mapping type, of every job of ``run_id``, in one statement."""
        jr, jobs = self.rel(JOB_ROWS), self.rel(JOBS)
        out: dict[str, dict[str, int]] = {}
        for r in self._query(f"select r.job_key, r.mapping_type, count(*) as n from {jr} r where r.job_key in "
                             f"(select j.job_key from {jobs} j where j.run_id = :r) group by r.job_key, r.mapping_type",
                             {"r": run_id}):
            out.setdefault(r["job_key"], {})[r["mapping_type"]] = int(r["n"])
        return out

    def status_counts(self, job_key: str, conn=None) -> dict[str, int]:
        sql = (f"select row_status, count(*) as n from {self.rel(ROW_RESULTS)} where job_key = :k "
               "group by row_status")
        rows = (conn.execute(sa.text(sql), {"k": job_key}).mappings().all() if conn is not None
                else self._query(sql, {"k": job_key}))
        return {r["row_status"]: int(r["n"]) for r in rows}

    # -- jobs: transitions -----------------------------------------------------------------------
    def record_job(self, fields: Mapping[str, Any], mapping_rows: Iterable[tuple[str, str]] | None = None, *,
                   csv_path: Path | None = None, columns: Sequence[str] = (), mapping_type: str | None = None,
                   unless_blocked: bool | None = None) -> str | None:
        """Job row (``exported``) + the (source_row_key, mapping type) pairs it carries data for: given as pairs,
        or read from the job's own CSV (``csv_path`` with its ``columns``; every row carries ``mapping_type``).
        The CSV must hold ``fields["row_count"]`` rows, each with a key.
        ``unless_blocked`` (``processed_blocks`` of ``blocking_job_for_content``): the job row is written only
        while no job blocks its ``content_key``, in the same statement (no guard query a job first); None when one
        does (nothing written)."""
        job_key = fields.get("job_key") or new_id()
        values = {"job_key": job_key, "created_at": utcnow(), "local_state": JobState.EXPORTED.value, **fields}
        with self.wh.begin() as c:
            if unless_blocked is None:
                self._insert(JOBS, values, conn=c)
            elif not self._insert_unless_blocked(c, values, unless_blocked):
                return None
            if csv_path is not None:
                n = self.load_keys(c, job_key, Path(csv_path), columns, mapping_type)
                if n != int(fields.get("row_count", n)):
                    raise LedgerStateError(f"job {job_key}: its file holds {n} row(s) with a key, the export "
                                           f"counted {fields['row_count']}")
            else:
                self.bulk_load(JOB_ROWS, ["job_key", "source_row_key", "mapping_type"],
                               ((job_key, k, mt) for k, mt in mapping_rows or ()), conn=c)
            analyze(c, self, JOB_ROWS)
        return job_key

    def _insert_unless_blocked(self, c, values: Mapping[str, Any], processed_blocks: bool) -> bool:
        """The job row unless a job blocks its content (one ``insert ... select ... where not exists``). Unset
        fields are left out, so every parameter has a type (BigQuery asks one of a NULL); the one-row FROM because
        BigQuery refuses a WHERE without one (its emulator does not: the SQL lint of test_bigquery_demo caught it)."""
        values = {k: v for k, v in values.items() if v is not None}
        cols, jobs = list(values), self.rel(JOBS)
        written = self.wh.ops.dml_rows(c.execute(sa.text(
            f"insert into {jobs} ({', '.join(self.wh.quote(k) for k in cols)}) select "
            f"{', '.join(':' + k for k in cols)} from (select 1 as one) o where not exists (select 1 from {jobs} j where "
            f"{_blocking('j', processed_blocks)})"), {**values, "k": values["content_key"]}))
        if written is None:  # an engine that does not say: look
            written = c.execute(sa.text(f"select count(*) from {jobs} where job_key = :j"),
                                {"j": values["job_key"]}).scalar()
        return bool(written)

    def load_keys(self, c, job_key: str, csv_path: Path, columns: Sequence[str], mapping_type: str) -> int:
        """Job rows read by the engine from the job's CSV (VAN's format: header, every field quoted, CRLF, values
        may hold CR/LF; ``Engine.csv_relation``): its ``source_row_key`` column, exactly the bytes VAN gets. 1M keys
        through Python took seconds. Returns the rows with a key."""
        jr, cols = self.rel(JOB_ROWS), "job_key, source_row_key, mapping_type"
        p = {"k": job_key, "mt": mapping_type}
        key_idx = list(columns).index("source_row_key")
        src = self.wh.ops.csv_relation(c, Path(csv_path), len(columns), "job_file")
        n = self.wh.ops.dml_rows(c.execute(sa.text(
            f"insert into {jr} ({cols}) select :k, c{key_idx}, :mt from {src} where c{key_idx} <> ''"), p))
        self.wh.ops.release_relation(c, src)
        if n is not None:  # the insert's own count: the job's key is new, so these are all its rows
            return n
        return int(c.execute(sa.text(f"select count(*) from {jr} where job_key = :k"), p).scalar())

    def _transition(self, c, job_key: str, to: JobState, **fields: Any) -> None:
        """One conditional UPDATE (only from a state ``to`` allows) where the engine says which rows it changed
        (``Engine.update_returning``, ``Engine.dml_rowcount``); the state is read only when nothing changed, to say
        why. Elsewhere: read the state, then update."""
        allowed = JOB_TRANSITIONS[to]
        sets = {"local_state": to.value, **fields}
        update = (f"update {self.rel(JOBS)} set {', '.join(f'{self.wh.quote(k)} = :v_{k}' for k in sets)} "
                  "where job_key = :key")
        params = {**{f"v_{k}": v for k, v in sets.items()}, "key": job_key}
        ops = self.wh.ops
        if (ops.update_returning or ops.dml_rowcount) and allowed:
            conditional = f"{update} and local_state in ({sql_list(allowed)})"
            if ops.update_returning:
                applied = c.execute(sa.text(f"{conditional} returning job_key"), params).first() is not None
            else:
                applied = ops.dml_rows(c.execute(sa.text(conditional), params)) == 1
            if applied:
                return
            self._refuse(c, job_key, to, allowed)
            raise LedgerStateError(f"job {job_key}: -> {to} did not apply (the job changed meanwhile)")
        self._refuse(c, job_key, to, allowed)
        c.execute(sa.text(update), params)

    def _refuse(self, c, job_key: str, to: JobState, allowed) -> None:
        """Raise ``LedgerStateError`` unless the job is in a state ``to`` may follow."""
        row = c.execute(sa.text(f"select local_state from {self.rel(JOBS)} where job_key = :k"),
                        {"k": job_key}).first()
        if row is None:
            raise LedgerStateError(f"job {job_key} is not in the ledger")
        if JobState(row[0]) not in allowed:
            raise LedgerStateError(f"job {job_key}: {row[0]} -> {to} is not a transition the ledger allows")

    def transition(self, job_key: str, to: JobState, **fields: Any) -> None:
        with self.wh.begin() as c:
            self._transition(c, job_key, to, **fields)

    def mark_uploaded(self, job_key: str, storage_uri: str, hosted_key: str) -> None:
        self.transition(job_key, JobState.UPLOADED, storage_uri=storage_uri, hosted_key=hosted_key)

    def mark_submitting(self, job_key: str, run_id: str, carried: int | None = None) -> None:
        """Claim the job's rows (sync state ``pending`` with the planned hash), then ``submitting``: one commit,
        before the POST. Raises ``RowClaimConflict`` (nothing written) if another job holds a row. ``carried``: the
        (key, mapping type) pairs ``record_job`` wrote for the job, when the caller knows (ledger/claim.py)."""
        p = {"k": job_key, "r": run_id, "t": self.api_target, "d": self.database_mode, "now": utcnow()}
        if not self.wh.ops.transactional_dml:
            # No transaction spans the claim and the transition: the job is `submitting` first, so a racing claim
            # sees this job's rows held by a job in flight; a lost claim leaves it `claimed_elsewhere` (the caller)
            # and nothing is POSTed. A crash in between leaves `submitting`: ambiguous, never resent blindly.
            self.transition(job_key, JobState.SUBMITTING)
        try:
            with self.wh.begin() as c:
                claimed, carried = claim_rows(c, self, p, carried)
                if claimed != carried:
                    raise RowClaimConflict(
                        f"job {job_key}: {carried - claimed} of its {carried} row(s) are held by "
                        "another job (in flight, or claimed by a concurrent run); not submitted")
                if self.wh.ops.transactional_dml:
                    self._transition(c, job_key, JobState.SUBMITTING)
        except sa.exc.DBAPIError as exc:
            if not is_claim_conflict(self, exc):
                raise
            raise RowClaimConflict(f"job {job_key}: a concurrent run claimed its rows first; not submitted") from exc

    def mark_claimed_elsewhere(self, job_key: str, message: str) -> None:
        self.transition(job_key, JobState.CLAIMED_ELSEWHERE,
                        errors_json=json.dumps([{"code": "CLAIMED_ELSEWHERE", "text": message}]))

    def mark_submitted(self, job_key: str, van_job_id: int) -> datetime:
        """VAN answered the POST with a job id; returns the ``submitted_at`` written."""
        now = utcnow()
        self.transition(job_key, JobState.SUBMITTED, van_job_id=int(van_job_id), submitted_at=now)
        return now

    def mark_found_at_van(self, job_key: str, van_job_id: int) -> None:
        """An ambiguous POST did create a job (found in VAN's UI by the job key in its description): its
        rows are pending on that job, which is then polled like any other."""
        with self.wh.begin() as c:
            self._transition(c, job_key, JobState.SUBMITTED, van_job_id=int(van_job_id), submitted_at=utcnow())
            self._set_outcome(c, job_key, RowOutcome.PENDING)

    def mark_ambiguous(self, job_key: str, errors_json: str) -> None:
        with self.wh.begin() as c:
            self._transition(c, job_key, JobState.AMBIGUOUS, errors_json=errors_json)
            self._set_outcome(c, job_key, RowOutcome.AMBIGUOUS)

    def mark_refused(self, job_key: str, mapping_types: Sequence[str], run_id: str | None, message: str,
                     errors_json: str, to: JobState = JobState.SUBMIT_FAILED) -> None:
        """No job exists at VAN (refused at POST, or confirmed absent): every carried row gets a ``refused``
        result with the reason, and its sync state ``refused``, so the next run retries it."""
        with self.wh.begin() as c:
            self._transition(c, job_key, to, errors_json=errors_json)
            c.execute(sa.text(f"delete from {self.rel(ROW_RESULTS)} where job_key = :k"), {"k": job_key})
            c.execute(sa.text(
                f"insert into {self.rel(ROW_RESULTS)} (job_key, van_job_id, run_id, mapping_type, source_row_key, "
                f"row_status, first_error_message, error_category, loaded_at) "
                f"select s.job_key, cast(null as bigint), cast(:r as {self.wh.ops.text_type}), s.mapping_type, s.source_row_key, "
                f"'{RowStatus.REFUSED}', cast(:m as {self.wh.ops.text_type}), 'refused', :t from {self.rel(JOB_ROWS)} s "
                f"where s.job_key = :k"), {"r": run_id, "k": job_key, "m": message, "t": utcnow()})
            self._set_outcome(c, job_key, RowOutcome.REFUSED)

    def mark_polled(self, job_key: str, van_status: str, timed_out: bool = False) -> None:
        self.transition(job_key, JobState.TIMED_OUT if timed_out else JobState.POLLING, van_status=van_status,
                        last_polled_at=utcnow())

    def mark_completed(self, job_key: str, van_status: str, errors_json: str | None) -> None:
        """VAN says the job is terminal; results are not loaded yet (a crash here is collected again)."""
        now = utcnow()
        self.transition(job_key, JobState.COMPLETED, van_status=van_status, last_polled_at=now, completed_at=now,
                        errors_json=errors_json)

    def load_results(self, job: Mapping[str, Any], rows: Iterable[Mapping[str, Any]], *, failed_message: str | None,
                     result_files: Sequence[Mapping[str, Any]] = (), completed: tuple[str, str | None] | None = None,
                     hosted_deleted: bool = False) -> dict[str, int]:
        """One transaction: the job's parsed result rows (replacing any earlier load), the anti-join
        (``not_in_results``), every row ``failed`` when VAN failed the job (``failed_message``), the rows'
        sync outcomes, and the job's final state. Returns counts per row status.
        ``completed`` (VAN's terminal status, its errors as JSON): the job is still polling, and what
        ``mark_completed`` would record is written by the final transition (one statement less a job);
        ``hosted_deleted``: its file is already gone from the host."""
        job_key, mts = job["job_key"], str(job["mapping_types"]).split("+")
        cols = [n for n, _ in TABLES[ROW_RESULTS]]
        rr, jr = self.rel(ROW_RESULTS), self.rel(JOB_ROWS)
        now = utcnow()
        with self.wh.begin() as c:
            c.execute(sa.text(f"delete from {rr} where job_key = :k"), {"k": job_key})
            if isinstance(rows, ResultFiles):
                # The engine reads the files and joins them to the carried rows in one INSERT (the anti-join
                # included): no row passes through Python.
                self._load_result_files(c, job, rows)
            else:
                if isinstance(rows, ResultFiles):
                    rows = rows.parse(job_key=job_key, van_job_id=job.get("van_job_id"), run_id=job.get("run_id"),
                                      loaded_at=rows.loaded_at)
                self.bulk_load(ROW_RESULTS, cols, ([r.get(k) for k in cols] for r in rows), conn=c)
                # VAN answers every mapping column of a multi-mapping file for every row: keep the carried pairs.
                c.execute(sa.text(
                    f"delete from {rr} as r where r.job_key = :k and not exists (select 1 from {jr} s "
                    f"where s.job_key = :k and s.source_row_key = r.source_row_key and s.mapping_type = r.mapping_type)"),
                    {"k": job_key})
                for mt in mts:  # every carried row without a result row: VAN dropped it in validation
                    c.execute(sa.text(
                        f"insert into {rr} (job_key, van_job_id, run_id, mapping_type, source_row_key, row_status, "
                        f"first_error_message, error_category, loaded_at) select s.job_key, cast(:j as bigint), "
                        f"cast(:r as {self.wh.ops.text_type}), s.mapping_type, s.source_row_key, '{RowStatus.NOT_IN_RESULTS}', "
                        f"{self.wh.ops.literal(NOT_IN_RESULTS_MESSAGE)}, 'not_in_results', :t "
                        f"from {jr} s where s.job_key = :k and s.mapping_type = cast(:mt as {self.wh.ops.text_type}) and not exists ("
                        f"select 1 from {rr} r where r.job_key = s.job_key and r.mapping_type = s.mapping_type "
                        f"and r.source_row_key = s.source_row_key)"),
                        {"j": job.get("van_job_id"), "r": job.get("run_id"), "mt": mt, "k": job_key, "t": now})
            if failed_message is not None:
                c.execute(sa.text(f"update {rr} set row_status = '{RowStatus.FAILED}', error_category = 'job_failed', "
                                  "first_error_message = :m where job_key = :k"),
                          {"m": failed_message or "job failed", "k": job_key})
            analyze(c, self, ROW_RESULTS)
            self._confirm_outcomes(c, job_key)
            counts = self.status_counts(job_key, conn=c)
            extra: dict[str, Any] = {}
            if completed is not None:
                extra.update(van_status=completed[0], errors_json=completed[1], last_polled_at=now, completed_at=now)
            if hosted_deleted:
                extra["hosted_deleted_at"] = now
            self._transition(
                c, job_key, JobState.FAILED if failed_message is not None else JobState.RESULTS_LOADED, **extra,
                result_file_count=len(result_files), result_files_json=json.dumps(list(result_files)),
                result_files_expire_at=min((f["dateExpired"] for f in result_files if f.get("dateExpired")),
                                           default=None),
                rows_processed=counts.get(RowStatus.PROCESSED, 0), rows_failed=counts.get(RowStatus.FAILED, 0),
                rows_not_in_results=counts.get(RowStatus.NOT_IN_RESULTS, 0))
        return counts

    def _load_result_files(self, c, job: Mapping[str, Any], rf: ResultFiles) -> None:
        """Insert the rows of every result file with one statement over the engine's reading of each file
        (``Engine.csv_relation``: DuckDB ``read_csv``, PostgreSQL ``COPY`` into a temporary table; all text)."""
        per_file, sources = [], []
        for f in rf.files:
            header = read_header(f.path)
            if not header:
                continue
            source = self.wh.ops.csv_relation(c, Path(f.path), len(header), f"results_{int(f.file_no)}")
            sources.append(source)
            per_file.append(result_rows_sql(header, rf.mapping_types, source=source, file_no=f.file_no,
                                            ops=self.wh.ops))
        params = {"job_key": job["job_key"], "van_job_id": job.get("van_job_id"), "run_id": job.get("run_id"),
                  "loaded_at": rf.loaded_at, "absent": NOT_IN_RESULTS_MESSAGE}
        rr, jr = self.rel(ROW_RESULTS), self.rel(JOB_ROWS)
        inserted = self.wh.ops.dml_rows(c.execute(sa.text(results_insert_sql(per_file, rr, jr, self.wh.ops,
                                                                             dedup=False)), params))
        if inserted is None:  # (the job's results are new: the insert's own count is all of them, where known)
            inserted = c.execute(sa.text(f"select count(*) from {rr} where job_key = :job_key"), params).scalar()
        if "+" not in str(job["mapping_types"]) and job.get("row_count") is not None:
            carried = int(job["row_count"])  # one mapping type: record_job wrote one pair per row of the file
        else:
            carried = c.execute(sa.text(f"select count(*) from {jr} where job_key = :job_key"), params).scalar()
        if inserted != carried:  # a key repeated in the result files: keep its first row only (rare; costs a window)
            c.execute(sa.text(f"delete from {rr} where job_key = :job_key"), params)
            c.execute(sa.text(results_insert_sql(per_file, rr, jr, self.wh.ops, dedup=True)), params)
        for source in sources:
            self.wh.ops.release_relation(c, source)

    # -- row sync state --------------------------------------------------------------------------
    def _set_outcome(self, c, job_key: str, outcome: RowOutcome) -> None:
        c.execute(sa.text(f"update {self.rel(ROW_STATE)} set outcome = :o, updated_at = :t where job_key = :k"),
                  {"o": outcome.value, "t": utcnow(), "k": job_key})

    def _confirm_outcomes(self, c, job_key: str | None = None) -> None:
        """Rows' sync outcomes from their job's loaded results (only where that job is still the row's last).
        Without ``job_key``: every ``pending`` row whose job already has results (heals an older crash)."""
        st, rr = self.rel(ROW_STATE), self.rel(ROW_RESULTS)
        where = "s.job_key = :k" if job_key else f"s.outcome = '{RowOutcome.PENDING}'"
        c.execute(sa.text(  # the target aliased: BigQuery names a target column by alias or bare table name only
            f"update {st} as s set outcome = r.row_status, updated_at = :t, "
            f"processed_hash = case when r.row_status = '{RowStatus.PROCESSED}' then s.row_hash "
            f"else s.processed_hash end, "
            f"processed_at = case when r.row_status = '{RowStatus.PROCESSED}' then :t else s.processed_at end "
            f"from {rr} r where {where} and r.job_key = s.job_key and r.mapping_type = s.mapping_type "
            f"and r.source_row_key = s.source_row_key"), {"k": job_key, "t": utcnow()})

    def heal_row_state(self) -> None:
        """Before planning: a ``pending`` row whose job has loaded results, or was refused / abandoned, takes
        that outcome; one whose job is ambiguous becomes ``ambiguous``. Idempotent."""
        st, jobs = self.rel(ROW_STATE), self.rel(JOBS)
        with self.wh.begin() as c:
            self._confirm_outcomes(c)
            for states, outcome in ((RESUBMITTABLE_JOB_STATES, RowOutcome.REFUSED),
                                    (AMBIGUOUS_JOB_STATES - {JobState.SUBMITTING}, RowOutcome.AMBIGUOUS)):
                c.execute(sa.text(
                    f"update {st} as s set outcome = :o, updated_at = :t where s.outcome = '{RowOutcome.PENDING}' "
                    f"and exists (select 1 from {jobs} j where j.job_key = s.job_key and j.local_state in ({sql_list(states)}) "
                    f"and j.local_state <> '{JobState.EXPORTED}' and j.local_state <> '{JobState.UPLOADED}')"),
                    {"o": outcome.value, "t": utcnow()})

    def plan(self, run_id: str, req: PlanRequest, passing_sql: str, view: str, hash_columns: Sequence[str],
             passing_count: int | None = None, write_counts: bool = True, defer_counts: bool = False
             ) -> dict[str, int] | None:
        """The diff of one mapping type's passing rows against its sync state, in the warehouse: every row's
        category into ``van_bulk_plan_rows`` (all but ``unchanged``), counts into ``van_bulk_plan_counts``.
        ``passing_count``: how many rows ``passing_sql`` gives, when the caller knows it exactly (pre-flight
        counted its copy of the view): not counted again. With it, a plan that writes no row (nothing new) is
        two statements where the engine says how many rows a statement wrote (the diff and the counts), and a
        plan without a `gone` row is four at most. ``write_counts=False``: the caller writes the counts
        (``write_plan_counts``: one statement for every mapping type of the run). ``defer_counts`` (with
        ``passing_count``, not retry-failed): a plan that wrote rows returns None and its categories are counted
        with every other such plan's by ``count_plans`` (one statement for all)."""
        st, pr, jobs, rr = self.rel(ROW_STATE), self.rel(PLAN_ROWS), self.rel(JOBS), self.rel(ROW_RESULTS)
        h = row_hash_sql(hash_columns, self.wh.ops, "v")
        p = {"run": run_id, "t": self.api_target, "d": self.database_mode, "mt": req.mapping_type, "now": utcnow()}
        source = f"({passing_sql})"
        if req.retry_only_run is not None:  # retry-failed: only rows whose last outcome can be retried
            from connector.ledger.states import RETRYABLE_OUTCOMES

            extra = (f" and exists (select 1 from {rr} r where r.run_id = :retry_run and r.mapping_type = :mt "
                     f"and r.source_row_key = v.source_row_key)" if req.retry_only_run else "")
            source = (f"(select v.* from {source} v where exists (select 1 from {st} s where s.api_target = :t "
                      f"and s.database_mode = :d and s.mapping_type = :mt and s.source_row_key = v.source_row_key "
                      f"and s.outcome in ({sql_list(RETRYABLE_OUTCOMES)})){extra})")
            p["retry_run"] = req.retry_only_run
        state = (f"(select * from {st} where api_target = :t and database_mode = :d and mapping_type = :mt)")
        hashed = f"(select v.source_row_key, {h} as row_hash from {source} v)"
        retry_mode = req.retry_only_run is not None
        with self.wh.begin() as c:
            if req.mapping_type in self._unhashed_mapping_types(c):  # rows migrated from an older ledger: the current values stand for the version sent
                c.execute(sa.text(
                    f"update {st} as s set row_hash = x.row_hash, processed_hash = case when s.processed_at is not "
                    f"null then x.row_hash end from {hashed} x where s.row_hash is null and s.api_target = :t "
                    f"and s.database_mode = :d and s.mapping_type = :mt "
                    f"and s.source_row_key = x.source_row_key"), p)
                self._unhashed.discard(req.mapping_type)
            # One pass: hash every passing row, join its state (and the job that last carried it), keep every
            # row that is not `unchanged`. A state row no passing row matches is `gone`, unless its key is still
            # in the view (rejected this run): that check runs on those few keys only (a correlated EXISTS in
            # the CASE, or an anti-join of the whole state, cost 1.4x / 0.45x the whole pass on DuckDB).
            join = "left join" if retry_mode else "full outer join"
            category = categorize_sql(req) if retry_mode else (
                f"case when p.source_row_key is null then '{PlanCategory.GONE}' else {categorize_sql(req)} end")
            written = self.wh.ops.dml_rows(c.execute(sa.text(
                f"insert into {pr} (run_id, api_target, database_mode, mapping_type, source_row_key, category, "
                f"row_hash, planned_at) select :run, :t, :d, :mt, source_row_key, category, row_hash, :now from ("
                f"select coalesce(p.source_row_key, s.source_row_key) as source_row_key, "
                f"coalesce(p.row_hash, s.row_hash) as row_hash, {category} as category "
                f"from {hashed} p {join} {state} s on s.source_row_key = p.source_row_key "
                f"left join {jobs} j on j.job_key = s.job_key) x where category <> '{PlanCategory.UNCHANGED}'"), p))
            known = passing_count is not None and not retry_mode  # retry-failed plans a subset of the rows
            counts: dict[Any, int] = {}
            if written != 0:  # (0: every passing row unchanged, the engine says so: nothing to analyze or count)
                analyze(c, self, PLAN_ROWS, rows=written)  # before the statements below filter them
                if defer_counts and known and written is not None:
                    return None
                # The categories and the passing rows counted in one statement (the passing rows under no
                # category); the categories alone when the caller counted the passing rows.
                query = (f"select category, count(*) from {pr} where run_id = :run and mapping_type = :mt "
                         f"group by category")
                if not known:
                    query += (f" union all select cast(null as {self.wh.ops.text_type}), count(*) "
                              f"from {source} v")
                counts = {r[0]: int(r[1]) for r in c.execute(sa.text(query), p)}
                if not retry_mode:
                    self._settle_gone(c, run_id, req.mapping_type, view, counts)
            if known:
                counts[None] = int(passing_count)
            elif written == 0:
                counts[None] = int(c.execute(sa.text(f"select count(*) from {source} v"), p).scalar() or 0)
            counts = _with_unchanged(counts, counts.pop(None, 0))
            if write_counts:
                self._write_counts(c, run_id, req.mapping_type, counts, replace=False)  # a run plans a type once
        return counts

    def count_plans(self, run_id: str, plans: Mapping[str, tuple[int, str]]) -> dict[str, dict[str, int]]:
        """The counts of the plans ``plan(..., defer_counts=True)`` left uncounted (mapping type -> its passing
        rows and its view), every category of all of them in one statement; `gone` settled as ``plan`` does."""
        if not plans:
            return {}
        pr, names = self.rel(PLAN_ROWS), sorted(plans)
        found: dict[str, dict[Any, int]] = {n: {} for n in names}
        with self.wh.begin() as c:
            for mt, cat, n in c.execute(sa.text(
                    f"select mapping_type, category, count(*) from {pr} where run_id = :run and mapping_type in "
                    f"({', '.join(f':m{i}' for i in range(len(names)))}) group by mapping_type, category"),
                    {"run": run_id, **{f"m{i}": n for i, n in enumerate(names)}}):
                found[mt][cat] = int(n)
            for name in names:
                self._settle_gone(c, run_id, name, plans[name][1], found[name])
        return {name: _with_unchanged(found[name], plans[name][0]) for name in names}

    def _settle_gone(self, c, run_id: str, mapping_type: str, view: str, counts: dict) -> None:
        """`gone` only if the key left the view: not if it is still there, rejected this run (those plan rows
        are deleted and ``counts`` corrected)."""
        if not counts.get(PlanCategory.GONE):
            return
        pr, p = self.rel(PLAN_ROWS), {"run": run_id, "mt": mapping_type}
        gone_sql = (f"from {pr} where run_id = :run and mapping_type = :mt and category = '{PlanCategory.GONE}' "
                    f"and source_row_key in (select v.source_row_key from {view} v)")
        deleted = self.wh.ops.dml_rows(c.execute(sa.text(f"delete {gone_sql}"), p))
        if deleted is None:
            deleted = counts[PlanCategory.GONE] - int(c.execute(sa.text(
                f"select count(*) from {pr} where run_id = :run and mapping_type = :mt "
                f"and category = '{PlanCategory.GONE}'"), p).scalar() or 0)
        counts[PlanCategory.GONE] -= deleted
        if not counts[PlanCategory.GONE]:
            del counts[PlanCategory.GONE]

    def write_plan_counts(self, run_id: str, counts: Mapping[str, Mapping[str, int]]) -> None:
        """Plan counts of several mapping types, {mapping type: {category: rows}}, in one INSERT (a run plans a
        mapping type once: nothing to replace)."""
        if any(counts.values()):
            with self.wh.begin() as c:
                self._insert_counts(c, run_id, counts)

    def _unhashed_mapping_types(self, c) -> set[str]:
        """Mapping types with sync state rows migrated from an older ledger (no row hash yet): asked once per
        ledger object in one statement, not once per mapping type (only ``ensure``'s migration makes such rows)."""
        if self._unhashed is None:
            self._unhashed = {r[0] for r in c.execute(sa.text(
                f"select distinct mapping_type from {self.rel(ROW_STATE)} where row_hash is null "
                "and api_target = :t and database_mode = :d"), {"t": self.api_target, "d": self.database_mode})}
        return self._unhashed

    def _write_counts(self, c, run_id: str, mapping_type: str, counts: Mapping[str, int], replace: bool = True
                      ) -> None:
        if replace:
            c.execute(sa.text(f"delete from {self.rel(PLAN_COUNTS)} where run_id = :r and mapping_type = :m"),
                      {"r": run_id, "m": mapping_type})
        self._insert_counts(c, run_id, {mapping_type: counts})

    def _insert_counts(self, c, run_id: str, counts: Mapping[str, Mapping[str, int]]) -> None:
        """{mapping type: {category: rows}} into ``van_bulk_plan_counts`` in one INSERT (was one statement each)."""
        rows = [(m, cat, int(n)) for m, per in counts.items() for cat, n in per.items()]
        if not rows:
            return
        params: dict[str, Any] = {"r": run_id}
        values = []
        for i, (m, cat, n) in enumerate(rows):
            params[f"m{i}"], params[f"c{i}"], params[f"n{i}"] = m, cat, n
            values.append(f"(:r, :m{i}, :c{i}, :n{i})")
        c.execute(sa.text(f"insert into {self.rel(PLAN_COUNTS)} (run_id, mapping_type, category, row_count) "
                          f"values {', '.join(values)}"), params)

    def plan_carried(self, run_id: str, primary: str, primary_passing_sql: str, hash_columns: Sequence[str],
                     extras: Sequence[str]) -> int:
        """Combined job: the primary's ``unchanged`` rows whose key an extra mapping type sends become
        ``carried`` (the file needs the primary's row to carry the extra's data). Returns how many."""
        pr = self.rel(PLAN_ROWS)
        h = row_hash_sql(hash_columns, self.wh.ops, "v")
        p = {"run": run_id, "t": self.api_target, "d": self.database_mode, "mt": primary, "now": utcnow()}
        extra_list = ", ".join(f"'{e}'" for e in extras)
        with self.wh.begin() as c:
            c.execute(sa.text(
                f"insert into {pr} (run_id, api_target, database_mode, mapping_type, source_row_key, category, "
                f"row_hash, planned_at) select :run, :t, :d, :mt, v.source_row_key, '{PlanCategory.CARRIED}', {h}, "
                f":now from ({primary_passing_sql}) v where exists (select 1 from {pr} e where e.run_id = :run "
                f"and e.mapping_type in ({extra_list}) and e.source_row_key = v.source_row_key "
                f"and e.category in ({sql_list(SENT_CATEGORIES)})) and not exists (select 1 from {pr} x "
                f"where x.run_id = :run and x.mapping_type = :mt and x.source_row_key = v.source_row_key)"), p)
            n = int(c.execute(sa.text(f"select count(*) from {pr} where run_id = :run and mapping_type = :mt "
                                      f"and category = '{PlanCategory.CARRIED}'"), p).scalar() or 0)
            analyze(c, self, PLAN_ROWS, rows=n)
            if n:
                counts = self.plan_counts(run_id, conn=c).get(primary, {})
                counts[PlanCategory.UNCHANGED.value] = counts.get(PlanCategory.UNCHANGED.value, 0) - n
                counts[PlanCategory.CARRIED.value] = counts.get(PlanCategory.CARRIED.value, 0) + n
                self._write_counts(c, run_id, primary, {k: v for k, v in counts.items() if v})
        return n

    def plan_counts(self, run_id: str, conn=None) -> dict[str, dict[str, int]]:
        sql = f"select mapping_type, category, row_count from {self.rel(PLAN_COUNTS)} where run_id = :r"
        rows = (conn.execute(sa.text(sql), {"r": run_id}).all() if conn is not None
                else [tuple(r.values()) for r in self._query(sql, {"r": run_id})])
        out: dict[str, dict[str, int]] = {}
        for mt, cat, n in rows:
            out.setdefault(mt, {})[cat] = int(n)
        return out

    def planned_sql(self, run_id: str, mapping_type: str, categories: Iterable[str]) -> str:
        """Keys the plan put in ``categories`` for a mapping type (a subquery for export)."""
        return (f"select source_row_key from {self.rel(PLAN_ROWS)} where run_id = '{run_id}' "
                f"and mapping_type = '{mapping_type}' and category in ({sql_list(categories)})")

    # -- read models -----------------------------------------------------------------------------
    def retryable_mapping_types(self, run_id: str | None = None) -> list[str]:
        """Mapping types with rows whose last outcome can be retried (with a result in ``run_id``, if given)."""
        from connector.ledger.states import RETRYABLE_OUTCOMES

        extra = (f" and exists (select 1 from {self.rel(ROW_RESULTS)} r where r.run_id = :r "
                 f"and r.mapping_type = s.mapping_type and r.source_row_key = s.source_row_key)" if run_id else "")
        return [r["mapping_type"] for r in self._query(
            f"select distinct mapping_type from {self.rel(ROW_STATE)} s where api_target = :t and database_mode = :d "
            f"and outcome in ({sql_list(RETRYABLE_OUTCOMES)}){extra} order by mapping_type",
            {"t": self.api_target, "d": self.database_mode, "r": run_id})]

    def outcome_counts_for_run(self, run_id: str) -> list[dict]:
        return self._query(
            f"select r.mapping_type, r.row_status, count(*) as n from {self.rel(ROW_RESULTS)} r "
            f"join {self.rel(JOBS)} j on j.job_key = r.job_key where j.run_id = :r "
            "group by r.mapping_type, r.row_status", {"r": run_id})

    def outcome_counts_for_jobs(self, job_keys: Sequence[str]) -> dict[str, dict[str, int]]:
        """mapping type -> row status -> rows, over the given jobs (what a run collected for earlier runs)."""
        if not job_keys:
            return {}
        keys = ", ".join(self.wh.ops.literal(k) for k in job_keys)
        out: dict[str, dict[str, int]] = {}
        for r in self._query(f"select mapping_type, row_status, count(*) as n from {self.rel(ROW_RESULTS)} "
                             f"where job_key in ({keys}) group by mapping_type, row_status"):
            out.setdefault(r["mapping_type"], {})[r["row_status"]] = int(r["n"])
        return out

    def unresolved_jobs(self, mapping_type: str | None = None) -> list[dict]:
        """Jobs whose POST may have reached VAN (``submitting`` after a crash, ``ambiguous``): only a person can
        settle them (`vanbulk resolve`), and their rows are not sent until then."""
        rows = self._query(f"select job_key, mapping_types, local_state, row_count, created_at from {self.rel(JOBS)} "
                           f"where local_state in ({sql_list(AMBIGUOUS_JOB_STATES)}) and api_target = :t "
                           "order by created_at", {"t": self.api_target})
        return [r for r in rows if mapping_type is None or mapping_type in str(r["mapping_types"]).split("+")]

    def held_rows(self, run_id: str, mapping_type: str, category: str, limit: int = 5) -> list[str]:
        return [r["source_row_key"] for r in self._query(
            f"select source_row_key from {self.rel(PLAN_ROWS)} where run_id = :r and mapping_type = :m "
            f"and category = :c order by source_row_key limit {int(limit)}",
            {"r": run_id, "m": mapping_type, "c": category})]

    def row_state(self, mapping_type: str | None = None) -> list[dict]:
        where = "where api_target = :t and database_mode = :d" + (" and mapping_type = :m" if mapping_type else "")
        return self._query(f"select * from {self.rel(ROW_STATE)} {where} order by mapping_type, source_row_key",
                           {"t": self.api_target, "d": self.database_mode, "m": mapping_type})

    # -- generic SQL (private: callers use the methods above) ------------------------------------
    def _query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        with self.wh.connect() as c:
            res = c.execute(sa.text(sql), dict(params or {}))
            return [dict(r._mapping) for r in res]

    def _insert(self, table: str, values: Mapping[str, Any], conn=None) -> None:
        cols = list(values)
        sql = sa.text(f"insert into {self.rel(table)} ({', '.join(self.wh.quote(c) for c in cols)}) "
                      f"values ({', '.join(':' + c for c in cols)})")
        if conn is not None:
            conn.execute(sql, dict(values))
        else:
            with self.wh.begin() as c:
                c.execute(sql, dict(values))

    def _update(self, table: str, key_col: str, key: Any, values: Mapping[str, Any]) -> None:
        if not values:
            return
        sets = ", ".join(f"{self.wh.quote(c)} = :v_{c}" for c in values)
        params = {f"v_{c}": v for c, v in values.items()}
        params["key"] = key
        with self.wh.begin() as c:
            c.execute(sa.text(f"update {self.rel(table)} set {sets} where {self.wh.quote(key_col)} = :key"), params)

    def bulk_load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], conn) -> int:
        """Rows through a temporary CSV into the engine's bulk path (``Engine.copy_into``): memory stays bounded
        for million-row jobs."""
        fd, path = tempfile.mkstemp(prefix="vanbulk-load-", suffix=".csv")
        try:
            n = 0
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(",".join(columns) + "\n")
                for r in rows:
                    f.write(",".join(_csv_cell(v) for v in r) + "\n")
                    n += 1
            if n:
                self.wh.ops.copy_into(conn, self.rel(table), columns, Path(path))
            return n
        finally:
            os.unlink(path)


NOT_IN_RESULTS_MESSAGE = "row absent from VAN's result files (rejected by VAN validation)"


def _blocking(j: str, processed_blocks: bool) -> str:
    """Job ``j`` has the content ``:k`` and blocks sending it again (``blocking_job_for_content``)."""
    processed = (f" or ({j}.local_state = '{JobState.RESULTS_LOADED}' and coalesce({j}.rows_processed, 0) > 0)"
                 if processed_blocks else "")
    return (f"{j}.content_key = :k and ({j}.local_state in ({sql_list(COLLECTABLE_JOB_STATES | AMBIGUOUS_JOB_STATES)})"
            f"{processed})")


def _with_unchanged(counts: dict, passing: int) -> dict:
    """A plan's counts with its `unchanged` rows: the passing rows no written category holds."""
    unchanged = int(passing) - sum(n for k, n in counts.items() if k != PlanCategory.GONE)
    if unchanged:
        counts[PlanCategory.UNCHANGED.value] = unchanged
    return counts


def _csv_cell(v: Any) -> str:
    """NULL is an empty unquoted field; every value is quoted (so '' stays an empty string)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        v = "true" if v else "false"
    elif isinstance(v, datetime):
        v = v.isoformat(sep=" ")
    return '"' + str(v).replace('"', '""') + '"'
