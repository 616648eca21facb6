"""The catalogue's evidence tags (meta.evidence) and the corrections from public evidence (issue 10 items 4, 5).

``resolve`` is the lookup the rule code uses (most specific key first; a missing key counts as inferred), so
these tests catch a group tag such as ``fields: client-observed`` silently vouching for an inferred parent."""

from __future__ import annotations

import re

import pytest

from connector.catalog import EVIDENCE_TAGS, load_catalog

EVIDENCE = re.compile(r"^(confirmed|client-observed|inferred|unknown) \((.+)\)$")
STRONG = {"confirmed", "client-observed"}

# AB-CLI's 43 CreateOrUpdateContact names, minus the two account-specific External_<typeId>ID fields.
AB_CLI_CONTACT_FIELDS = {
    "DisplayAsEntered", "AddressLine1", "AddressLine2", "AddressLine3", "CellPhone", "CellPhoneCountryCode", "City",
    "ContactModeID", "CountryCode", "DOB", "Email", "EmployerName", "AdditionalEnvelopeName", "FormalEnvelopeName",
    "EnvelopeName", "FirstName", "Phone", "PhoneCountryCode", "IsInFileMatchingEnabled", "LastName", "MiddleName",
    "OccupationName", "OrganizationContactCommonName", "OrganizationContactOfficialName", "OtherEmail", "Title",
    "ProfessionalSuffix", "AdditionalSalutation", "FormalSalutation", "Salutation", "Sex", "StateOrProvince",
    "Suffix", "VanID", "WorkEmail", "WorkPhone", "WorkPhoneCountryCode", "ZipOrPostal", "Action", "DoNotUpdateBest",
    "SkipEmailSubscriptionUpdate",
}
PHONE_CONTACT_TYPES = {"1", "19", "37", "67", "68", "72", "112", "132", "143", "147", "149"}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def resolve(mt, *keys: str) -> str:
    """The tag of the first key present in meta.evidence; none present: inferred."""
    evidence = mt.meta.get("evidence") or {}
    for key in keys:
        if key in evidence:
            return evidence[key].split(" ", 1)[0]
    return "inferred"


def required_tag(mt, f: str) -> str:
    return resolve(mt, f"isRequired.{f}", "isRequired", f"fields.{f}", "fields")


def parent_tag(mt, f: str) -> str:
    return resolve(mt, f"parents.{f}", "parents", "fields")


def values_tag(mt, f: str) -> str:
    return resolve(mt, f"values.{f}", "fields")


def test_every_evidence_value_is_a_tag_with_a_reason(catalog):
    for mt in catalog:
        for key, value in mt.meta["evidence"].items():
            m = EVIDENCE.match(value)
            assert m and m.group(1) in EVIDENCE_TAGS, (mt.name, key, value)


def test_conflicts_name_the_readings_and_the_one_kept(catalog):
    seen = 0
    for mt in catalog:
        for c in mt.meta.get("conflicts", []):
            seen += 1
            assert set(c) == {"fact", "readings", "kept", "why"}, (mt.name, c)
            assert c["readings"] and all(isinstance(r, str) and r for r in c["readings"]), (mt.name, c)
            assert c["kept"] and c["why"], (mt.name, c)
    assert seen >= 10


def test_strong_parent_and_value_tags_are_only_where_evidence_shows_them(catalog):
    """A parent rule or value list tagged confirmed/client-observed must be one a source shows; the rest resolve
    to inferred/unknown (and will warn, not refuse)."""
    strong_parents, strong_values = set(), set()
    for mt in catalog:
        for f in mt.fields:
            if f.parents and parent_tag(mt, f.name) in STRONG:
                strong_parents.add((mt.name, f.name))
            if f.has_predefined_values and values_tag(mt, f.name) in STRONG:
                strong_values.add((mt.name, f.name))
    assert strong_parents == {("ActivistCode", "DateCanvassed"), ("ActivistCode", "ContactTypeID"),
                              *(("ApplyContactCustomFields", f) for f in ("CF101", "CF102", "CF103", "CF201"))}
    assert strong_values == {
        ("ActivistCode", "ContactTypeID"), ("CanvassResults", "ContactTypeID"), ("CanvassResults", "PhoneTypeID"),
        ("CanvassResults", "PhoneOptInStatusID"), ("CreateOrUpdateContact", "DisplayAsEntered"),
        ("Email", "EmailTypeId"), ("Email", "EmailSubscriptionStatusId"), ("MailingAddress", "MailingDisplayAsEntered"),
        ("Phones", "PhoneTypeID"), ("Phones", "PhoneOptInStatusID"), ("Phones", "IsCellStatusID"),
    }


def test_required_fields_tags(catalog):
    assert required_tag(catalog.get("ActivistCode"), "ActivistCodeID") == "client-observed"
    assert required_tag(catalog.get("CanvassResults"), "ResultID") == "client-observed"
    assert required_tag(catalog.get("MailingAddress"), "MailingAddress") == "confirmed"
    assert required_tag(catalog.get("EditContributionData"), "ContributionID") == "confirmed"
    assert required_tag(catalog.get("Phones"), "Phone") == "inferred"


