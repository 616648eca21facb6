"""What a pre-flight run tells its callers (export, pipeline, CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MappingTypeResult", "PreflightReport", "RuleOutcome"]


@dataclass
class RuleOutcome:
    """One rule's verdict: rows it rejected (SQL) and GX's unexpected count for the same query."""

    rule: str
    column: str
    level: str  # "row" | "file"
    rows: int | None  # rows written to van_preflight_rejects (None: not run, e.g. disclosure_mixed when split)
    key: str = ""  # the rule's key (rule:column[:variant]), as in the suite's expectation meta
    in_suite: bool = True  # False: a run-dependent rule (static values) that GX does not run
    gx_unexpected: int | None = None  # GX's observed count (None: GX not run or errored)
    gx_success: bool | None = None
    message: str = ""
    severity: str = "reject"  # "reject": failing rows are not sent; "warn": recorded in van_preflight_warnings, sent
    evidence_class: str = ""  # van-stated | impossible | inferred (docs/evidence-and-live-metadata.md)


@dataclass
class MappingTypeResult:
    mapping_type: str
    relation: str  # schema.view, quoted for the warehouse
    rows_checked: int = 0
    rows_rejected: int = 0
    rows_warned: int = 0  # distinct view rows with >= 1 warning (van_preflight_warnings); they are still sent
    rules_failed: list[str] = field(default_factory=list)  # rule families, e.g. ["format", "parent_required"]
    rules_warned: list[str] = field(default_factory=list)  # families of "warn" rules that found rows
    blocked: bool = False
    split: list[list[str]] = field(default_factory=list)  # column groups, one job each (disclosure split)
    passing_rows_sql: str = ""  # rows to send: all view columns, no reject for this run (empty if blocked)
    split_rows_sql: list[str] = field(default_factory=list)  # one SELECT per ``split`` group, same order
    split_categories: list[str] = field(default_factory=list)  # disclosure category of each ``split`` group
    block_reasons: list[str] = field(default_factory=list)
    # (rule, column or None, reason) per block reason: names the reject rows of a blocked view's other rows
    block_details: list[tuple[str, str | None, str]] = field(default_factory=list)
    rows_dropped: int = 0  # input rows the staging view leaves out (van_preflight_dropped), not in rows_checked
    rows_blocked: int = 0  # rows rejected only because the mapping type was blocked (rule mapping_type_blocked...)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    # Columns left out of the file (blank in every row to send: the account lacks the field, or a disclosure
    # category no row carries) and what was said about them, once.
    columns_left_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The table GX validated for this view: the rows the SQL pass found failing a rule (+ rows with disclosure
    # fields when the view mixes categories), every view column. Empty: GX read the view itself (drift).
    gx_batch: str = ""
    # This run's copy of the view (connector/preflight/checked.py): the rows checked, which the plan and the
    # export read too. Empty: not copied (a missing or drifted view, or a pre-flight that does not copy).
    checked_relation: str = ""
    # (content fingerprint, columns) of the view when ``checked_relation`` is not taken yet: its check was carried
    # over on the view's own fingerprint, and the copy is taken (and proved to hold the same rows) only when the
    # plan must read it (connector/preflight/checked.py: take_pending). None: taken, or none.
    pending_copy: tuple[str, tuple[str, ...]] | None = None
    # How many rows ``passing_rows_sql`` gives, when pre-flight knows it exactly (it checked a copy: the rows
    # cannot change): the plan then need not count them. None: not known (count them). A step that adds rejects
    # after pre-flight (combined jobs) sets it back to None.
    passing_count: int | None = None
    # The run whose check of the same rows under the same rules was carried over instead of checking again
    # (connector/preflight/reuse.py); empty: checked in this run.
    carried_from: str = ""
    # With ``carried_from``: the run whose rule pass and GX checkpoint found this verdict (its Data Docs page).
    checked_in: str = ""
    # The check's fingerprint (the rows and the rules, connector/preflight/reuse.py): the plan's own carry-over
    # starts from it (connector/ledger/plan_reuse.py). Empty: none taken (a dry run, a blocked view, no engine support).
    fingerprint: str = ""

    @property
    def source(self) -> str:
        """What the rows were checked in, and what the plan and export read: the copy, else the view."""
        return self.checked_relation or self.relation

    @property
    def rows_passing(self) -> int:
        return self.rows_checked - self.rows_rejected

    def summary(self) -> str:
        state = "BLOCKED" if self.blocked else ("SPLIT" if self.split_categories else "ok")  # not columns left out
        line = (f"{self.mapping_type:<28} {state:<8} checked {self.rows_checked:>9}  rejected {self.rows_rejected:>8}"
                f"  warned {self.rows_warned:>8}  rules failed: {', '.join(self.rules_failed) or '-'}")
        if self.rules_warned:
            line += f"  warnings: {', '.join(self.rules_warned)}"
        for reason in self.block_reasons:
            line += f"\n    blocked: {reason}"
        return line


@dataclass
class PreflightReport:
    run_id: str
    results: dict[str, MappingTypeResult] = field(default_factory=dict)
    data_docs_path: str | None = None  # local index.html of GX Data Docs for this run
    rejects_relation: str = ""
    gx_success: bool | None = None
    warnings_relation: str = ""
    data_docs_pages: dict[str, str] = field(default_factory=dict)  # mapping type -> this run's validation page
    dry_run: bool = False  # a dry run's report: its Data Docs are a site of their own, marked as such

    @property
    def checked_relations(self) -> list[str]:
        """The copies this run took (one still pending was never made: nothing to drop)."""
        return [r.checked_relation for r in self.results.values()
                if getattr(r, "checked_relation", "") and not getattr(r, "pending_copy", None)]

    @property
    def blocked(self) -> list[str]:
        return [n for n, r in self.results.items() if r.blocked]

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results.values())

    @property
    def rows_warned(self) -> int:
        return sum(r.rows_warned for r in self.results.values())

    def summary(self) -> str:
        lines = [f"pre-flight {self.run_id}: {len(self.results)} mapping type(s), "
                 f"{self.rows_rejected} row(s) rejected into {self.rejects_relation}, "
                 f"{self.rows_warned} row(s) with warnings (still sent) in {self.warnings_relation or '-'}"]
        lines += [r.summary() for r in self.results.values()]
        if self.data_docs_path:
            lines.append(f"Data Docs: {self.data_docs_path}")
        return "\n".join(lines)
