"""Named states of everything the ledger records, with their meaning (Airbyte's ``AsyncJobStatus`` idea).

``JobState``      a chunk/job (``van_bulk_jobs.local_state``), and the transitions the ledger allows;
``RowStatus``     a sent row's result (``van_bulk_row_results.row_status``);
``RowOutcome``    the last known outcome of a row version (``van_bulk_row_state.outcome``);
``PlanCategory``  what the plan step decided for a row this run (``van_bulk_plan_rows.category``).

Callers use these names, never string literals; ``tests/ledger/test_states.py`` checks that every state is
reachable and that none is a dead end (each non-final state has a way out that a command takes).
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    EXPORTED = "exported"  # ledger row and carried rows written; nothing hosted
    UPLOADED = "uploaded"  # file hosted; not POSTed
    SUBMITTING = "submitting"  # committed right before the POST: may or may not have reached VAN
    SUBMITTED = "submitted"  # VAN answered with a job id
    POLLING = "polling"  # VAN said Pending / InProgress
    TIMED_OUT = "timed_out"  # still running at VAN when polling stopped; the next run / status collects it
    COMPLETED = "completed"  # terminal at VAN, results not loaded (a failed download or load): collected again
    RESULTS_LOADED = "results_loaded"  # final: every carried row has a row result
    FAILED = "failed"  # final: VAN marked the job Failed; its rows are `failed` and retried by the next run
    SUBMIT_FAILED = "submit_failed"  # final: VAN refused the POST (no job exists); rows `refused`, retried
    AMBIGUOUS = "ambiguous"  # the POST may have landed (timeout/5xx after sending); resolved by hand
    ABANDONED = "abandoned"  # final: a user confirmed an ambiguous job is not at VAN (`vanbulk resolve`)
    CLAIMED_ELSEWHERE = "claimed_elsewhere"  # final: another run claimed these rows first; nothing POSTed

    @property
    def is_final(self) -> bool:
        return self in FINAL_JOB_STATES

    @property
    def needs_collecting(self) -> bool:
        """VAN has (or finished) a job whose rows' results are not in the ledger yet."""
        return self in COLLECTABLE_JOB_STATES


COLLECTABLE_JOB_STATES = frozenset({JobState.SUBMITTED, JobState.POLLING, JobState.TIMED_OUT, JobState.COMPLETED})
AMBIGUOUS_JOB_STATES = frozenset({JobState.SUBMITTING, JobState.AMBIGUOUS})
# No job exists at VAN for these: the chunk's content may be sent again.
RESUBMITTABLE_JOB_STATES = frozenset({JobState.EXPORTED, JobState.UPLOADED, JobState.SUBMIT_FAILED,
                                      JobState.ABANDONED, JobState.CLAIMED_ELSEWHERE})
FINAL_JOB_STATES = frozenset({JobState.RESULTS_LOADED, JobState.FAILED, JobState.SUBMIT_FAILED,
                              JobState.ABANDONED, JobState.CLAIMED_ELSEWHERE})

# target state -> states it may be entered from (checked by Ledger.transition)
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.EXPORTED: frozenset(),
    JobState.UPLOADED: frozenset({JobState.EXPORTED}),
    JobState.SUBMITTING: frozenset({JobState.UPLOADED}),
    JobState.SUBMITTED: frozenset({JobState.SUBMITTING, JobState.AMBIGUOUS}),  # from AMBIGUOUS: found at VAN
    JobState.SUBMIT_FAILED: frozenset({JobState.SUBMITTING, JobState.UPLOADED}),
    JobState.AMBIGUOUS: frozenset({JobState.SUBMITTING}),
    JobState.POLLING: frozenset({JobState.SUBMITTED, JobState.POLLING, JobState.TIMED_OUT}),
    JobState.TIMED_OUT: frozenset({JobState.SUBMITTED, JobState.POLLING, JobState.TIMED_OUT}),
    JobState.COMPLETED: frozenset({JobState.SUBMITTED, JobState.POLLING, JobState.TIMED_OUT, JobState.COMPLETED,
                                   JobState.RESULTS_LOADED}),
    # from a polling state: results loaded in the same commit that records VAN's terminal status
    JobState.RESULTS_LOADED: frozenset({JobState.SUBMITTED, JobState.POLLING, JobState.TIMED_OUT, JobState.COMPLETED}),
    JobState.FAILED: frozenset({JobState.SUBMITTED, JobState.POLLING, JobState.TIMED_OUT, JobState.COMPLETED,
                                JobState.FAILED}),
    JobState.ABANDONED: frozenset({JobState.SUBMITTING, JobState.AMBIGUOUS}),
    # from SUBMITTING: an engine without transactions marks the job first, then claims (ledger/claim.py)
    JobState.CLAIMED_ELSEWHERE: frozenset({JobState.EXPORTED, JobState.UPLOADED, JobState.SUBMITTING}),
}