def test_create_or_update_contact_follows_ab_cli(catalog):
    mt = catalog.get("CreateOrUpdateContact")
    names = set(mt.field_names)
    assert AB_CLI_CONTACT_FIELDS <= names
    assert names - AB_CLI_CONTACT_FIELDS == {"VoterVanID"}
    assert resolve(mt, "fields.VoterVanID") == "unknown"
    assert not [n for n in names if n.startswith("External_")]  # account-specific type ids are not packaged
    for n in AB_CLI_CONTACT_FIELDS:
        assert resolve(mt, f"fields.{n}") == "client-observed", n
    assert not mt.required_fields and required_tag(mt, "FirstName") == "client-observed"
    # Address parts do not need a street: a name + email + ZIP contact is valid (Parsons' upsert).
    for n in ("AddressLine2", "AddressLine3", "City", "StateOrProvince", "ZipOrPostal", "CountryCode",
              "DisplayAsEntered"):
        assert not mt.field(n).parents, n
    assert all(parent_tag(mt, f.name) == "inferred" for f in mt.fields if f.parents)
    assert resolve(mt, "rowRequirements.identity", "rowRequirements") == "inferred"
    # Country codes of phones: ISO alpha-2 and dialling codes ('01') both pass (sources disagree).
    assert "CellPhoneCountryCode" not in mt.field_formats and "PhoneCountryCode" not in mt.field_formats
    assert "match" in mt.field("VanID").description
    assert len(mt.staging_columns) <= 50


def test_canvass_results_values_follow_vans_examples(catalog):
    mt = catalog.get("CanvassResults")
    results = {v.id: v.name for v in catalog.values("CanvassResults", "ResultID")}
    assert {k: results[k] for k in ("14", "18", "19", "20", "25")} == {
        "14": "Canvassed", "18": "Busy", "19": "Left Message", "20": "Wrong Number", "25": "Disconnected"}
    phone = mt.field("Phone").parents[0]
    assert phone.parent_field == "ContactTypeID" and set(phone.limited_to_parent_values) == PHONE_CONTACT_TYPES
    for name in ("CanvassResults", "ActivistCode"):
        assert PHONE_CONTACT_TYPES | {"2"} <= set(catalog.allowed_value_ids(name, "ContactTypeID")), name
        assert resolve(catalog.get(name), "values.ContactTypeID.4") == "unknown"
        assert resolve(catalog.get(name), "values.ContactTypeID.8") == "unknown"


def test_phones_is_cell_statuses_are_vans_four(catalog):
    vals = [(v.id, v.name) for v in catalog.values("Phones", "IsCellStatusID")]
    assert vals == [("1", "Verified Cell"), ("2", "Likely Cell"), ("3", "Likely Not a Cell"), ("4", "Not a Cell")]
    assert "deprecated" in catalog.get("Phones").meta["notes"]
    assert {"O", "U"} <= set(catalog.allowed_value_ids("Phones", "PhoneTypeID"))  # conflict: both kept


def test_edit_contribution_data_maps_contribution_id_as_its_key(catalog):
    mt = catalog.get("EditContributionData")
    f = mt.field("ContributionID")
    assert f.is_required and f.can_be_mapped_to_column and mt.key_columns == ["ContributionID"]
    assert mt.staging_columns[:2] == ["ContributionID", "source_row_key"]
    assert mt.staging_columns.count("ContributionID") == 1


def test_adjustment_types_and_disclosure_evidence(catalog):
    ids = catalog.allowed_value_ids("ContributionAdjustments", "AdjustmentType")
    assert "Refund" in ids and "WriteOff" not in ids and len(ids) == 8
    for name in ("Contributions", "EditContributionData"):
        mt = catalog.get(name)
        assert resolve(mt, "disclosureCategory") == "inferred"
        assert "disclosureFieldId" in mt.meta["evidence"]["disclosureCategory"]


def test_names_and_salutations(catalog):
    mt = catalog.get("NamesAndSalutations")
    assert "ProfessionalSuffix" in mt.field_names
    assert resolve(mt, "fields.Nickname") == "unknown"
    assert set(mt.max_lengths) == {"Title", "Suffix"} and min(mt.max_lengths.values()) >= 10


def test_resource_key_leads_then_source_row_key(catalog):
    for mt in catalog:
        cols = mt.staging_columns
        keys = mt.key_columns
        assert cols[:len(keys)] == keys and cols[len(keys)] == "source_row_key", mt.name
        assert mt.input_columns == [c for c in cols if c != "source_row_key"]
    assert catalog.get("CreateOrUpdateContact").staging_columns[:2] == ["VanID", "source_row_key"]
    assert catalog.get("CreateOrUpdateActivistCodes").staging_columns[0] == "source_row_key"
