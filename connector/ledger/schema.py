"""Ledger tables (DDL as data). Column meanings: docs/ledger.md; the sync tables: docs/sync.md.

Types are SQLAlchemy's, compiled per engine (``Engine.column_type``): VARCHAR(64)/TEXT/TIMESTAMP on DuckDB and
PostgreSQL, STRING(64)/STRING/DATETIME on BigQuery. Timestamps are naive UTC everywhere.
"""

from __future__ import annotations

import sqlalchemy as sa


def _s(n: int) -> sa.types.TypeEngine:
    return sa.String(n)


_TEXT, _TS, _BOOL, _INT, _BIG = sa.Text(), sa.DateTime(), sa.Boolean(), sa.Integer(), sa.BigInteger()

RUNS, JOBS, JOB_ROWS, ROW_RESULTS, ROW_LATEST = (
    "van_bulk_runs", "van_bulk_jobs", "van_bulk_job_rows", "van_bulk_row_results", "van_bulk_row_latest")
ROW_STATE, PLAN_ROWS, PLAN_COUNTS = "van_bulk_row_state", "van_bulk_plan_rows", "van_bulk_plan_counts"
PLAN_FINGERPRINTS = "van_bulk_plan_fingerprints"

TABLES: dict[str, list[tuple[str, sa.types.TypeEngine]]] = {
    RUNS: [
        ("run_id", _s(64)), ("invoked_at", _TS), ("finished_at", _TS),
        ("command", _s(64)), ("selector", _TEXT), ("target", _TEXT), ("package_version", _s(32)),
        ("dry_run", _BOOL), ("simulated", _BOOL), ("status", _s(32)), ("args_json", _TEXT),
        ("summary_json", _TEXT), ("api_target", _TEXT), ("pid", _INT), ("host", _TEXT),
        ("dbt_build_json", _TEXT),  # the run's dbt build: fingerprint + views (connector/dbt_state.py)
    ],
    JOBS: [
        ("job_key", _s(64)), ("run_id", _s(64)), ("content_key", _s(64)),
        ("van_job_id", _BIG), ("mapping_types", _TEXT), ("resource_type", _s(64)),
        ("source_relation", _TEXT), ("api_target", _TEXT), ("database_mode", _INT),
        ("chunk_no", _INT), ("chunk_count", _INT), ("row_count", _BIG), ("file_name", _TEXT),
        ("file_sha256", _s(64)), ("zipped_bytes", _BIG), ("storage_uri", _TEXT), ("hosted_key", _TEXT),
        ("local_state", _s(32)), ("van_status", _s(32)), ("errors_json", _TEXT),
        ("result_file_count", _INT), ("result_files_json", _TEXT), ("result_files_expire_at", _TEXT),
        ("rows_processed", _BIG), ("rows_failed", _BIG), ("rows_not_in_results", _BIG),
        ("forced", _BOOL), ("retry_of_run_id", _s(64)), ("created_at", _TS),
        ("submitted_at", _TS), ("last_polled_at", _TS), ("completed_at", _TS),
        ("hosted_deleted_at", _TS),
    ],
    # One row per (key, mapping type) a job carries data for.
    JOB_ROWS: [("job_key", _s(64)), ("source_row_key", _TEXT), ("mapping_type", _s(128))],
    ROW_RESULTS: [
        ("job_key", _s(64)), ("van_job_id", _BIG), ("run_id", _s(64)),
        ("mapping_type", _s(128)), ("source_row_key", _TEXT), ("bulk_upload_data_id", _BIG),
        ("ul_file_id", _TEXT), ("primary_key", _TEXT), ("primary_key_type", _s(64)),
        ("mapping_messages_json", _TEXT), ("row_status", _s(32)), ("first_error_message", _TEXT),
        ("error_category", _s(64)), ("result_file_no", _INT), ("loaded_at", _TS),
    ],
    # Row-level sync state: per (VAN target, database mode, mapping type, key) the version last sent.
    ROW_STATE: [
        ("api_target", _TEXT), ("database_mode", _INT), ("mapping_type", _s(128)),
        ("source_row_key", _TEXT), ("row_hash", _s(32)), ("outcome", _s(32)),
        ("job_key", _s(64)), ("run_id", _s(64)), ("tries", _INT),
        ("processed_hash", _s(32)), ("processed_at", _TS), ("updated_at", _TS),
    ],
    # The plan of each run: every row the plan step did not leave `unchanged`, with its category.
    PLAN_ROWS: [
        ("run_id", _s(64)), ("api_target", _TEXT), ("database_mode", _INT),
        ("mapping_type", _s(128)), ("source_row_key", _TEXT), ("category", _s(32)),
        ("row_hash", _s(32)), ("planned_at", _TS),
    ],
    PLAN_COUNTS: [
        ("run_id", _s(64)), ("mapping_type", _s(128)), ("category", _s(32)),
        ("row_count", _BIG),
    ],
    # Plans that found every row unchanged, with a fingerprint of all they read: a later run with the same one
    # does not diff again (connector/ledger/plan_reuse.py).
    PLAN_FINGERPRINTS: [
        ("run_id", _s(64)), ("api_target", _TEXT), ("database_mode", _INT), ("mapping_type", _s(128)),
        ("fingerprint", _s(64)), ("row_count", _BIG), ("planned_at", _TS),
    ],
}

# Pre-flight's own tables (written by connector/preflight): the rows stopped or warned before sending, and the
# input rows a staging view leaves out. (name, type, not null)
PREFLIGHT_FINDINGS: list[tuple[str, sa.types.TypeEngine, bool]] = [
    ("run_id", _TEXT, True), ("mapping_type", _TEXT, True), ("source_row_key", _TEXT, False),
    ("rule", _TEXT, True), ("column_name", _TEXT, False), ("value", _TEXT, False), ("message", _TEXT, True),
    ("checked_at", _TS, True),
]
# pre-flight's record of each view's check, for a later run to carry over (connector/preflight/reuse.py)
PREFLIGHT_CHECKS: list[tuple[str, sa.types.TypeEngine, bool]] = [
    ("run_id", _TEXT, True), ("mapping_type", _TEXT, True), ("fingerprint", _TEXT, True), ("result", _TEXT, True),
    ("checked_at", _TS, True),
]
PREFLIGHT_DROPPED: list[tuple[str, sa.types.TypeEngine, bool]] = [
    ("run_id", _TEXT, True), ("mapping_type", _TEXT, True), ("source_row_key", _TEXT, False),
    ("reason", _TEXT, True), ("duplicate_rank", _INT, False), ("message", _TEXT, True), ("checked_at", _TS, True),
]


def create_table(conn, warehouse, relation: str, columns: list[tuple[str, sa.types.TypeEngine, bool]]) -> None:
    """``create table if not exists`` in the warehouse's own types (``Engine.column_type``)."""
    ops, dialect = warehouse.ops, warehouse.engine.dialect
    typed = [(n, ops.column_type(t, dialect) + (" not null" if nn else "")) for n, t, nn in columns]
    conn.execute(sa.text(ops.create_table_sql(relation, typed)))


# Unique keys created with the table: one sync state per row, which also makes claiming a row before the
# POST atomic when two workers race (the second insert fails; its transaction, and its POST, never happen).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    ROW_STATE: ("api_target", "database_mode", "mapping_type", "source_row_key"),
}

ALL_NAMES = (*TABLES, ROW_LATEST)
