"""Evidence decides: every fact a rule rests on has a tag; inferred facts warn or are a simulator knob."""

from __future__ import annotations

import pytest

from connector.catalog import (ENFORCEABLE_TAGS, EVIDENCE_TAGS, INFERRED, INFERRED_RULE_KINDS, VAN_STATED,
                               CatalogError, evidence_keys, evidence_tag, load_catalog)
from connector.preflight.rules import REJECT, WARN, build_rules, inferred_rules

CATALOG = load_catalog()


def test_every_evidence_entry_starts_with_a_known_tag():
    for mt in CATALOG:
        for key, text in mt.meta.get("evidence", {}).items():
            assert evidence_tag(text) in EVIDENCE_TAGS, (mt.name, key, text)


def test_tags_and_lookup_order():
    assert evidence_tag("client-observed (P-BI: aliases)") == "client-observed"
    assert evidence_tag("Inferred") == "inferred"
    assert evidence_tag("") == "unknown" and evidence_tag("maybe (x)") == "unknown"
    assert evidence_keys("required", "Phone") == ("isRequired.Phone", "isRequired", "fields.Phone", "fields")
    with pytest.raises(CatalogError):
        evidence_keys("colour")


def test_the_most_specific_evidence_key_wins():
    mt = CATALOG.get("CanvassResults")
    tags = mt.meta["evidence"]
    assert mt.evidence("parents", "Phone") == evidence_tag(tags["parents.Phone"])
    # no key at all: inferred, never silently confirmed
    assert mt.evidence("maxLength", "NoSuchField") == "inferred"


def test_every_rule_on_an_inferred_fact_warns_by_default_and_rejects_when_strict():
    """The list of inferred rules, from the catalogue: each warns; strict_inferred_rules makes it reject."""
    listed = inferred_rules(CATALOG)
    assert listed, "the packaged catalogue infers many facts; an empty list means the lookup is broken"
    for name, rule in listed:
        assert rule.evidence not in ENFORCEABLE_TAGS and rule.severity == WARN, (name, rule.key)
    for mt in CATALOG:
        default = {r.key: r for r in build_rules(CATALOG, mt)}
        strict = {r.key: r for r in build_rules(CATALOG, mt, strict_inferred=True)}
        assert default.keys() == strict.keys()
        for key, r in default.items():
            # the class decides: only an inferred rule warns; it is inferred exactly when its fact is not
            # VAN's word, unless the rule is about a value impossible under any reading or VAN states the rule
            assert r.severity == (WARN if r.evidence_class == INFERRED else REJECT), (mt.name, key)
            if r.evidence_class == INFERRED:
                assert r.evidence not in ENFORCEABLE_TAGS, (mt.name, key)
            elif r.evidence_class == VAN_STATED:
                assert r.evidence in ENFORCEABLE_TAGS or r.rule.startswith("disclosure_"), (mt.name, key)
            assert strict[key].severity == REJECT
    # our own bookkeeping rule (a trackable, unique row key) always rejects
    assert all(r.severity == REJECT for mt in CATALOG for r in build_rules(CATALOG, mt) if r.rule == "row_key")


def test_a_zip_without_street_breaks_only_inferred_rules():
    contact = CATALOG.get("CreateOrUpdateContact")
    assert not contact.field("ZipOrPostal").parents  # corrected from evidence: VAN matches on name + ZIP/email
    work = CATALOG.get("WorkAddress")
    zip_rules = [r for r in build_rules(CATALOG, work) if r.column == "ZipOrPostal" and r.rule.startswith("parent")]
    assert zip_rules and all(r.severity == WARN for r in zip_rules)


def test_the_simulators_default_world_drops_every_inferred_row_rule():
    world = CATALOG.enforced_world()
    for mt in world:
        packaged = CATALOG.get(mt.name)
        for f, pf in zip(mt.fields, packaged.fields):
            if pf.is_required and packaged.evidence("required", pf.name) not in ENFORCEABLE_TAGS:
                assert not f.is_required and not mt.to_api()["fields"][mt.fields.index(f)]["isRequired"]
            if pf.parents and packaged.evidence("parents", pf.name) not in ENFORCEABLE_TAGS:
                assert not f.parents
            if pf.parents and packaged.evidence("parents", pf.name) in ENFORCEABLE_TAGS:
                assert f.parents == pf.parents
        for fname in mt.field_formats:
            assert packaged.evidence("format", fname) in ENFORCEABLE_TAGS
        for fname in mt.max_lengths:
            assert packaged.evidence("maxLength", fname) in ENFORCEABLE_TAGS
        # VAN states the disclosure rule (seed text): every world keeps the categories it applies to
        assert mt.disclosure_category == packaged.disclosure_category
        # impossible values are judged in every world: the value kinds and stated lengths stay
        assert dict(mt.value_kinds) == dict(packaged.value_kinds)
        # predefined values are the account's own data: the world keeps them
        for f in mt.fields:
            assert world.values(mt.name, f.name) == CATALOG.values(mt.name, f.name)


@pytest.mark.parametrize("kind", INFERRED_RULE_KINDS)
def test_each_inferred_rule_kind_is_a_knob(kind):
    """enforce_inferred=[kind] brings back exactly that kind of inferred fact."""
    world = CATALOG.enforced_world([kind])
    contact = world.get("CreateOrUpdateContact")
    contributions = world.get("Contributions")
    if kind == "parents":
        work = world.get("WorkAddress")
        assert work.field("ZipOrPostal").parents == CATALOG.get("WorkAddress").field("ZipOrPostal").parents != ()
    elif kind == "format":
        assert contact.field_formats == CATALOG.get("CreateOrUpdateContact").field_formats
    elif kind == "maxLength":
        assert contact.max_lengths == CATALOG.get("CreateOrUpdateContact").max_lengths
    elif kind == "rowRequirement":
        assert contact.row_requirements == CATALOG.get("CreateOrUpdateContact").row_requirements
    elif kind == "disclosure":
        assert contributions.disclosure_category == CATALOG.get("Contributions").disclosure_category
    elif kind == "required":
        required = {(mt.name, f.name) for mt in CATALOG for f in mt.required_fields}
        assert required == {(mt.name, f.name) for mt in world for f in mt.required_fields}
    assert CATALOG.enforced_world(["all"]) is CATALOG
    with pytest.raises(CatalogError):
        CATALOG.enforced_world(["colour"])
