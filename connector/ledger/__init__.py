"""The job ledger: tables (``schema``), named states (``states``), row-sync SQL (``sync``), and the
``Ledger`` that owns every transition (``store``). Callers import from here."""

from connector.ledger.schema import (JOB_ROWS, JOBS, PLAN_COUNTS, PLAN_ROWS, ROW_LATEST, ROW_RESULTS, ROW_STATE,
                                     RUNS, TABLES)
from connector.ledger.states import (AMBIGUOUS_JOB_STATES, COLLECTABLE_JOB_STATES, FINAL_JOB_STATES,
                                     HELD_CATEGORIES, RESUBMITTABLE_JOB_STATES, SENT_CATEGORIES, JobState,
                                     PlanCategory, RowOutcome, RowStatus, RunStatus)
from connector.ledger.store import Ledger, LedgerStateError, RowClaimConflict, content_key, new_id, utcnow
from connector.ledger.sync import PlanRequest, row_hash_sql

__all__ = [
    "AMBIGUOUS_JOB_STATES", "COLLECTABLE_JOB_STATES", "FINAL_JOB_STATES", "HELD_CATEGORIES", "JOBS", "JOB_ROWS",
    "JobState", "Ledger", "LedgerStateError", "PLAN_COUNTS", "PLAN_ROWS", "PlanCategory", "PlanRequest",
    "RESUBMITTABLE_JOB_STATES", "ROW_LATEST", "ROW_RESULTS", "ROW_STATE", "RUNS", "RowClaimConflict", "RowOutcome",
    "RowStatus", "RunStatus", "SENT_CATEGORIES", "TABLES", "content_key", "new_id", "row_hash_sql", "utcnow",
]
