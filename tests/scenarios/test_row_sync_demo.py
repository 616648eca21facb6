"""Row-level sync on the demo project as a scheduled job runs it (dbt seeds + views, GX pre-flight, the
embedded simulator): a run sends only new and changed rows, and VAN never holds a contribution twice.

Checked from the simulator's own state (what VAN applied), not only from the ledger."""

from __future__ import annotations

import collections
import json

import pytest

from connector.run import run
from connector.warehouse import Warehouse
from tests.fixtures.demo import (FAST, apply_nights_changes, demo_simulator_store,
                                 edit_seed, sent_by_type)



def _contributions_applied(store) -> collections.Counter:
    rows = store.applied("Contributions")
    return collections.Counter(json.dumps({k: v for k, v in sorted(r["fields"].items())}) for r in rows)


@pytest.mark.slow
def test_scheduled_runs_send_only_new_and_changed_rows(demo_after_first_run):
    project, s, first = demo_after_first_run
    assert first.ok, first.render()
    store = demo_simulator_store(project)
    n_gifts = first.mapping_types["Contributions"].processed  # the demo's valid rows (both disclosure files)
    assert n_gifts >= 5 and sum(_contributions_applied(store).values()) == n_gifts

    # one new contribution and one changed email address, as a night's data would bring
    apply_nights_changes(project)
    second = run(s, simulator_config=FAST)
    assert second.ok, second.render()
    assert sent_by_type(second) == {"Contributions": 1, "Email": 1}, second.render()
    assert second.mapping_types["Contributions"].plan == {"unchanged": n_gifts, "new": 1}
    # every email row the first run sent is unchanged but the one edited (the demo's count moves with its seeds
    # and with which rules only warn)
    n_emails = first.mapping_types["Email"].processed
    assert n_emails >= 4 and second.mapping_types["Email"].plan == {"unchanged": n_emails - 1, "changed": 1}
    assert second.mapping_types["Contributions"].processed == 1 and second.mapping_types["Email"].processed == 1

    third = run(s, simulator_config=FAST)
    assert third.ok and sent_by_type(third) == {}, third.render()
    assert all(set(m.plan) <= {"unchanged"} for m in third.mapping_types.values()), third.render()

    applied = _contributions_applied(store)
    assert sum(applied.values()) == n_gifts + 1 and set(applied.values()) == {1}, applied  # every gift once at VAN
    emails = [r["fields"] for r in store.applied("Email") if r["primaryKey"] == 100002]
    assert [e.get("Email") for e in emails][-1] == "ben@newjob.example.com"

    # A processed contribution whose amount changes is not sent again (it would be a second gift) and is
    # reported with the way to change it; a changed phone (an upsert) is sent again.
    edit_seed(project, "demo_contributions", replace=("100003,10.50,", "100003,12.00,"))
    edit_seed(project, "demo_phones", replace=("217.555.0122", "217.555.0199"))
    fourth = run(s, ["Contributions", "Phones"], simulator_config=FAST)
    assert fourth.ok, fourth.render()
    ct, ph = fourth.mapping_types["Contributions"], fourth.mapping_types["Phones"]
    assert ct.plan == {"unchanged": n_gifts, "changed_after_import": 1} and ct.sent == 0, fourth.render()
    n_phones = first.mapping_types["Phones"].processed
    assert ph.plan == {"unchanged": n_phones - 1, "changed": 1} and ph.sent == 1 and ph.processed == 1, fourth.render()
    note = next(m for m in fourth.messages if "changed after VAN imported" in m)
    assert "ct-003" in note and "EditContributionData" in note
    assert sum(_contributions_applied(store).values()) == n_gifts + 1
    with Warehouse(s.warehouse_url) as wh:
        assert wh.fetchall("select source_row_key, category from van_bulk_plan_rows where run_id = :r "
                           "and mapping_type = 'Contributions'", {"r": fourth.run_id}) == [("ct-003", "changed_after_import")]
        assert wh.scalar("select outcome from van_bulk_row_state where mapping_type = 'Phones' "
                         "and source_row_key = 'ph-002'") == "processed"
