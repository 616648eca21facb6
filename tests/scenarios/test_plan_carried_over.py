"""Nights with nothing new for a view do not diff its rows again: a plan that found every row unchanged is carried
over while the view's checked rows and its sync state stay the same (connector/ledger/plan_reuse.py). Every change
that could change the plan (new data, a job, a hand edit of the sync state, ``--recheck``) diffs again. Proven from
which plans ran, from the ledger's plan counts, and from the simulator's own state (nothing applied twice)."""

from __future__ import annotations

import collections
import json

import pytest

from connector.ledger import Ledger
from connector.run import run
from connector.warehouse import Warehouse
from tests.fixtures.demo import FAST, apply_nights_changes, demo_simulator_store, sent_by_type


@pytest.fixture
def diffed(monkeypatch):
    """The mapping types whose plan diff ran in the last ``_run`` (``Ledger.plan`` calls)."""
    calls: list[str] = []
    real = Ledger.plan

    def plan(self, run_id, req, *a, **kw):
        calls.append(req.mapping_type)
        return real(self, run_id, req, *a, **kw)

    monkeypatch.setattr(Ledger, "plan", plan)
    return calls


def _run(s, diffed, **kw):
    diffed.clear()
    lines: list[str] = []
    summary = run(s, simulator_config=FAST, echo=lines.append, **kw)
    assert summary.ok, summary.render()
    carried = [ln for ln in lines if ln.startswith("plan: ")]
    return summary, set(diffed), carried


def _plan_counts(s, run_id) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = collections.defaultdict(dict)
    with Warehouse(s.warehouse_url) as wh:
        for m, c, n in wh.fetchall("select mapping_type, category, row_count from van_bulk_plan_counts "
                                   "where run_id = :r", {"r": run_id}):
            out[m][c] = int(n)
    return dict(out)


@pytest.mark.slow
def test_a_plan_is_diffed_again_only_when_its_rows_or_sync_state_change(demo_after_first_run, diffed):
    project, s, first = demo_after_first_run
    planned = {n for n, m in first.mapping_types.items() if not m.blocked}

    # the night after the first send: every sync state changed (the jobs), so every plan runs
    quiet, ran, carried = _run(s, diffed)
    assert ran == planned and carried == [] and sent_by_type(quiet) == {}
    counts = _plan_counts(s, quiet.run_id)
    assert set(counts) == planned and all(set(c) == {"unchanged"} for c in counts.values()), counts
    with Warehouse(s.warehouse_url) as wh:
        recorded = {m for (m,) in wh.fetchall("select mapping_type from van_bulk_plan_fingerprints where run_id = :r",
                                              {"r": quiet.run_id})}
    grouped = planned - recorded  # a combined job's types are planned together every run: never carried
    assert recorded == planned and grouped == set()  # (the demo sends every mapping type alone)

    # nothing new again: those plans are carried over, with the same counts, and nothing is sent
    again, ran, carried = _run(s, diffed)
    assert ran == grouped, ran
    assert len(carried) == 1 and f"{len(recorded)} mapping type(s) unchanged since their plan in run " \
                                 f"{quiet.run_id[:8]}" in carried[0], carried
    assert _plan_counts(s, again.run_id) == counts and sent_by_type(again) == {}
    assert {n: m.plan for n, m in again.mapping_types.items()} == {n: m.plan for n, m in quiet.mapping_types.items()}
    with Warehouse(s.warehouse_url) as wh:  # every checked row of this run: rejected (its own rejects) or planned
        rejected = dict(wh.fetchall("select mapping_type, count(distinct source_row_key) from van_preflight_rejects "
                                    "where run_id = :r group by mapping_type", {"r": again.run_id}))
        # a carried plan is not recorded again (its record stands): only a diffed plan writes one
        assert wh.fetchall("select mapping_type from van_bulk_plan_fingerprints where run_id = :r",
                           {"r": again.run_id}) == []
    for name, m in again.mapping_types.items():
        assert m.rows_checked == m.rejected + sum(m.plan.values()) and rejected.get(name, 0) == m.rejected, (name, m)

    # a hand edit of one view's sync state: that plan runs again (still every row unchanged), the rest carried
    with Warehouse(s.warehouse_url) as wh:
        wh.execute("update van_bulk_row_state set tries = tries + 1 where mapping_type = 'ActivistCode' and "
                   "source_row_key = (select min(source_row_key) from van_bulk_row_state "
                   "where mapping_type = 'ActivistCode' and outcome = 'processed')")
    edited, ran, _ = _run(s, diffed)
    assert ran == grouped | {"ActivistCode"} and _plan_counts(s, edited.run_id) == counts

    # a night's data (a new gift, a changed email): those views' checked rows changed, so their plans run and send
    # exactly those two rows; the next night their sync state has changed (the jobs): they run once more
    apply_nights_changes(project)
    night, ran, _ = _run(s, diffed)
    assert ran == grouped | {"Contributions", "Email"} and sent_by_type(night) == {"Contributions": 1, "Email": 1}
    after, ran, _ = _run(s, diffed)
    assert ran == grouped | {"Contributions", "Email"} and sent_by_type(after) == {}
    settled, ran, _ = _run(s, diffed)
    assert ran == grouped and sent_by_type(settled) == {}
    assert _plan_counts(s, settled.run_id) == _plan_counts(s, after.run_id)

    # --recheck: every plan runs again, the same counts
    rechecked, ran, carried = _run(s, diffed, recheck=True)
    assert ran == planned and carried == [] and _plan_counts(s, rechecked.run_id) == _plan_counts(s, settled.run_id)

    # VAN's side: no row applied twice in all these runs
    applied = collections.Counter((r["mappingType"], r["primaryKey"], json.dumps(r["fields"], sort_keys=True))
                                  for r in demo_simulator_store(project).applied())
    assert applied and not {k: n for k, n in applied.items() if n > 1}
