"""Issue 21 item 3: an account whose Create Or Update Contact metadata lacks 22 of the staging view's 42 fields (real
accounts differ by mode and product package). Those columns, blank in every row to send, are left out of the file
and said once; a row carrying a value in one is held back with row key, column and reason; the rest is sent."""

from __future__ import annotations

import functools
import json

import pytest

from connector.catalog import LIVE_MARKER, load_catalog
from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.preflight import run_preflight
from connector.run import run
from connector.simulator import SimulatorConfig, SimulatorServer
from connector.warehouse import Warehouse
from tests.connector.test_accounting import make_view, settings_for
from tests.fixtures.simulator import FAST

CAT = load_catalog()
CONTACT = CAT.get("CreateOrUpdateContact")
BASIC = {"VanID", "FirstName", "MiddleName", "LastName", "DOB", "Sex", "AddressLine1", "AddressLine2", "AddressLine3",
         "City", "StateOrProvince", "ZipOrPostal", "CountryCode", "DisplayAsEntered", "CellPhone",
         "CellPhoneCountryCode", "Phone", "PhoneCountryCode", "Email", "OtherEmail"}
LACKING = [f.name for f in CONTACT.fields if f.name not in BASIC]


def write_account(d):
    body = CONTACT.to_api()
    body["fields"] = [f for f in body["fields"] if f["name"] in BASIC]
    (d / "mapping_types").mkdir(parents=True)
    (d / "mapping_types" / "CreateOrUpdateContact.json").write_text(json.dumps(body))
    for f in CONTACT.fields:
        env = CAT.values_envelope("CreateOrUpdateContact", f.name)
        if env is not None and f.name in BASIC:
            (d / "values" / "CreateOrUpdateContact").mkdir(parents=True, exist_ok=True)
            (d / "values" / "CreateOrUpdateContact" / f"{f.name}.json").write_text(json.dumps(env))
    (d / LIVE_MARKER).write_text("{}")
    return d


@pytest.mark.parametrize("with_value_in_lacking_column", [False, True])
def test_a_view_wider_than_the_account_sends_its_rows(tmp_path, with_value_in_lacking_column):
    assert len(CONTACT.fields) == 42 and len(LACKING) == 22, LACKING
    account = write_account(tmp_path / "account")
    rows = [{"source_row_key": "c-1", "FirstName": "Mary", "LastName": "Somerville", "Email": "mary@example.org",
             "ZipOrPostal": "20001"},
            {"source_row_key": "c-2", "FirstName": "Emmy", "LastName": "Noether", "City": "Erlangen"}]
    if with_value_in_lacking_column:
        rows.append({"source_row_key": "c-3", "FirstName": "Sophie", "LastName": "Germain",
                     "WorkEmail": "sophie@example.org"})
    with SimulatorServer(tmp_path / "sim", config=SimulatorConfig.from_dict({**FAST, "catalog_dirs": [str(account)]})
                         ) as sim:
        s = settings_for(tmp_path, api_key=SIMULATOR_DEMO_KEY, application_name=SIMULATOR_DEMO_APPLICATION,
                         api_base_url=sim.base_url)
        make_view(s.warehouse_url, "CreateOrUpdateContact", rows)
        summary = run(s, ["CreateOrUpdateContact"], skip_dbt=True, preflight=functools.partial(run_preflight, gx=False),
                      echo=lambda line: None)
        jobs = sim.store.jobs()
        contacts = {(c.get("FirstName"), c.get("LastName")) for c in sim.store.contacts()}
    assert len(jobs) == 1 and jobs[0]["status"] == "Completed", jobs
    sent_columns = [c["name"] for c in jobs[0]["request"]["file"]["columns"]]
    assert not set(LACKING) & set(sent_columns) and "FirstName" in sent_columns
    assert {("Mary", "Somerville"), ("Emmy", "Noether")} <= contacts
    assert ("Sophie", "Germain") not in contacts
    notes = [m for m in summary.messages if "left out of the file" in m]
    assert len(notes) == 1 and notes[0].endswith(", ".join(LACKING)), notes  # said once, every column named
    with Warehouse(s.warehouse_url) as wh:
        rejects = [tuple(r) for r in wh.fetchall(
            "select source_row_key, rule, column_name, message from van_preflight_rejects where run_id = :r",
            {"r": summary.run_id})]
        results = {r[0]: r[1] for r in wh.fetchall(
            "select source_row_key, row_status from van_bulk_row_results where run_id = :r", {"r": summary.run_id})}
    assert results == {"c-1": "processed", "c-2": "processed"}
    if with_value_in_lacking_column:
        assert [r[:3] for r in rejects] == [("c-3", "field_not_in_account", "WorkEmail")]
        assert rejects[0][3].startswith("row 'c-3': column WorkEmail holds a value but the account has no field")
    else:
        assert rejects == []
