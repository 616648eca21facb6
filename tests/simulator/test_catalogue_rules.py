"""Catalogue-driven row rules on other mapping types and resources, plus configuration loading."""

from __future__ import annotations

import json

import httpx
import pytest

from connector.simulator import SimulatorConfig
from connector.simulator.config import ConfigError

from .conftest import APP, KEY, read_results
from tests.fixtures.simulator import ALL_RULES, make_simulator_config


@pytest.fixture
def simulator_config(request):
    """These tests exercise the rule mechanics, so the account enforces the inferred rules too."""
    return make_simulator_config(request, **ALL_RULES)


def test_limited_to_parent_values_per_row(run, simulator):
    mts = [{"name": "Phones", "fieldValueMappings": [
        {"fieldName": "Phone", "columnName": "phone"}, {"fieldName": "PhoneTypeID", "columnName": "type"},
        {"fieldName": "Ext", "columnName": "ext"}]}]
    job = run(["VanID", "phone", "type", "ext"], [
        ["100001", "2025550143", "W", "12"],  # Ext allowed for Work
        ["100002", "2025550144", "H", "12"],  # Ext not allowed for Home: row absent
        ["100003", "2025550145", "Home", ""],  # type by unique name
        ["100004", "12345", "H", ""],  # invalid phone: row absent
    ], mts)
    assert job["status"] == "CompletedWithErrors"
    assert [r["BulkUploadDataID"] for r in read_results(job)] == ["1", "3"]
    assert [(p["primaryKey"], p["fields"]) for p in simulator.store.applied("Phones")] == [
        (100001, {"Phone": "2025550143", "PhoneTypeID": "W", "Ext": "12"}),
        (100003, {"Phone": "2025550145", "PhoneTypeID": "H"})]


def test_van_id_mapped_explicitly_to_another_column(run, simulator):
    mts = [{"name": "CreateOrUpdateContact", "fieldValueMappings": [
        {"fieldName": "VanID", "columnName": "vid"}, {"fieldName": "LastName", "columnName": "surname"},
        {"fieldName": "FirstName", "columnName": "given"}]}]
    job = run(["vid", "surname", "given"], [["100003", "Goble", ""], ["", "Easley", "Annie"]], mts)
    assert job["status"] == "Completed"
    rows = read_results(job)
    assert rows[0]["PrimaryKey"] == "100003" and int(rows[1]["PrimaryKey"]) >= 200000001
    assert simulator.store.contact(100003)["LastName"] == "Goble"
    assert simulator.store.contact(100003)["FirstName"] == "Katherine"


def test_contributions_formats(run, simulator):
    client = httpx.Client(base_url=simulator.base_url, auth=(APP, KEY + "|1"))
    designation = client.get("bulkImportMappingTypes/Contributions/DesignationID/values").json()["items"][0]["id"]
    job = run(["VanID", "Amount", "DateReceived", "DesignationID"], [
        ["100001", "$1,250.50", "3/1/2024", designation],
        ["100002", "lots", "2024-03-01", designation],  # not an amount
        ["100003", "10", "2024-03-01", "no-such-designation"]], [{"name": "Contributions"}], hasQuotes=True)
    assert job["status"] == "CompletedWithErrors"
    assert [a["fields"] for a in simulator.store.applied("Contributions")] == [
        {"Amount": "1250.50", "DateReceived": "2024-03-01", "DesignationID": designation}]
    # mode 0 (VoterFile) has no Contributions at all
    voter = httpx.Client(base_url=simulator.base_url, auth=(APP, KEY + "|0"))
    r = voter.post("bulkImportJobs", json={
        "description": "x", "file": {"fileName": "a.csv", "sourceUrl": "http://127.0.0.1:9/a.zip",
                                     "columns": [{"name": "VanID"}, {"name": "Amount"}]},
        "actions": [{"actionType": "loadMappedFile", "resourceType": "Contacts",
                     "mappingTypes": [{"name": "Contributions"}]}]})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"code": "INVALID_PARAMETER", "text": "Mapping type 'Contributions' does not exist.",
                                   "properties": ["actions[0].mappingTypes[0].name"]}]


@pytest.mark.parametrize("simulator_config", [{"seed_records": [
    {"keyType": "ContributionID", "pk": 9001, "resource": "Contributions", "fields": {"Notes": "old"}}]}],
    indirect=True)
def test_records_of_other_resources(run, simulator):
    job = run(["ContributionID", "Notes"], [["9001", "thanked by phone"], ["9002", "nobody"]],
              [{"name": "EditContributionData"}], resource="Contributions")
    rows = read_results(job)
    col = [c for c in rows[0] if c.startswith("EditContributionData_")][0]
    assert [(r["PrimaryKey"], r["PrimaryKeyType"], r[col]) for r in rows] == [
        ("9001", "ContributionID", "Processed"), ("9002", "ContributionID", "Contribution not found")]
    assert [a["primaryKey"] for a in simulator.store.applied("EditContributionData")] == [9001]


def test_config_files(tmp_path):
    p = tmp_path / "sim.json"
    p.write_text(json.dumps({"post_status": 201, "api_keys": [{"key": "abc", "permissions": ["Suppressions"]}],
                             "faults": {"poll_not_found": 1, "rules": [{"path": "/v4/*", "status": 503}]}}))
    cfg = SimulatorConfig.load(p)
    assert cfg.post_status == 201 and cfg.api_keys[0].permissions == ("Suppressions",)
    assert cfg.faults.poll_not_found == 1 and cfg.faults.rules[0].status == 503
    assert "abc" not in repr(cfg.api_keys[0])
    p.write_text(json.dumps({"post_stauts": 201}))
    with pytest.raises(ConfigError):
        SimulatorConfig.load(p)
    with pytest.raises(ConfigError):
        SimulatorConfig(disclosure_conflict="maybe")
