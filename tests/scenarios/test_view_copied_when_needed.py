"""A view whose check was carried over two runs in a row is fingerprinted itself, and its copy is taken only when the
plan must read its rows (connector/preflight/checked.py: take_pending). What is sent is still exactly what was
checked: when the view changes between pre-flight and the plan, its rows are not sent that run (every one gets a
reject saying why) and the next run checks and sends them. Proven from the statements sent, the ledger, and the
simulator's own state (nothing applied twice)."""

from __future__ import annotations

import collections
import json

import pytest

import connector.run as run_pkg
from connector.run import run
from connector.warehouse import Warehouse
from tests.fixtures.demo import FAST, demo_simulator_store, sent_by_type
from tests.helpers.statements import counting_statements

NEW_ROW = ("ac-900", "2026-03-09 09:00:00", "100004", "4150001")  # (a code the contact has not got)


def _copies(sent: list[str], verb: str = "create") -> set[str]:
    """The views a run copied (the CREATE statements of its checked copies, ``van_checked__<run>__<view>``), or
    whose copies it dropped (``verb`` "drop")."""
    return {part.split('"', 1)[0].split("__", 1)[1] for q in sent if q.lower().startswith(verb)
            for part in q.split("van_checked__")[1:]}


def _quiet_night(s):
    with counting_statements() as sent:
        summary = run(s, simulator_config=FAST)
    assert summary.ok and sent_by_type(summary) == {}, summary.render()
    assert _copies(sent, "drop") == _copies(sent)  # it drops the copies it took, and tries no other
    return summary, _copies(sent)


@pytest.mark.slow
def test_a_quiet_view_is_copied_only_when_read_and_never_sent_unchecked(demo_after_first_run, monkeypatch):
    project, s, first = demo_after_first_run
    blocked = {"stg_van__suppressions"}  # (the demo's blocked view: a blocked check is never carried over)
    _, copied = _quiet_night(s)  # the night after the send: checks carried over, each view copied and fingerprinted
    assert len(copied) == 21 and blocked <= copied
    _, copied = _quiet_night(s)  # carried a second time: the views' own fingerprints, no copy of theirs
    assert copied == blocked

    # the sync state of one type edited by hand: its plan must read its rows, so its copy is taken (and proved equal)
    with Warehouse(s.warehouse_url) as wh:
        wh.execute("update van_bulk_row_state set tries = tries + 1 where mapping_type = 'ActivistCode' and "
                   "outcome = 'processed'")
    _, copied = _quiet_night(s)
    assert copied == blocked | {"stg_van__activist_code"}

    # once more, and a row arrives in ActivistCode's input after pre-flight fingerprinted the view, before the plan
    with Warehouse(s.warehouse_url) as wh:
        wh.execute("update van_bulk_row_state set tries = tries + 1 where mapping_type = 'ActivistCode' and "
                   "outcome = 'processed'")
    real_plan_run = run_pkg.plan_run

    def plan_run_after_a_change(rt, *a, **kw):
        with Warehouse(s.warehouse_url) as wh:
            wh.execute("insert into van_input.demo_activist_code (source_row_key, updated_at, van_id, "
                       "activist_code_id) values (:k, cast(:t as timestamp), :v, :a)",
                       dict(zip("ktva", NEW_ROW)))
        return real_plan_run(rt, *a, **kw)

    monkeypatch.setattr(run_pkg, "plan_run", plan_run_after_a_change)
    lines: list[str] = []
    changed = run(s, simulator_config=FAST, echo=lines.append)
    monkeypatch.setattr(run_pkg, "plan_run", real_plan_run)
    ac = changed.mapping_types["ActivistCode"]
    assert ac.blocked and ac.sent == 0 and sent_by_type(changed) == {}, changed.render()
    assert any("view changed after pre-flight" in ln for ln in lines), lines
    with Warehouse(s.warehouse_url) as wh:
        in_view = wh.scalar("select count(*) from van_staging.stg_van__activist_code")
        rejected = dict(wh.fetchall("select source_row_key, message from van_preflight_rejects where run_id = :r "
                                    "and mapping_type = 'ActivistCode'", {"r": changed.run_id}))
    assert ac.rows_checked == ac.rejected == in_view and len(rejected) == in_view  # every row it holds now
    assert NEW_ROW[0] in rejected and "view changed" in rejected[NEW_ROW[0]]

    # the next run checks the view afresh and sends the new row, once
    after = run(s, simulator_config=FAST)
    assert after.ok and sent_by_type(after) == {"ActivistCode": 1}, after.render()
    assert not after.mapping_types["ActivistCode"].blocked
    applied = collections.Counter((r["mappingType"], r["primaryKey"], json.dumps(r["fields"], sort_keys=True))
                                  for r in demo_simulator_store(project).applied())
    assert applied and not {k: n for k, n in applied.items() if n > 1}
