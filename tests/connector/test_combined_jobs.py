"""Multi-mapping jobs (settings.combined_jobs): CreateOrUpdateContact + ActivistCode over one file, against the
real HTTP simulator and the real pre-flight (without the GX checkpoint)."""

from __future__ import annotations

import functools

import pytest

from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY, ConfigError, Settings, load_settings
from connector.errors import ConnectorError
from connector.run import run
from connector.run.combined import combined_columns
from connector.preflight import run_preflight
from tests.connector.test_accounting import CAT, assert_accounted, fetch, make_view

NO_GX = functools.partial(run_preflight, gx=False)
MTS = ["CreateOrUpdateContact", "ActivistCode"]
CODE = CAT.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]

CONTACTS = [
    {"source_row_key": "p-1", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"},
    {"source_row_key": "p-2", "FirstName": "Mary", "LastName": "Somerville"},
    {"source_row_key": "p-3", "FirstName": "Emmy", "LastName": "Noether"},  # no activist code: blank extra
    {"source_row_key": "p-4", "FirstName": "Bad", "LastName": "Code"},  # its code is rejected: sent in no job
]
CODES = [
    {"source_row_key": "p-1", "ActivistCodeID": CODE},  # no VanID: the contact is created in the same job
    {"source_row_key": "p-2", "ActivistCodeID": CODE},
    {"source_row_key": "p-4", "ActivistCodeID": "987654321"},  # not a valid code: rejected by pre-flight
    {"source_row_key": "p-9", "VanID": "100001", "ActivistCodeID": CODE},  # existing contact: sent alone
]


def _settings(tmp_path, sim) -> Settings:
    return Settings(project_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path}/w.duckdb",
                    api_key=f"{SIMULATOR_DEMO_KEY}|1", application_name=SIMULATOR_DEMO_APPLICATION,
                    api_base_url=sim.base_url, use_simulator=False, poll_interval_seconds=0.05,
                    combined_jobs=[{"name": "contacts", "mapping_types": MTS}])