class RunStatus(StrEnum):
    """A run's (or retry's) outcome: the summary's header, ``van_bulk_runs.status``, the JSON events and
    ``vanbulk_sync_status`` share these values; the exit code follows from them (docs/connector.md)."""

    RUNNING = "running"  # started; a run still `running` while nobody holds the writer lock died
    SUCCESS = "success"  # every row it sent was processed (or is still at VAN); every selected type could send
    COMPLETED_WITH_FAILURES = "completed_with_failures"  # rows VAN failed, dropped or refused, or a POST ambiguous
    BLOCKED = "blocked"  # a selected mapping type sent nothing: blocked, or every checked row rejected
    DRY_RUN = "dry_run"
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM (or found dead): the ledger keeps what was submitted
    ERROR = "error"

    @property
    def completed(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.COMPLETED_WITH_FAILURES, RunStatus.BLOCKED)


class RowStatus(StrEnum):
    PROCESSED = "processed"
    FAILED = "failed"
    NOT_IN_RESULTS = "not_in_results"
    REFUSED = "refused"


class RowOutcome(StrEnum):
    PENDING = "pending"  # written with the job's `submitting` commit, before the POST
    PROCESSED = "processed"
    FAILED = "failed"
    NOT_IN_RESULTS = "not_in_results"
    REFUSED = "refused"
    AMBIGUOUS = "ambiguous"


RETRYABLE_OUTCOMES = frozenset({RowOutcome.FAILED, RowOutcome.NOT_IN_RESULTS, RowOutcome.REFUSED})


class PlanCategory(StrEnum):
    NEW = "new"  # no earlier send of this key
    CHANGED = "changed"  # upsert type, values differ from the version VAN processed: sent
    UNCHANGED = "unchanged"  # same values as the version VAN processed: not sent
    RETRY = "retry"  # last outcome failed / not_in_results / refused: sent again
    RETRY_EXHAUSTED = "retry_exhausted"  # that version was tried max_row_tries times: left for retry-failed
    IN_FLIGHT = "in_flight"  # a job carrying it is still open at VAN: not sent again
    AMBIGUOUS = "ambiguous"  # a POST carrying it may have reached VAN: not sent until resolved
    CHANGED_AFTER_IMPORT = "changed_after_import"  # append type, processed, values changed since: not sent
    REFRESH = "refresh"  # --full-refresh: unchanged row sent again
    CARRIED = "carried"  # combined job: sent because another mapping type of the same row is sent
    GONE = "gone"  # in the row state, no longer in the view (reported only: a bulk import cannot delete)


SENT_CATEGORIES = frozenset({PlanCategory.NEW, PlanCategory.CHANGED, PlanCategory.RETRY, PlanCategory.REFRESH,
                             PlanCategory.CARRIED})
HELD_CATEGORIES = frozenset({PlanCategory.UNCHANGED, PlanCategory.RETRY_EXHAUSTED, PlanCategory.IN_FLIGHT,
                             PlanCategory.AMBIGUOUS, PlanCategory.CHANGED_AFTER_IMPORT})


def sql_list(values) -> str:
    """``'a', 'b'`` for an IN list of named states (never user data)."""
    return ", ".join(f"'{v}'" for v in sorted(str(x) for x in values))
