"""What a run reports: per mapping type, the plan's categories beside the outcomes of what was sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from connector.ledger import HELD_CATEGORIES, PlanCategory, RunStatus

__all__ = ["MappingSummary", "RunSummary"]


@dataclass
class MappingSummary:
    mapping_type: str
    rows_checked: int = 0
    dropped: int = 0  # input rows the staging view leaves out (superseded, nothing to apply): van_preflight_dropped
    rejected: int = 0  # by pre-flight, never sent
    warned: int = 0  # passed with a warning (a rule on an inferred fact): sent; van_preflight_warnings
    blocked: bool = False
    plan: dict[str, int] = field(default_factory=dict)  # PlanCategory -> rows (the plan step's verdict)
    to_send: int = 0  # rows the plan sends (dry run: would send)
    sent: int = 0  # rows in jobs submitted by this run
    unchanged: int = 0  # plan `unchanged`, plus rows of chunks an earlier identical job already carries
    processed: int = 0
    failed: int = 0
    not_in_results: int = 0
    pending: int = 0  # in jobs of this run still running at VAN
    ambiguous: int = 0  # in chunks whose POST may or may not have reached VAN
    refused: int = 0  # in jobs VAN refused at POST (400/403): nothing imported, retried by the next run
    claimed_elsewhere: int = 0  # a concurrent run claimed them first (it sends them)
    collected: dict[str, int] = field(default_factory=dict)  # row status -> rows of earlier runs' jobs loaded now
    chunks: int = 0
    van_job_ids: list[int] = field(default_factory=list)

    def category(self, name: str) -> int:
        return int(self.plan.get(name, 0))

    @property
    def held(self) -> int:
        """Passing rows the plan did not send and that are not unchanged (in flight, ambiguous, ...)."""
        return sum(self.category(c) for c in HELD_CATEGORIES if c != PlanCategory.UNCHANGED)


@dataclass
class RunSummary:
    run_id: str
    command: str = "run"
    status: str = RunStatus.RUNNING
    simulated: bool = False
    dry_run: bool = False
    warehouse: str = ""
    duckdb_path: str | None = None
    schema: str = ""
    mapping_types: dict[str, MappingSummary] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    data_docs_path: str | None = None
    log_path: str | None = None  # this run's log file (<state_dir>/logs/<run_id>.log)
    selected: list[str] = field(default_factory=list)  # the mapping types named with -s (none: every type)

    def mt(self, name: str) -> MappingSummary:
        return self.mapping_types.setdefault(name, MappingSummary(name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        """The run went to the end (``status`` says how: success, completed_with_failures, blocked, dry_run)."""
        return self.status == RunStatus.DRY_RUN or RunStatus(self.status).completed

    def completed_status(self) -> RunStatus:
        """How a run that went to the end ended (``RunStatus``): rows VAN did not process first, then a mapping
        type named with -s that could send nothing (blocked, or every checked row rejected), else success. Without
        -s a blocked type is reported in the summary but is not the run's outcome (the demo blocks one on purpose)."""
        ms = list(self.mapping_types.values())
        if any(m.failed or m.not_in_results or m.refused or m.ambiguous for m in ms):
            return RunStatus.COMPLETED_WITH_FAILURES
        named = {n.lower() for n in self.selected}
        if any(m.mapping_type.lower() in named and (m.blocked or (m.rows_checked and m.rejected >= m.rows_checked
                                                                  and not m.sent)) for m in ms):
            return RunStatus.BLOCKED
        return RunStatus.SUCCESS

    def render(self, width: int = 100) -> str:
        """The run at a glance, ``width`` columns at most: one row per mapping type with what was checked, what
        was sent and what VAN did with it; the plan's categories per row (new, changed, retry, held...), the rows
        dropped and warned are in the ledger, and the SQL below the table reads them."""
        from connector.text_table import render_table, wrap

        cols = ["mapping type", "checked", "rejected", "unchanged", "held",
                "would send" if self.dry_run else "sent", "processed", "failed", "not in results", "pending",
                "refused"]
        rows = []
        for s in self.mapping_types.values():
            rows.append([s.mapping_type + (" (blocked)" if s.blocked else ""), s.rows_checked, s.rejected,
                         s.unchanged, s.held, s.to_send if self.dry_run else s.sent, s.processed, s.failed,
                         s.not_in_results, s.pending + s.ambiguous, s.refused])
        lines = [wrap(f"{self.command} {self.run_id}: {self.status}" + (" (simulated VAN)" if self.simulated else ""),
                      width)]
        if rows:
            lines.append(render_table(cols, rows, width=width))
        jobs = [f"{s.mapping_type} {' '.join(map(str, s.van_job_ids))}" for s in self.mapping_types.values()
                if s.van_job_ids]
        if jobs:
            lines.append(wrap("VAN jobs: " + "; ".join(jobs), width))
        lines += [wrap(m, width) for m in self.messages]
        q = f"{self.schema}." if self.schema and self.schema != "main" else ""
        ms = self.mapping_types.values()
        hints = [(f"  select mapping_type, category, row_count from {q}van_bulk_plan_counts where run_id = "
                  f"'{self.run_id}';  -- new, changed, retry, unchanged, held"),
                 (f"  select mapping_type, row_status, count(*) from {q}van_bulk_row_results where run_id = "
                  f"'{self.run_id}' group by mapping_type, row_status;"),
                 f"  select * from {q}van_bulk_row_state where outcome <> 'processed';",
                 f"  select * from {q}van_preflight_rejects where run_id = '{self.run_id}';"]
        if any(s.dropped for s in ms):
            hints.append(f"  select * from {q}van_preflight_dropped where run_id = '{self.run_id}';  -- "
                         f"{sum(s.dropped for s in ms)} input row(s) the staging views leave out")
        if any(s.warned for s in ms):
            hints.append(f"  select * from {q}van_preflight_warnings where run_id = '{self.run_id}';  -- "
                         f"{sum(s.warned for s in ms)} row(s) sent with a warning: rules on facts only inferred "
                         "about VAN (strict_inferred_rules to reject)")
        lines += ["", wrap(f"ledger (schema {self.schema}): " + (f"duckdb {self.duckdb_path}" if self.duckdb_path
                                                                 else self.warehouse), width)]
        lines += [wrap(h, width) for h in hints]
        if self.data_docs_path:
            lines.append(wrap(f"pre-flight Data Docs: {self.data_docs_path}", width))
        return "\n".join(line for line in lines if line != "")
