"""Ledger tables (DDL as data). Column meanings: docs/ledger.md; the sync tables: docs/sync.md."""

from __future__ import annotations

RUNS, JOBS, JOB_ROWS, ROW_RESULTS, ROW_LATEST = (
    "van_bulk_runs", "van_bulk_jobs", "van_bulk_job_rows", "van_bulk_row_results", "van_bulk_row_latest")
ROW_STATE, PLAN_ROWS, PLAN_COUNTS = "van_bulk_row_state", "van_bulk_plan_rows", "van_bulk_plan_counts"

TABLES: dict[str, list[tuple[str, str]]] = {
    RUNS: [
        ("run_id", "varchar(64)"), ("invoked_at", "timestamp"), ("finished_at", "timestamp"),
        ("command", "varchar(64)"), ("selector", "text"), ("target", "text"), ("package_version", "varchar(32)"),
        ("dry_run", "boolean"), ("simulated", "boolean"), ("status", "varchar(32)"), ("args_json", "text"),
        ("summary_json", "text"), ("api_target", "text"), ("pid", "integer"), ("host", "text"),
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
    # One row per (key, mapping type) a job carries data for.
    JOB_ROWS: [("job_key", "varchar(64)"), ("source_row_key", "text"), ("mapping_type", "varchar(128)")],
    ROW_RESULTS: [
        ("job_key", "varchar(64)"), ("van_job_id", "bigint"), ("run_id", "varchar(64)"),
        ("mapping_type", "varchar(128)"), ("source_row_key", "text"), ("bulk_upload_data_id", "bigint"),
        ("ul_file_id", "text"), ("primary_key", "text"), ("primary_key_type", "varchar(64)"),
        ("mapping_messages_json", "text"), ("row_status", "varchar(32)"), ("first_error_message", "text"),
        ("error_category", "varchar(64)"), ("result_file_no", "integer"), ("loaded_at", "timestamp"),
    ],
    # Row-level sync state: per (VAN target, database mode, mapping type, key) the version last sent.
    ROW_STATE: [
        ("api_target", "text"), ("database_mode", "integer"), ("mapping_type", "varchar(128)"),
        ("source_row_key", "text"), ("row_hash", "varchar(32)"), ("outcome", "varchar(32)"),
        ("job_key", "varchar(64)"), ("run_id", "varchar(64)"), ("tries", "integer"),
        ("processed_hash", "varchar(32)"), ("processed_at", "timestamp"), ("updated_at", "timestamp"),
    ],
    # The plan of each run: every row the plan step did not leave `unchanged`, with its category.
    PLAN_ROWS: [
        ("run_id", "varchar(64)"), ("api_target", "text"), ("database_mode", "integer"),
        ("mapping_type", "varchar(128)"), ("source_row_key", "text"), ("category", "varchar(32)"),
        ("row_hash", "varchar(32)"), ("planned_at", "timestamp"),
    ],
    PLAN_COUNTS: [
        ("run_id", "varchar(64)"), ("mapping_type", "varchar(128)"), ("category", "varchar(32)"),
        ("row_count", "bigint"),
    ],
}

# Unique keys created with the table: one sync state per row, which also makes claiming a row before the
# POST atomic when two workers race (the second insert fails; its transaction, and its POST, never happen).
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    ROW_STATE: ("api_target", "database_mode", "mapping_type", "source_row_key"),
}

ALL_NAMES = (*TABLES, ROW_LATEST)
