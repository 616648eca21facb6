"""A synthetic mapping type that exercises every pre-flight rule, as a catalogue overlay.

Tests use it instead of the real mapping types (which another part of the project refines) so that the
rule tests stay fixed; the real catalogue is covered by test_catalog_rules.py."""

from __future__ import annotations

import json
from pathlib import Path

PROBE = "PreflightProbe"
WIDE = "PreflightWide"


def _field(name, required=False, predefined=False, parents=None, column=True):
    return {"name": name, "description": name, "hasPredefinedValues": predefined, "isRequired": required,
            "canBeMappedToColumn": column, "canBeMappedByName": True, "parents": parents}


def _values(items):
    return {"items": items, "nextPageLink": None, "count": len(items)}


def write_overlay(root: Path) -> Path:
    (root / "mapping_types").mkdir(parents=True)
    (root / "meta").mkdir()
    vals = root / "values" / PROBE
    vals.mkdir(parents=True)
    fields = [
        _field("VanID"),  # a field here (a key column that is not a field is required, see ContributionID)
        _field("Amount", required=True),
        _field("DateReceived", required=True),
        _field("DesignationID", required=True, predefined=True),
        _field("PaymentTypeID", predefined=True),
        _field("CheckNumber", parents=[{"parentFieldName": "PaymentTypeID",
                                        "limitedToParentValues": [{"id": "2", "name": "Check"}]}]),
        _field("Email"), _field("Phone"), _field("Zip"), _field("State"), _field("Country"),
        _field("IsMember"), _field("Quantity"), _field("Rate"), _field("BatchTime"),
        _field("Employer"), _field("Occupation", parents=[{"parentFieldName": "Employer",
                                                           "limitedToParentValues": None}]),
        _field("OrgName"), _field("OrgContact", parents=[{"parentFieldName": "OrgName",
                                                          "limitedToParentValues": None}]),
        _field("Region", predefined=True), _field("Turf", predefined=True),
        _field("Notes"),
        _field("CommitteeID", required=True, column=False),  # static only: not a view column
        _field("Memo", parents=[{"parentFieldName": "CommitteeID", "limitedToParentValues": ["77"]}]),
    ]
    (root / "mapping_types" / f"{PROBE}.json").write_text(json.dumps({
        "name": PROBE, "displayName": "Preflight Probe", "allowMultipleMode": "Single",
        "resourceTypes": ["Contacts"], "uploadType": None, "fields": fields}))
    (root / "meta" / f"{PROBE}.json").write_text(json.dumps({
        # A made-up catalogue for the rule mechanics: every fact is declared known, so every rule rejects.
        "evidence": {k: "confirmed (test probe)" for k in (
            "fields", "fieldFormats", "maxLengths", "rowRequirements", "disclosureCategory",
            "values.DesignationID", "values.PaymentTypeID", "values.Region", "values.Turf")},
        "name": PROBE, "databaseModes": [1], "requiresPermission": True, "keyColumns": ["VanID", "ContributionID"],
        "fieldFormats": {"VanID": "integer", "Amount": "amount", "DateReceived": "date", "DesignationID": "integer",
                         "Email": "email", "Phone": "phone", "Zip": "zip", "State": "state", "Country": "country",
                         "IsMember": "boolean", "Quantity": "integer", "Rate": "decimal", "BatchTime": "datetime",
                         "Notes": "text"},
        "maxLengths": {"Notes": 20, "CheckNumber": 6},
        "disclosureCategory": {"Employer": "Individual", "Occupation": "Individual",
                               "OrgName": "Organization", "OrgContact": "Organization"},
        "rowRequirements": [{"rule": "identity", "anyOf": [["VanID"], ["Email", "Phone"]],
                             "text": "a VanID, or an email and a phone"}],
    }))
    (vals / "DesignationID.json").write_text(json.dumps(_values([
        {"id": "10", "name": "General", "parents": None},
        {"id": "20", "name": "PAC", "parents": None},
        {"id": "30", "name": "general ", "parents": None},  # same name as 10 (case/space): names not accepted
    ])))
    (vals / "PaymentTypeID.json").write_text(json.dumps(_values([
        {"id": "1", "name": "Cash", "parents": None}, {"id": "2", "name": "Check", "parents": None}])))
    (vals / "Region.json").write_text(json.dumps(_values([
        {"id": "1", "name": "North", "parents": None}, {"id": "2", "name": "South", "parents": None}])))
    (vals / "Turf.json").write_text(json.dumps(_values([
        {"id": "11", "name": "N1", "parents": [{"parentFieldName": "Region",
                                                "allowedParentValues": [{"id": "1", "name": "North"}]}]},
        {"id": "21", "name": "S1", "parents": [{"parentFieldName": "Region",
                                                "allowedParentValues": [{"id": "2", "name": "South"}]}]},
        {"id": "99", "name": "Anywhere", "parents": None}])))
    wide = [_field(f"W{i:02d}") for i in range(1, 51)]  # + source_row_key = 51 columns
    (root / "mapping_types" / f"{WIDE}.json").write_text(json.dumps({
        "name": WIDE, "displayName": "Preflight Wide", "allowMultipleMode": "Single",
        "resourceTypes": ["Contacts"], "uploadType": None, "fields": wide}))
    (root / "meta" / f"{WIDE}.json").write_text(json.dumps({"name": WIDE, "databaseModes": [0, 1]}))
    return root


