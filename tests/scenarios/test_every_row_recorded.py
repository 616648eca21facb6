"""Issue 21 #4: every input row ends in exactly one recorded place, through real runs.

(a) ``-s ActivistCode`` on the demo project: the input row with a VanID and nothing else (ac-006) and the
    superseded twin of ac-005 are recorded in ``van_preflight_dropped`` (dbt builds the dropped model too).
(b) Contributions split by disclosure category with a row carrying both categories: the both-row never takes the
    innocent Organization file down with it; no row is in two files; each row has one outcome."""

from __future__ import annotations

import collections
import csv

import pytest

from connector.config import load_settings
from connector.run import run
from tests.connector.test_accounting import (
    FAST,
    NO_GX,
    fetch,
    make_view,
    rel,
    settings_for,
)
from tests.fixtures.demo import copy_demo_project, demo_simulator_store


@pytest.mark.slow
def test_selected_view_records_the_rows_it_leaves_out(tmp_path):
    project = copy_demo_project(tmp_path)
    s = load_settings(project, env={}, poll_interval_seconds=0.05)
    summary = run(s, ["ActivistCode"], simulator_config=FAST, preflight=NO_GX)
    ac = summary.mapping_types["ActivistCode"]
    with open(project / "dbt_project" / "seeds" / "demo" / "demo_activist_code.csv", newline="") as f:
        inputs = list(csv.DictReader(f))
    dropped = fetch(s, f"select source_row_key, reason from {rel(s, 'van_preflight_dropped')} where run_id = :r "
                       "and mapping_type = 'ActivistCode' order by 1", r=summary.run_id)
    assert ("ac-006", "nothing_to_apply") in dropped and ("ac-005", "superseded") in dropped, dropped
    assert ac.dropped == len(dropped)
    # every input row in one place: left out by the view (dropped), or checked (then rejected or planned)
    assert ac.dropped + ac.rows_checked == len(inputs), summary.render()
    assert ac.rows_checked == ac.rejected + sum(ac.plan.values()), summary.render()
    assert "ac-006" not in {k for (k,) in fetch(s, f"select source_row_key from {rel(s, 'van_preflight_rejects')} "
                                                   "where run_id = :r", r=summary.run_id)}


BASE = {"VanID": "100003", "Amount": "40", "DateReceived": "2026-03-05", "DesignationID": "741", "PaymentTypeID": "1"}
GIFTS = [
    {**BASE, "source_row_key": "ct-ind", "DisclosureEmployer": "Acme", "DisclosureOccupation": "Engineer"},
    {**BASE, "source_row_key": "ct-org", "DisclosureOrganizationFECID": "C00123456"},
    {**BASE, "source_row_key": "ct-both", "DisclosureEmployer": "Acme", "DisclosureOrganizationFECID": "C00654321"},
    {**BASE, "source_row_key": "ct-none"},
]


def test_a_row_with_both_disclosure_categories_takes_no_file_down(tmp_path):
    s = settings_for(tmp_path, split_disclosure=True)
    make_view(s.warehouse_url, "Contributions", GIFTS)
    summary = run(s, ["Contributions"], skip_dbt=True, simulator_config=FAST, preflight=NO_GX)
    ct = summary.mapping_types["Contributions"]
    keys = {g["source_row_key"] for g in GIFTS}
    rejected = {k for (k,) in fetch(s, f"select distinct source_row_key from {rel(s, 'van_preflight_rejects')} "
                                       "where run_id = :r", r=summary.run_id)}
    results = collections.Counter(k for (k,) in fetch(s, f"select source_row_key from {rel(s, 'van_bulk_row_results')} "
                                                         "where run_id = :r", r=summary.run_id))
    in_jobs = collections.Counter(k for (k,) in fetch(s, f"select source_row_key from {rel(s, 'van_bulk_job_rows')}"))
    # each row in one place: rejected, or in exactly one job with exactly one result
    assert not rejected & set(results) and rejected | set(results) == keys, (rejected, results)
    assert set(results.values()) == {1} and set(in_jobs.values()) == {1}, (results, in_jobs)
    # the innocent rows of both categories reached VAN; a row carrying both is not sent (one category per file)
    assert rejected == {"ct-both"}, summary.render()
    states = dict(fetch(s, f"select source_row_key, row_status from {rel(s, 'van_bulk_row_results')} "
                           "where run_id = :r", r=summary.run_id))
    assert states == {"ct-ind": "processed", "ct-org": "processed", "ct-none": "processed"}, summary.render()
    assert (ct.rows_checked, ct.rejected, ct.sent, ct.processed, ct.claimed_elsewhere) == (4, 1, 3, 3, 0)
    assert "not submitted" not in summary.render()
    # VAN holds each innocent gift once, the Organization one in a job without Individual columns
    applied = demo_simulator_store(tmp_path).applied("Contributions")
    assert len(applied) == 3 and len({r["jobId"] for r in applied}) == 2, applied
    org = next(r["fields"] for r in applied if r["fields"].get("DisclosureOrganizationFECID"))
    assert org["DisclosureOrganizationFECID"] == "C00123456" and not org.get("DisclosureEmployer"), applied
