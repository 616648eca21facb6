"""Integrity of the packaged catalogue: the 21 mapping types VAN documents, and self-consistent metadata."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connector.catalog import EVIDENCE_TAGS, PACKAGED_DIR, load_catalog

SEED = Path("/work/shared/seed/bulk-import-jobs.txt")
FORMATS = {"date", "email", "phone", "zip", "state", "country", "integer", "decimal", "boolean", "text"}
CONTRIBUTION_TYPES = {"Contributions", "EditContributionData"}
# The 21 display names VAN documents (D-OVER); kept here too so the test runs without the shared folder.
DISPLAY_NAMES = [
    "Apply Activist Code", "Apply Canvass Responses", "Apply Contribution Adjustments", "Apply Contributions",
    "Apply Custom Address", "Apply Custom Contact Fields", "Apply Email Address", "Apply External ID", "Apply Jobs",
    "Apply Mailing Address", "Apply Names and Salutations", "Apply Organizing Turfs", "Apply Origin Source Code",
    "Apply Phone Numbers", "Apply Recurring Commitments", "Apply Relationships", "Apply Suppressions",
    "Apply Work Address", "Create Or Update Activist Codes", "Create Or Update Contact", "Edit Contribution Data",
]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _seed_display_names() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    tail = text.split("Currently supported mapping types", 1)[1]
    return [m.group(1).strip() for m in re.finditer(r"^\s*\u2022\s+(.+)$", tail, flags=re.M)]


def test_the_21_display_names_match_vans_list_exactly(catalog):
    if SEED.exists():
        assert _seed_display_names() == DISPLAY_NAMES
    assert len(catalog) == 21
    assert sorted(mt.display_name for mt in catalog) == sorted(DISPLAY_NAMES)


def test_api_names_and_staging_views_are_unique(catalog):
    assert len({mt.name.lower() for mt in catalog}) == 21
    views = [mt.staging_view for mt in catalog]
    assert len(set(views)) == 21
    assert all(re.fullmatch(r"stg_van__[a-z0-9_]+", v) for v in views)


def test_mapping_type_objects_have_vans_shape(catalog):
    for mt in catalog:
        raw = mt.to_api()
        assert set(raw) >= {"name", "displayName", "allowMultipleMode", "resourceTypes", "fields"}, mt.name
        assert raw["allowMultipleMode"] in ("Single", "SinglePerType", "Multiple"), mt.name
        assert raw["fields"], mt.name
        for f in raw["fields"]:
            assert set(f) == {"name", "description", "hasPredefinedValues", "isRequired", "canBeMappedToColumn",
                              "canBeMappedByName", "parents"}, (mt.name, f["name"])
        assert len({f.name.lower() for f in mt.fields}) == len(mt.fields), mt.name


def test_resource_types_exist(catalog):
    resources = set(catalog.resources)
    for mt in catalog:
        assert mt.resource_types and set(mt.resource_types) <= resources, mt.name
        for r in mt.resource_types:
            assert catalog.resource_info(r), r


def test_every_parent_exists_and_limited_values_are_allowed_parent_values(catalog):
    limited = 0
    for mt in catalog:
        for f in mt.fields:
            for p in f.parents:
                parent = mt.field(p.parent_field)  # raises when missing
                assert parent.name != f.name
                if p.limited_to_parent_values is not None:
                    limited += 1
                    allowed = catalog.allowed_value_ids(mt.name, parent.name)
                    assert allowed is not None, (mt.name, f.name)
                    assert set(p.limited_to_parent_values) <= set(allowed), (mt.name, f.name)
    assert limited >= 3  # the pre-flight and the simulator need real limitedToParentValues cases


def test_values_files_belong_to_predefined_fields_and_vice_versa(catalog):
    for path in sorted((PACKAGED_DIR / "values").glob("*/*.json")):
        mt = catalog.get(path.parent.name)
        assert mt.field(path.stem).has_predefined_values, path
        env = json.loads(path.read_text())
        assert env["count"] == len(env["items"]) and env["nextPageLink"] is None, path
        ids = [v["id"] for v in env["items"]]
        assert all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids), path
    for mt in catalog:
        for f in mt.fields:
            if f.has_predefined_values:
                assert catalog.values(mt.name, f.name), (mt.name, f.name)


def test_value_level_parents_point_at_parent_values(catalog):
    for mt in catalog:
        for f in mt.fields:
            for v in catalog.values(mt.name, f.name) or []:
                for p in v.parents or ():
                    allowed = catalog.allowed_value_ids(mt.name, p["parentFieldName"])
                    ids = {a["id"] for a in p.get("allowedParentValues") or []}
                    assert ids <= set(allowed or ()), (mt.name, f.name, v.id)


def _tag(value: str) -> str:
    return value.split(" ", 1)[0]


def test_meta_evidence_tags_and_keys_are_valid(catalog):
    for mt in catalog:
        meta = mt.meta
        assert meta.get("name") == mt.name
        assert meta.get("sources"), mt.name
        evidence = meta.get("evidence") or {}
        for key in ("name", "displayName", "allowMultipleMode", "resourceTypes", "fields"):
            assert key in evidence, (mt.name, key)
        for key, value in evidence.items():
            assert _tag(value) in EVIDENCE_TAGS, (mt.name, key, value)
        assert set(mt.database_modes) <= {0, 1} and mt.database_modes, mt.name
        names = {f.name for f in mt.fields} | set(mt.key_columns)
        assert set(mt.field_formats) <= names, (mt.name, set(mt.field_formats) - names)
        assert set(mt.field_formats.values()) <= FORMATS, mt.name
        assert set(mt.max_lengths) <= names and all(isinstance(v, int) and v > 0 for v in mt.max_lengths.values())
        for req in mt.row_requirements:
            for group in req.get("anyOf", []):
                assert set(group) <= names, (mt.name, req)
        for f in meta.get("accountSpecificValues", []):
            assert mt.field(f).has_predefined_values, (mt.name, f)
        for k in mt.key_columns:
            assert k in {catalog.resource_info(r).get("keyColumn") for r in mt.resource_types}, (mt.name, k)


def test_disclosure_categories_only_on_contribution_types(catalog):
    for mt in catalog:
        if mt.name in CONTRIBUTION_TYPES:
            cats = mt.disclosure_category
            assert set(cats.values()) == {"Individual", "Organization"}, mt.name
            for field_name in cats:
                assert mt.field(field_name).can_be_mapped_to_column
        else:
            assert not mt.disclosure_category, mt.name
    assert catalog.get("Apply Contributions").name == "Contributions"


def test_known_facts(catalog):
    ac = catalog.get("ActivistCode")
    assert ac.allow_multiple_mode == "Multiple" and ac.key_columns == ["VanID"]
    assert catalog.get("Suppressions").requires_permission
    assert not catalog.get("Email").requires_permission
    for name in ("Contributions", "ContributionAdjustments", "EditContributionData", "RecurringCommitments"):
        assert catalog.get(name).database_modes == (1,), name
    assert catalog.get("EditContributionData").key_columns == ["ContributionID"]
    assert catalog.get("MailingAddress").allow_multiple_mode == "Single"
    assert "ActivistCode" in {m.name for m in catalog.for_database_mode(0)}
    assert "Contributions" not in {m.name for m in catalog.for_database_mode(0)}
    # Not column-mappable fields are not staging columns.
    assert "CustomFieldGroupID" not in catalog.get("ApplyContactCustomFields").staging_columns
    for mt in catalog:
        cols = mt.staging_columns
        assert "source_row_key" in cols and len(set(c.lower() for c in cols)) == len(cols), mt.name
        assert len(cols) <= 50, mt.name  # VAN's column limit (source_row_key is a file column too)


def test_write_semantics_are_data_with_evidence(catalog):
    """Every mapping type says whether VAN appends a record per row or sets values, with an evidence tag;
    the types that create money or history records are append, and unknown evidence means append."""
    for mt in catalog:
        assert mt.meta.get("writeSemantics") in ("append", "upsert"), mt.name
        assert _tag(mt.meta["evidence"]["writeSemantics"]) in EVIDENCE_TAGS, mt.name
        if _tag(mt.meta["evidence"]["writeSemantics"]) == "unknown":
            assert mt.write_semantics == "append", mt.name
    for name in ("Contributions", "ContributionAdjustments", "CanvassResults", "RecurringCommitments"):
        assert catalog.get(name).write_semantics == "append", name
    for name in ("CreateOrUpdateContact", "Phones", "Email", "ApplyContactCustomFields", "MailingAddress"):
        assert catalog.get(name).write_semantics == "upsert", name
    assert catalog.get("Contributions").change_via == "EditContributionData"
    assert catalog.find(catalog.get("Contributions").change_via) is not None
