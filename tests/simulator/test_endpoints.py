"""Read endpoints, pagination, auth, database modes and permissions, over HTTP only."""

from __future__ import annotations

import base64

import httpx
import pytest

from connector.catalog import load_catalog

from .conftest import APP, KEY

NOT_FOUND = {"errors": [{"code": "NOT_FOUND", "text": "The specified resource cannot be found."}]}
UNAUTHORIZED = {"errors": [{"code": "UNAUTHORIZED", "text": "Authorization has been denied for this request."}]}


def test_resources_is_a_bare_array(client):
    r = client.get("bulkImportJobs/resources")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == load_catalog().resources


def test_mapping_types_envelope_and_pagination(client):
    catalog = load_catalog()
    visible = [mt.name for mt in catalog if 1 in mt.database_modes and not mt.requires_permission]
    first = client.get("bulkImportMappingTypes", params={"$top": 3}).json()
    assert set(first) == {"items", "nextPageLink", "count"}
    assert first["count"] == len(visible)
    assert len(first["items"]) == 3
    names = [m["name"] for m in first["items"]]
    link = first["nextPageLink"]
    assert "$top=3" in link and "$skip=3" in link
    while link:  # follow nextPageLink as given, as VAN clients do
        page = client.get(link).json()
        names += [m["name"] for m in page["items"]]
        link = page["nextPageLink"]
    assert names == visible
    everything = client.get("bulkImportMappingTypes", params={"$top": 1000}).json()
    assert len(everything["items"]) == min(200, len(visible)) and everything["nextPageLink"] is None
    assert client.get("bulkImportMappingTypes", params={"$skip": 500}).json()["items"] == []


def test_bad_top_is_invalid_parameter(client):
    r = client.get("bulkImportMappingTypes", params={"$top": "lots"})
    assert r.status_code == 400
    assert r.json() == {"errors": [{"code": "INVALID_PARAMETER", "text": "$top must be a non-negative integer.",
                                    "properties": ["$top"]}]}


def test_single_mapping_type_is_the_catalogue_body(client):
    r = client.get("bulkImportMappingTypes/ActivistCode")
    assert r.status_code == 200
    assert r.json() == load_catalog().get("ActivistCode").to_api()
    assert client.get("bulkImportMappingTypes/activistcode").json()["name"] == "ActivistCode"
    r = client.get("bulkImportMappingTypes/NoSuchType")
    assert r.status_code == 404 and r.json() == NOT_FOUND


def test_values_paginated(client):
    full = load_catalog().values_envelope("ActivistCode", "ContactTypeID")["items"]
    r = client.get("bulkImportMappingTypes/ActivistCode/ContactTypeID/values", params={"$top": 2, "$skip": 1})
    body = r.json()
    assert body["items"] == full[1:3] and body["count"] == len(full)
    assert body["nextPageLink"].endswith("/v4/bulkImportMappingTypes/ActivistCode/ContactTypeID/values?$top=2&$skip=3")
    assert client.get("bulkImportMappingTypes/ActivistCode/NoField/values").status_code == 404


def test_unknown_job_is_not_found(client):
    for path in ("bulkImportJobs/987654", "bulkImportJobs/abc"):
        r = client.get(path)
        assert r.status_code == 404 and r.json() == NOT_FOUND


def test_method_not_allowed(client):
    assert client.delete("bulkImportJobs/resources").status_code == 405
    assert client.get("bulkImportJobs").status_code == 405


@pytest.mark.parametrize("auth", [
    None,
    (APP, KEY),  # no |mode
    (APP, KEY + "|2"),
    (APP, "11111111-1111-4111-8111-111111111111|1"),
    ("someone-else", KEY + "|1"),  # the demo key is bound to the demo application name
    (APP, KEY + "|1|1"),
])
def test_auth_rejected(simulator, auth):
    r = httpx.get(simulator.base_url + "bulkImportJobs/resources", auth=auth)
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_garbage_authorization_header(simulator):
    for header in ("Bearer abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode()):
        r = httpx.get(simulator.base_url + "bulkImportJobs/resources", headers={"Authorization": header})
        assert r.status_code == 401 and r.json() == UNAUTHORIZED


def test_database_mode_selects_resources_and_mapping_types(simulator):
    catalog = load_catalog()
    with httpx.Client(base_url=simulator.base_url, auth=(APP, KEY + "|0")) as voter:
        resources = voter.get("bulkImportJobs/resources").json()
        expected = [r for r in catalog.resources if 0 in catalog.resource_info(r).get("databaseModes", (0, 1))]
        assert resources == expected
        assert "Contributions" not in resources
        names = [m["name"] for m in voter.get("bulkImportMappingTypes", params={"$top": 200}).json()["items"]]
        assert names == [mt.name for mt in catalog if 0 in mt.database_modes and not mt.requires_permission]
        only_campaign = [mt.name for mt in catalog if mt.database_modes == (1,)]
        assert only_campaign, "the catalogue should hold My Campaign-only mapping types"
        assert voter.get(f"bulkImportMappingTypes/{only_campaign[0]}").status_code == 404


PERMITTED = {"api_keys": [
    {"key": KEY, "application_name": APP},
    {"key": "22222222-2222-4222-8222-222222222222", "application_name": None, "permissions": ["Suppressions"]},
]}


@pytest.mark.parametrize("simulator_config", [PERMITTED], indirect=True)
def test_permissions_per_key(simulator, files):
    gated = [mt.name for mt in load_catalog() if mt.requires_permission]
    assert "Suppressions" in gated
    demo = httpx.Client(base_url=simulator.base_url, auth=(APP, KEY + "|1"))
    other = httpx.Client(base_url=simulator.base_url, auth=("any-app", "22222222-2222-4222-8222-222222222222|1"))
    demo_names = {m["name"] for m in demo.get("bulkImportMappingTypes", params={"$top": 200}).json()["items"]}
    other_names = {m["name"] for m in other.get("bulkImportMappingTypes", params={"$top": 200}).json()["items"]}
    assert "Suppressions" not in demo_names and "Suppressions" in other_names
    r = demo.get("bulkImportMappingTypes/Suppressions")
    assert r.status_code == 403
    body = {"description": "suppress", "file": {
        "fileName": "s.csv", "hasHeader": True, "sourceUrl": files.url("/s.zip"),
        "columns": [{"name": "VanID"}, {"name": "SuppressionID"}], "columnDelimiter": "Csv"},
        "actions": [{"actionType": "loadMappedFile", "resourceType": "Contacts", "resultFileSizeKbLimit": 5000,
                     "mappingTypes": [{"name": "ActivistCode", "fieldValueMappings": [
                         {"fieldName": "ActivistCodeID", "staticValue": "4150001"}]},
                                      {"name": "Suppressions"}]}]}
    r = demo.post("bulkImportJobs", json=body)
    assert r.status_code == 403
    assert r.json() == {"errors": [{
        "code": "FORBIDDEN",
        "text": "The API key does not have permission to use the mapping type 'Suppressions'.",
        "properties": ["actions[0].mappingTypes[1].name"]}]}
    assert other.post("bulkImportJobs", json=body).status_code == 200
    # a job belongs to its key's context: another key cannot see it
    job_id = other.post("bulkImportJobs", json=body).json()["jobId"]
    assert demo.get(f"bulkImportJobs/{job_id}").status_code == 404
    demo.close()
    other.close()
