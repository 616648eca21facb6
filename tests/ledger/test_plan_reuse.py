"""A plan carried over (connector/ledger/plan_reuse.py): the sync state's fingerprint changes with every change
that can change a plan, and with nothing else; the plan's fingerprint with every input; the last record is read
back per mapping type and VAN target. Real DuckDB files and a real PostgreSQL schema."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from connector.ledger import ROW_STATE, Ledger, PlanCategory, PlanRequest, new_id, plan_reuse
from tests.ledger.conftest import make_view
from tests.ledger.test_sync import COLS, ROWS, _finish, _plan, _send

REQ = PlanRequest("Phones", append=False)


def _state(ledger) -> str:
    return (plan_reuse.state_fingerprints(ledger) or {}).get("Phones", "")


def _all_processed(ledger) -> str:
    """Phones' rows sent and processed; returns the view."""
    rel = make_view(ledger, "v_phones", COLS, ROWS)
    _plan(ledger, "r1", rel)
    job = _send(ledger, "r1", [r[0] for r in ROWS])
    _finish(ledger, job, {r[0]: "processed" for r in ROWS})
    return rel


def test_state_fingerprint_follows_every_change_the_plan_reads(ledger):
    assert plan_reuse.state_fingerprints(ledger) == {}
    rel = _all_processed(ledger)
    base = _state(ledger)
    assert base and _plan(ledger, "r2", rel) == {PlanCategory.UNCHANGED: len(ROWS)}
    assert _state(ledger) == base  # a plan that only reads leaves it as it was

    # another mapping type's state, or another VAN target's, is not Phones' state
    other = Ledger(ledger.wh, ledger.schema, api_target="https://other.example.test/v4/", database_mode=1)
    for target, mapping_type in ((other.api_target, "Phones"), (ledger.api_target, "Email")):
        ledger.wh.execute(f"insert into {ledger.rel(ROW_STATE)} (api_target, database_mode, mapping_type, "
                          "source_row_key, row_hash, outcome, tries) values (:t, 1, :m, 'p-1', 'h', 'processed', 1)",
                          {"t": target, "m": mapping_type})
    assert _state(ledger) == base
    assert set(plan_reuse.state_fingerprints(ledger)) == {"Phones", "Email"}
    assert plan_reuse.state_fingerprints(ledger, ["Phones", "Jobs"]) == {"Phones": base}  # only those asked
    assert plan_reuse.state_fingerprints(ledger, []) == {}
    assert set(plan_reuse.state_fingerprints(other)) == {"Phones"}

    st = ledger.rel(ROW_STATE)
    seen = {base}
    for change in ("update {st} set outcome = 'failed' where source_row_key = 'p-1'",
                   "update {st} set outcome = 'processed' where source_row_key = 'p-1'",  # back: same as base
                   "update {st} set row_hash = 'x' where source_row_key = 'p-2'",
                   "update {st} set tries = tries + 1 where source_row_key = 'p-3'",
                   "update {st} set processed_hash = null where source_row_key = 'p-3'",
                   "update {st} set job_key = 'another' where source_row_key = 'p-3'",
                   "delete from {st} where source_row_key = 'p-2'"):
        ledger.wh.execute(change.format(st=st) + " and mapping_type = 'Phones' and api_target = :t", {"t": ledger.api_target})
        now = _state(ledger)
        if "outcome = 'processed'" in change:
            assert now == base, change  # the same rows again: the same fingerprint
        else:
            assert now not in seen, change
            seen.add(now)
    ledger.wh.execute(f"delete from {st} where mapping_type = 'Phones'")
    assert "Phones" not in plan_reuse.state_fingerprints(ledger)


def test_a_new_job_or_a_result_changes_the_state_fingerprint(ledger):
    rel = _all_processed(ledger)
    base = _state(ledger)
    make_view(ledger, "v_phones", COLS, [*ROWS[:3], ("p\n4", "4", "changed", "")])
    assert _plan(ledger, "r2", rel) == {PlanCategory.UNCHANGED: 3, PlanCategory.CHANGED: 1}
    job = _send(ledger, "r2", ["p\n4"])
    pending = _state(ledger)
    assert pending != base
    _finish(ledger, job, {"p\n4": "failed"})
    assert _state(ledger) not in (base, pending)


def test_plan_fingerprint_changes_with_every_input():
    args = dict(check="c", state="s", request=REQ, columns=COLS, api_target="https://a/", database_mode=1)
    base = plan_reuse.fingerprint(**args)
    assert plan_reuse.fingerprint(**args) == base
    variants = [dict(check="c2"), dict(state="s2"), dict(state=""), dict(columns=COLS[:-1]),
                dict(columns=list(reversed(COLS))), dict(api_target="https://b/"), dict(database_mode=0),
                dict(request=replace(REQ, append=True)), dict(request=replace(REQ, max_tries=5)),
                dict(request=replace(REQ, full_refresh=True)), dict(request=replace(REQ, mapping_type="Email"))]
    prints = {plan_reuse.fingerprint(**{**args, **v}) for v in variants}
    assert base not in prints and len(prints) == len(variants)


def test_the_last_record_per_mapping_type_and_target(ledger):
    t0 = datetime(2026, 12, 1, 3, 0)
    plan_reuse.record(ledger, "run-a", {"Phones": ("fa", 4), "Email": ("ea", 2)}, t0)
    plan_reuse.record(ledger, "run-b", {"Phones": ("fb", 5)}, t0 + timedelta(days=1))
    other = Ledger(ledger.wh, ledger.schema, api_target="https://other.example.test/v4/", database_mode=1)
    plan_reuse.record(other, "run-c", {"Phones": ("fc", 6)}, t0 + timedelta(days=2))
    assert plan_reuse.last_plans(ledger, ["Phones", "Email", "Contributions"]) == {
        "Phones": ("run-b", "fb", 5), "Email": ("run-a", "ea", 2)}
    assert plan_reuse.last_plans(other, ["Phones"]) == {"Phones": ("run-c", "fc", 6)}
    assert plan_reuse.last_plans(ledger, []) == {}
    plan_reuse.record(ledger, new_id(), {}, t0)  # nothing to record: no statement


@pytest.mark.parametrize("outcome", ["failed", "pending"])
def test_equal_fingerprints_mean_the_same_plan(ledger, outcome):
    """The property reuse rests on: over a sequence of states, whenever the state fingerprint is one seen before
    with an all-unchanged plan, planning again gives that plan (here: one row leaves `processed` and comes back)."""
    rel = _all_processed(ledger)
    seen: dict[str, dict] = {}
    st = ledger.rel(ROW_STATE)
    for i, to in enumerate(["processed", outcome, "processed"]):
        ledger.wh.execute(f"update {st} set outcome = :o where source_row_key = 'p-1'", {"o": to})
        fp, plan = _state(ledger), _plan(ledger, f"s{i}", rel)
        if fp in seen:
            assert plan == seen[fp]
        seen[fp] = plan
    assert len(seen) == 2 and {PlanCategory.UNCHANGED: len(ROWS)} in seen.values()