def test_new_contacts_get_their_codes_in_one_job(tmp_path, simulator):
    s = _settings(tmp_path, simulator)
    make_view(s.warehouse_url, "CreateOrUpdateContact", CONTACTS)
    make_view(s.warehouse_url, "ActivistCode", CODES)
    before_contacts = {c["VanID"] for c in simulator.store.contacts()}

    first = run(s, MTS, skip_dbt=True, preflight=NO_GX)
    assert first.ok, first.messages
    jobs = simulator.store.jobs()
    assert len(jobs) == 2  # the combined job + the code for an existing contact (p-9, not in the contact view)
    ledger_jobs = fetch(s, "select van_job_id, mapping_types, row_count from van_bulk_jobs order by van_job_id")
    combined = [j for j in ledger_jobs if j[1] == "CreateOrUpdateContact+ActivistCode"]
    assert len(combined) == 1 and combined[0][2] == 3  # p-1, p-2, p-3; p-4 sent in no job
    job_id = combined[0][0]

    # VAN's side: three contacts created, and the codes applied to the two new ones, by that one job.
    new_ids = {k: int(v) for k, v in fetch(
        s, "select source_row_key, primary_key from van_bulk_row_results where mapping_type = 'CreateOrUpdateContact'")}
    assert set(new_ids) == {"p-1", "p-2", "p-3"}
    stored = {c["VanID"] for c in simulator.store.contacts()}
    assert set(new_ids.values()) <= stored and not set(new_ids.values()) & before_contacts
    applied = simulator.store.applied("ActivistCode", job_id=job_id)
    assert sorted(a["primaryKey"] for a in applied) == sorted([new_ids["p-1"], new_ids["p-2"]])
    assert all(a["primaryKey"] != new_ids["p-3"] for a in simulator.store.applied("ActivistCode"))
    assert not [c for c in simulator.store.contacts() if "Bad" in str(c)]

    # The ledger: one result per (row, mapping type) the file carried data for.
    res = fetch(s, "select mapping_type, source_row_key, row_status, primary_key from van_bulk_row_results "
                   "where van_job_id = :j order by 1, 2", j=job_id)
    assert [(m, k, st) for m, k, st, _ in res] == [
        ("ActivistCode", "p-1", "processed"), ("ActivistCode", "p-2", "processed"),
        ("CreateOrUpdateContact", "p-1", "processed"), ("CreateOrUpdateContact", "p-2", "processed"),
        ("CreateOrUpdateContact", "p-3", "processed")]
    assert {k: int(pk) for m, k, _, pk in res if m == "ActivistCode"} == {"p-1": new_ids["p-1"], "p-2": new_ids["p-2"]}
    assert fetch(s, "select source_row_key, row_status from van_bulk_row_results where source_row_key = 'p-9'") == [
        ("p-9", "processed")]

    # p-4: rejected in ActivistCode (bad code), so also rejected (rule combined_job) for CreateOrUpdateContact.
    rejects = fetch(s, "select mapping_type, source_row_key, rule from van_preflight_rejects where run_id = :r "
                       "order by 1", r=first.run_id)
    assert ("CreateOrUpdateContact", "p-4", "combined_job") in rejects
    assert [r for r in rejects if r[0] == "ActivistCode"] and all(r[1] == "p-4" for r in rejects)
    # The blank VanID of p-1/p-2 in the ActivistCode view was waived (the contact is created in the job).
    assert not [r for r in rejects if r[1] in ("p-1", "p-2")]

    assert assert_accounted(s, first.run_id, MTS) == {"CreateOrUpdateContact": (1, 3), "ActivistCode": (1, 3)}
    co, ac = first.mapping_types["CreateOrUpdateContact"], first.mapping_types["ActivistCode"]
    assert (co.rows_checked, co.rejected, co.sent, co.processed) == (4, 1, 3, 3)
    assert (ac.rows_checked, ac.rejected, ac.sent, ac.processed) == (4, 1, 3, 3)

    second = run(s, MTS, skip_dbt=True, preflight=NO_GX)
    assert second.ok and len(simulator.store.jobs()) == 2  # nothing submitted again
    assert second.mapping_types["CreateOrUpdateContact"].unchanged == 3
    assert second.mapping_types["ActivistCode"].unchanged == 3


def test_combined_columns_union_prefixes_collisions_and_caps_at_50():
    co, ph = CAT.get("CreateOrUpdateContact"), CAT.get("Phones")
    cols = combined_columns([(co.name, co.staging_columns, co.key_columns),
                             (ph.name, ph.staging_columns, ph.key_columns)])
    names = [c for c, _, _ in cols]
    assert names.count("source_row_key") == 1 and names.count("VanID") == 1
    assert "Phones__Phone" in names and "Phones__CountryCode" in names and "PhoneTypeID" in names
    assert ("VanID", 0, "VanID") in cols and ("Phones__Phone", 1, "Phone") in cols
    assert len(names) == len(set(n.lower() for n in names)) == len(co.staging_columns) + len(ph.staging_columns) - 2
    wide = [f"C{i}" for i in range(30)]
    with pytest.raises(ConnectorError, match="at most 50"):
        combined_columns([("A", ["source_row_key", *wide], []), ("B", ["source_row_key", *wide], [])])


def test_combined_jobs_setting_from_env_and_validation(tmp_path):
    s = load_settings(tmp_path, env={"VANBULK_COMBINED_JOBS": '[{"mapping_types": ["CreateOrUpdateContact", "Phones"]}]'})
    assert s.combined_jobs == [{"name": "CreateOrUpdateContact+Phones", "mapping_types": ["CreateOrUpdateContact", "Phones"]}]
    with pytest.raises(ConfigError):
        Settings(project_dir=tmp_path, combined_jobs=[{"mapping_types": ["ActivistCode"]}])
