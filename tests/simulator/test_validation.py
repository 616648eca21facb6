"""POST /bulkImportJobs rules: each asserts VAN's exact error body; all errors are reported at once."""

from __future__ import annotations

import copy

import pytest

P = "actions[0].mappingTypes[0]"


def base() -> dict:
    return {
        "description": "Nightly sync",
        "file": {"fileName": "data.csv", "hasHeader": True, "hasQuotes": False,
                 "sourceUrl": "http://127.0.0.1:9/data.zip",
                 "columns": [{"name": "VanID"}, {"name": "ac"}, {"name": "who"}, {"name": "when"}],
                 "columnDelimiter": "Csv"},
        "actions": [{"actionType": "loadMappedFile", "resourceType": "Contacts", "resultFileSizeKbLimit": 5000,
                     "mappingTypes": [{"name": "ActivistCode", "fieldValueMappings": [
                         {"fieldName": "ActivistCodeID", "columnName": "ac"}]}]}],
    }


def err(text, *props):
    return {"code": "INVALID_PARAMETER", "text": text, "properties": list(props)}


def mutate(fn):
    body = base()
    fn(body)
    return body


def fvm(body, *mappings):
    body["actions"][0]["mappingTypes"][0]["fieldValueMappings"] = list(mappings)


CASES = {
    "description missing": (lambda b: b.pop("description"), [err("description is required.", "description")]),
    "description too long": (lambda b: b.update(description="x" * 256),
                             [err("description must be 255 characters or fewer.", "description")]),
    "description html": (lambda b: b.update(description="a <b>bold</b> job"),
                         [err("description must not contain HTML or HTML entities.", "description")]),
    "description entity": (lambda b: b.update(description="fish &#38; chips"),
                           [err("description must not contain HTML or HTML entities.", "description")]),
    "file missing": (lambda b: b.pop("file"), [err("file is required.", "file"),
                                               err("Column 'ac' is not one of the file's columns.",
                                                   f"{P}.fieldValueMappings[0].columnName"),
                                               err("Required field 'ActivistCodeID' of mapping type 'ActivistCode'"
                                                   " is not mapped.", f"{P}.fieldValueMappings"),
                                               err("The file needs a 'VanID' column to identify the Contacts "
                                                   "records (or a mapping type that creates them).", "actions[0]")]),
    "fileName missing": (lambda b: b["file"].pop("fileName"), [err("file.fileName is required.", "file.fileName")]),
    "sourceUrl missing": (lambda b: b["file"].pop("sourceUrl"), [err("file.sourceUrl is required.", "file.sourceUrl")]),
    "sourceUrl not http": (lambda b: b["file"].update(sourceUrl="ftp://x/y.zip"),
                           [err("file.sourceUrl must be an http or https URL.", "file.sourceUrl")]),
    "hasHeader not boolean": (lambda b: b["file"].update(hasHeader="yes"),
                              [err("file.hasHeader must be true or false.", "file.hasHeader")]),
    "delimiter unknown": (lambda b: b["file"].update(columnDelimiter="Semicolon"),
                          [err("file.columnDelimiter must be one of Csv, Tab, Pipe.", "file.columnDelimiter")]),
    "too many columns": (lambda b: b["file"]["columns"].extend({"name": f"c{i}"} for i in range(47)),
                         [err("A file may have at most 50 columns.", "file.columns")]),
    "duplicate column": (lambda b: b["file"]["columns"].append({"name": "AC"}),
                         [err("Column name 'AC' is used more than once.", "file.columns[4].name")]),
    "unnamed column": (lambda b: b["file"]["columns"].append({}),
                       [err("Each column needs a name.", "file.columns[4].name")]),
    "actions missing": (lambda b: b.pop("actions"), [err("actions is required.", "actions")]),
    "two actions": (lambda b: b["actions"].append(copy.deepcopy(b["actions"][0])),
                    [err("A job may have at most 1 action(s).", "actions")]),
    "actionType": (lambda b: b["actions"][0].update(actionType="loadFile"),
                   [err("actionType must be 'loadMappedFile'.", "actions[0].actionType")]),
    "resourceType unknown": (lambda b: b["actions"][0].update(resourceType="Events"),
                             [err("resourceType 'Events' is not one of the available resource types.",
                                  "actions[0].resourceType")]),
    "result kb low": (lambda b: b["actions"][0].update(resultFileSizeKbLimit=4999),
                      [err("resultFileSizeKbLimit must be an integer from 5000 to 100000.",
                           "actions[0].resultFileSizeKbLimit")]),
    "result kb high": (lambda b: b["actions"][0].update(resultFileSizeKbLimit=100001),
                       [err("resultFileSizeKbLimit must be an integer from 5000 to 100000.",
                            "actions[0].resultFileSizeKbLimit")]),
    "mappingTypes missing": (lambda b: b["actions"][0].pop("mappingTypes"),
                             [err("mappingTypes is required.", "actions[0].mappingTypes")]),
    "mapping type unknown": (lambda b: b["actions"][0]["mappingTypes"].append({"name": "Teleport"}),
                             [err("Mapping type 'Teleport' does not exist.", "actions[0].mappingTypes[1].name")]),
    "mapping type wrong resource": (
        lambda b: b["actions"][0].update(resourceType="ActivistCodes"),
        [err("Mapping type 'ActivistCode' cannot be used with resourceType 'ActivistCodes'.", f"{P}.name")]),
    "field unknown": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "columnName": "ac"},
                                    {"fieldName": "Color", "columnName": "who"}),
                      [err("Field 'Color' does not exist in mapping type 'ActivistCode'.",
                           f"{P}.fieldValueMappings[1].fieldName")]),
    "column not in file": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "columnName": "code"}),
                           [err("Column 'code' is not one of the file's columns.",
                                f"{P}.fieldValueMappings[0].columnName"),
                            err("Required field 'ActivistCodeID' of mapping type 'ActivistCode' is not mapped.",
                                f"{P}.fieldValueMappings")]),
    "both column and static": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "columnName": "ac",
                                                 "staticValue": "4150001"}),
                               [err("Field 'ActivistCodeID' needs exactly one of columnName or staticValue.",
                                    f"{P}.fieldValueMappings[0]"),
                                err("Required field 'ActivistCodeID' of mapping type 'ActivistCode' is not mapped.",
                                    f"{P}.fieldValueMappings")]),
    "neither column nor static": (lambda b: fvm(b, {"fieldName": "ActivistCodeID"}),
                                  [err("Field 'ActivistCodeID' needs exactly one of columnName or staticValue.",
                                       f"{P}.fieldValueMappings[0]"),
                                   err("Required field 'ActivistCodeID' of mapping type 'ActivistCode' is not "
                                       "mapped.", f"{P}.fieldValueMappings")]),
    "static not a predefined value": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "staticValue": "999"}),
                                      [err("Invalid staticValue for field 'ActivistCodeID': Invalid ActivistCodeID: "
                                           "'999' is not an accepted value.", f"{P}.fieldValueMappings[0].staticValue"),
                                       err("Required field 'ActivistCodeID' of mapping type 'ActivistCode' is not "
                                           "mapped.", f"{P}.fieldValueMappings")]),
    "parent not mapped": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "columnName": "ac"},
                                        {"fieldName": "DateCanvassed", "columnName": "when"}),
                          [err("Field 'DateCanvassed' requires its parent field 'CanvassedBy' to be mapped.",
                               f"{P}.fieldValueMappings")]),
    "field mapped twice": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "columnName": "ac"},
                                         {"fieldName": "activistcodeid", "columnName": "who"}),
                           [err("Field 'ActivistCodeID' is mapped more than once.",
                                f"{P}.fieldValueMappings[1].fieldName")]),
    "bad translation target": (lambda b: fvm(b, {"fieldName": "ActivistCodeID", "columnName": "ac",
                                                 "values": [{"sourceValue": "vol", "targetValue": "nope"}]}),
                               [err("Invalid targetValue for field 'ActivistCodeID': Invalid ActivistCodeID: 'nope'"
                                    " is not an accepted value.", f"{P}.fieldValueMappings[0].values[0].targetValue")]),
    "include column unknown": (lambda b: b["actions"][0].update(columnsToIncludeInResultsFile=[{"name": "crm"}]),
                               [err("Column 'crm' is not one of the file's columns.",
                                    "actions[0].columnsToIncludeInResultsFile[0].name")]),
    "required not matched by name": (
        lambda b: b["actions"][0]["mappingTypes"][0].pop("fieldValueMappings"),
        [err("Required field 'ActivistCodeID' of mapping type 'ActivistCode' is not mapped (no fieldValueMappings "
             "given and no column has its name).", P)]),
    "no key column": (lambda b: b["file"]["columns"].pop(0),
                      [err("The file needs a 'VanID' column to identify the Contacts records (or a mapping type "
                           "that creates them).", "actions[0]")]),
    "Single used twice": (lambda b: b["actions"][0]["mappingTypes"].extend([
        {"name": "CreateOrUpdateContact"}, {"name": "CreateOrUpdateContact"}]),
        [err("Mapping type 'CreateOrUpdateContact' may be used only once per job.",
             "actions[0].mappingTypes[2].name")]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_rule(client, case):
    fn, expected = CASES[case]
    r = client.post("bulkImportJobs", json=mutate(fn))
    assert r.status_code == 400, r.text
    assert r.json() == {"errors": expected}


def test_every_error_is_reported(client):
    body = base()
    body["description"] = "<" * 300
    body["file"]["columnDelimiter"] = "semicolon"
    body["actions"][0]["resultFileSizeKbLimit"] = 1
    r = client.post("bulkImportJobs", json=body)
    assert r.status_code == 400
    assert [e["properties"] for e in r.json()["errors"]] == [
        ["description"], ["description"], ["file.columnDelimiter"], ["actions[0].resultFileSizeKbLimit"]]


def test_the_valid_base_is_accepted(client):
    r = client.post("bulkImportJobs", json=base())
    assert r.status_code == 200 and isinstance(r.json()["jobId"], int)


def test_string_booleans_and_lowercase_delimiter_are_accepted(client):
    body = base()
    body["file"].update(hasHeader="True", hasQuotes="false", columnDelimiter="csv")
    assert client.post("bulkImportJobs", json=body).status_code == 200
    body["file"].update(columnDelimiter="TAB")
    assert client.post("bulkImportJobs", json=body).status_code == 200


def test_not_json(client):
    r = client.post("bulkImportJobs", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"errors": [err("The request body is not valid JSON.", "")]}
    r = client.post("bulkImportJobs", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_static_value_required_when_not_column_mappable(client):
    # ApplyContactCustomFields.CustomFieldGroupID: catalogue says it cannot come from a column
    body = base()
    body["file"]["columns"].append({"name": "grp"})
    body["actions"][0]["mappingTypes"] = [{"name": "ApplyContactCustomFields", "fieldValueMappings": [
        {"fieldName": "CustomFieldGroupID", "columnName": "grp"}]}]
    r = client.post("bulkImportJobs", json=body)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert errors[0] == err("Field 'CustomFieldGroupID' cannot be mapped to a column; use a staticValue.",
                            f"{P}.fieldValueMappings[0].columnName")


def phones_body(*statics):
    body = base()
    body["file"]["columns"].append({"name": "phone"})
    body["actions"][0]["mappingTypes"] = [
        {"name": "Phones", "fieldValueMappings": [{"fieldName": "Phone", "columnName": "phone"}] + (
            [{"fieldName": "PhoneTypeID", "staticValue": s}] if s else [])} for s in statics]
    return body


def test_single_per_type(client):
    assert client.post("bulkImportJobs", json=phones_body("H", "C")).status_code == 200
    r = client.post("bulkImportJobs", json=phones_body("H", "h"))
    assert r.status_code == 400
    assert r.json() == {"errors": [err("Mapping type 'Phones' may be used more than once only when each use has a "
                                       "different static type value.", "actions[0].mappingTypes[1]")]}
    r = client.post("bulkImportJobs", json=phones_body(None, None))
    assert r.status_code == 400 and len(r.json()["errors"]) == 2


def test_multiple_mode_allows_repeats(client):
    body = base()
    body["actions"][0]["mappingTypes"] *= 3
    assert client.post("bulkImportJobs", json=body).status_code == 200


def contributions_body(*fields):
    cols = ["VanID", "Amount", "DateReceived", "DesignationID", *fields]
    return {"description": "gifts", "file": {
        "fileName": "g.csv", "hasHeader": True, "sourceUrl": "http://127.0.0.1:9/g.zip",
        "columns": [{"name": c} for c in cols], "columnDelimiter": "Csv"},
        "actions": [{"actionType": "loadMappedFile", "resourceType": "Contacts", "resultFileSizeKbLimit": 5000,
                     "mappingTypes": [{"name": "Contributions"}]}]}


@pytest.mark.parametrize("simulator_config", [{"enforce_inferred": ["disclosure"]}], indirect=True)
def test_disclosure_rule_rejects_both_categories(client):
    assert client.post("bulkImportJobs", json=contributions_body("DisclosureEmployer")).status_code == 200
    r = client.post("bulkImportJobs", json=contributions_body("DisclosureEmployer", "DisclosureOrganizationFECID"))
    assert r.status_code == 400
    assert r.json() == {"errors": [err(
        "Disclosure fields for Individuals and Organizations cannot be loaded in the same file; split them into "
        "separate jobs.", P, P)]}


@pytest.mark.parametrize("simulator_config", [{"disclosure_conflict": "fail", "enforce_inferred": ["disclosure"]}],
                         indirect=True)
def test_disclosure_rule_can_fail_the_job_instead(client):
    from .conftest import wait_job

    r = client.post("bulkImportJobs", json=contributions_body("DisclosureEmployer", "DisclosureOrganizationFECID"))
    assert r.status_code == 200
    job = wait_job(client, r.json()["jobId"])
    assert job["status"] == "Failed"
    assert job["errors"][0]["code"] == "DISCLOSURE_FIELD_CONFLICT" and job["errors"][0]["referenceCode"]


@pytest.mark.parametrize("simulator_config", [{"post_status": 201}], indirect=True)
def test_post_status_is_configurable(client):
    assert client.post("bulkImportJobs", json=base()).status_code == 201


def test_default_world_refuses_mixed_disclosure_categories_because_van_states_the_rule(client):
    """VAN states the rule (seed text: disclosure fields for Organizations or Individuals, never both, in one
    file): every account refuses such a file, whatever the evidence for which field is of which category."""
    r = client.post("bulkImportJobs", json=contributions_body("DisclosureEmployer", "DisclosureOrganizationFECID"))
    assert r.status_code == 400
    assert "Disclosure fields for Individuals and Organizations" in r.text