GOOD = {  # a complete valid row; each case below changes a few columns
    "ContributionID": "500001", "VanID": "1001", "Amount": "25.00", "DateReceived": "2026-03-01", "DesignationID": "10",
    "PaymentTypeID": "2", "CheckNumber": "1234", "Email": "ana@example.org", "Phone": "2025550143",
    "Zip": "20001", "State": "DC", "Country": "US", "IsMember": "true", "Quantity": "3", "Rate": "0.5",
    "BatchTime": "2026-03-01 10:30", "Memo": "m", "Employer": "Acme", "Occupation": "Welder", "OrgName": None,
    "OrgContact": None, "Region": "1", "Turf": "11", "Notes": "ok",
}

# key -> (changes to GOOD, expected {(rule, column)}); empty set = must pass.
CASES: dict[str, tuple[dict, set]] = {
    "ok-01": ({}, set()),
    "ok-02-blanks": ({"PaymentTypeID": None, "CheckNumber": None, "Email": "  ", "Phone": None, "Zip": None,
                      "State": None, "Country": None, "IsMember": None, "Quantity": None, "Rate": None,
                      "BatchTime": None, "Employer": None, "Occupation": None, "Region": None, "Turf": None,
                      "Notes": None}, set()),
    "ok-03-names": ({"DesignationID": "PAC", "PaymentTypeID": " check ", "Region": "North", "Turf": "N1"}, set()),
    "ok-04-org": ({"Employer": None, "Occupation": None, "OrgName": "Acme PAC", "OrgContact": "Bo"}, set()),
    "ok-05-edge": ({"DateReceived": "2024-02-29", "Amount": "-3", "Phone": "441632960961234", "Zip": "200011234",
                    "Quantity": "-7", "Rate": "12.125", "BatchTime": "2000-02-29T23:59:59", "IsMember": "N",
                    "Turf": "99", "Region": None, "VanID": None, "Notes": "x" * 20}, set()),
    "bad-key": ({"ContributionID": " "}, {("required", "ContributionID")}),
    "bad-required": ({"Amount": None, "DesignationID": " "}, {("required", "Amount"), ("required", "DesignationID")}),
    "bad-parent": ({"Employer": None}, {("parent_required", "Occupation")}),
    "bad-parent-value": ({"PaymentTypeID": "1"}, {("parent_value", "CheckNumber")}),
    "bad-parent-value-blank": ({"PaymentTypeID": None}, {("parent_required", "CheckNumber")}),
    "bad-predefined": ({"DesignationID": "general", "PaymentTypeID": "3", "CheckNumber": None},
                       {("predefined_value", "DesignationID"), ("format", "DesignationID"),
                        ("predefined_value", "PaymentTypeID")}),
    "bad-value-parent": ({"Region": "2", "Turf": "11"}, {("parent_value", "Turf")}),
    "bad-value-parent-blank": ({"Region": None, "Turf": "N1"}, {("parent_value", "Turf")}),
    "bad-date": ({"DateReceived": "2023-02-29"}, {("impossible_value", "DateReceived")}),
    "bad-date2": ({"DateReceived": "03/01/2026"}, {("format", "DateReceived")}),
    "bad-date3": ({"DateReceived": "2026-04-31"}, {("impossible_value", "DateReceived")}),
    "bad-date4": ({"DateReceived": "1900-02-29"}, {("impossible_value", "DateReceived")}),
    "bad-email": ({"Email": "ana@example"}, {("format", "Email")}),
    "bad-email2": ({"Email": "ana@@example.org"}, {("format", "Email")}),
    "bad-phone": ({"Phone": "202-555-0143"}, {("format", "Phone")}),
    "bad-phone2": ({"Phone": "555014"}, {("format", "Phone")}),
    "bad-zip": ({"Zip": "2000"}, {("format", "Zip")}),
    "bad-state": ({"State": "dc"}, {("format", "State")}),
    "bad-country": ({"Country": "USA"}, {("format", "Country")}),
    "bad-bool": ({"IsMember": "maybe"}, {("format", "IsMember")}),
    "bad-int": ({"Quantity": "3.0", "VanID": "12a"}, {("format", "Quantity"), ("format", "VanID")}),
    "bad-decimal": ({"Rate": "1.2.3"}, {("impossible_value", "Rate")}),
    "bad-amount": ({"Amount": "25.001"}, {("format", "Amount")}),
    "bad-datetime": ({"BatchTime": "2026-03-01 25:00"}, {("format", "BatchTime")}),
    "bad-length": ({"Notes": "x" * 21, "CheckNumber": "1234567"},
                   {("max_length", "Notes"), ("max_length", "CheckNumber")}),
    "bad-identity": ({"VanID": None, "Phone": None}, {("row_requirement", "VanID | Email+Phone")}),
    "bad-disclosure-both": ({"OrgName": "Acme PAC"}, {("disclosure_row_both", "Employer, Occupation, OrgName")}),
    "bad-quote'key": ({"DateReceived": "2026-1-1"}, {("format", "DateReceived")}),
    "bad-colon:key": ({"Notes": "a:b {x} 100%" * 3}, {("max_length", "Notes")}),
    "bad-control": ({"Notes": "a\x01b"}, {("control_characters", "Notes")}),
    "bad-phone3": ({"Phone": "call after 5"}, {("impossible_value", "Phone")}),
    "dup-key": ({}, {("row_key", "source_row_key")}),
}
DUPLICATE_KEY = "dup-key"  # inserted twice


def rows(columns: list[str]) -> list[tuple]:
    out = []
    for key, (changes, _) in CASES.items():
        row = {**GOOD, **changes, "source_row_key": key}
        out.append(tuple(row.get(c) for c in columns))
        if key == DUPLICATE_KEY:
            out.append(tuple(row.get(c) for c in columns))
    out.append(tuple(None if c != "source_row_key" else None for c in columns))  # blank key row
    return out


def expected() -> dict[str | None, set]:
    exp = {k: set(v) for k, (_, v) in CASES.items()}
    exp[None] = {("row_key", "source_row_key"), ("required", "ContributionID"), ("required", "Amount"), ("required", "DateReceived"),
                 ("required", "DesignationID"), ("row_requirement", "VanID | Email+Phone")}
    return exp
