"""A night's run of the demo checks only the views whose rows changed: the others' checks are carried over from
their last check (connector/preflight/reuse.py), with the same findings, and every row is still accounted for.
Proven from the ledger's own records of each check (``van_preflight_checks.result.checked_in``: the run whose rule
pass found it) and from what the simulator was sent."""

from __future__ import annotations

import json

import pytest

from connector.run import run
from connector.warehouse import Warehouse
from tests.fixtures.demo import FAST, apply_nights_changes, sent_by_type


def _run(s, **kw):
    lines: list[str] = []
    summary = run(s, simulator_config=FAST, echo=lines.append, **kw)
    assert summary.ok, summary.render()
    return summary, lines


def _checked_in(s, run_id) -> dict[str, str]:
    """Mapping type -> the run whose check this run's verdict is (this run's own id: checked in this run)."""
    with Warehouse(s.warehouse_url) as wh:
        return {m: json.loads(r)["checked_in"] for m, r in wh.fetchall(
            "select mapping_type, result from van_preflight_checks where run_id = :r", {"r": run_id})}


def _findings(s, run_id, table) -> list[tuple]:
    cols = ("reason, duplicate_rank" if table == "van_preflight_dropped" else "rule, column_name, value")
    with Warehouse(s.warehouse_url) as wh:
        return sorted((tuple(r) for r in wh.fetchall(
            f"select mapping_type, source_row_key, {cols}, message from {table} "
            "where run_id = :r", {"r": run_id})), key=repr)


def _verdicts(summary) -> dict[str, tuple]:
    return {n: (m.rows_checked, m.rejected, m.warned, m.dropped, m.blocked) for n, m in summary.mapping_types.items()}


@pytest.mark.slow
def test_a_nights_run_checks_only_the_views_that_changed(demo_after_first_run):
    project, s, first = demo_after_first_run
    checked_first = _checked_in(s, first.run_id)
    assert set(checked_first.values()) == {first.run_id} and len(checked_first) == 20  # Suppressions: blocked

    # nothing new: every view that was not blocked is carried over, with the first run's findings
    quiet, lines = _run(s)
    assert _checked_in(s, quiet.run_id) == checked_first
    assert any(f"20 unchanged since their check in run {first.run_id[:8]}:" in ln and "carried over" in ln
               for ln in lines), lines
    assert sent_by_type(quiet) == {} and _verdicts(quiet) == _verdicts(first)
    index = (project / ".vanbulk" / "expectations" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html")
    html = index.read_text(encoding="utf-8")  # the index names this run, and links each view to its check's page
    assert f"vanbulk pre-flight run {quiet.run_id}" in html and html.count("its check carried over") == 20
    for table in ("van_preflight_rejects", "van_preflight_warnings"):
        assert _findings(s, quiet.run_id, table) == _findings(s, first.run_id, table) != []

    # findings changed by hand since they were recorded: that view is checked again (the others carried), its
    # findings and dropped rows are the first run's, nothing doubled
    with Warehouse(s.warehouse_url) as wh:
        wh.execute("delete from van_preflight_rejects where run_id = :r and source_row_key = 'ac-bad-01'",
                   {"r": quiet.run_id})
    fixed, _ = _run(s)
    assert _checked_in(s, fixed.run_id) == {**checked_first, "ActivistCode": fixed.run_id}
    assert _verdicts(fixed) == _verdicts(first)
    assert _findings(s, fixed.run_id, "van_preflight_rejects") == _findings(s, first.run_id, "van_preflight_rejects")
    assert _findings(s, fixed.run_id, "van_preflight_dropped") == _findings(s, first.run_id, "van_preflight_dropped")

    # a night's changes (a new gift, a changed email): those two views are checked, the rest carried over
    apply_nights_changes(project)
    night, lines = _run(s)
    assert any(f"unchanged since their check in run {first.run_id[:8]}, {fixed.run_id[:8]}:" in ln
               or f"unchanged since their check in run {fixed.run_id[:8]}, {first.run_id[:8]}:" in ln
               for ln in lines), lines
    checked = _checked_in(s, night.run_id)
    assert {m for m, r in checked.items() if r == night.run_id} == {"Contributions", "Email"}
    assert {m: r for m, r in checked.items() if m not in ("Contributions", "Email")} == {
        m: (fixed.run_id if m == "ActivistCode" else first.run_id) for m in checked_first
        if m not in ("Contributions", "Email")}
    assert sent_by_type(night) == {"Contributions": 1, "Email": 1}, night.render()
    for name, m in night.mapping_types.items():  # every checked row: rejected (this run's table) or planned
        keys = {r[1] for r in _findings(s, night.run_id, "van_preflight_rejects") if r[0] == name}
        assert m.rows_checked == m.rejected + sum(m.plan.values()) and len(keys) == m.rejected, (name, m)

    # --recheck: every view checked again, the same findings
    again, _ = _run(s, recheck=True)
    assert set(_checked_in(s, again.run_id).values()) == {again.run_id}
    assert _findings(s, again.run_id, "van_preflight_rejects") == _findings(s, night.run_id, "van_preflight_rejects")
    assert _verdicts(again) == _verdicts(night) and sent_by_type(again) == {}
