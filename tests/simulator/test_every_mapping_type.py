"""Every mapping type the catalogue holds is served and processed, with no per-type code in the simulator."""

from __future__ import annotations

import pytest

from connector.catalog import load_catalog

from .conftest import read_results

SAMPLES = {"date": "2024-01-02", "email": "sam@example.org", "phone": "2025550143", "zip": "20001", "state": "DC",
           "country": "US", "integer": "1", "int": "1", "decimal": "1.00", "amount": "1.00", "money": "1.00",
           "boolean": "true", "bool": "true"}
CATALOG = load_catalog().enforced_world()  # the account the default simulator plays (what it serves and checks)
KEYS = {"VanID": "100001"}


def sample(mt, f) -> str:
    values = CATALOG.values(mt.name, f.name)
    if values:
        return values[0].id
    fmt = (mt.value_kinds.get(f.name) or "").lower()  # kinds stay when the account drops the convention
    return SAMPLES.get(fmt, "x")


CONFIG = {"api_keys": [{"key": "00000000-0000-4000-8000-000000000000", "application_name": "vanbulk-demo",
                        "permissions": [mt.name for mt in CATALOG if mt.requires_permission]}],
          "seed_records": [{"keyType": CATALOG.primary_key_type(r), "pk": 1, "resource": r}
                           for r in CATALOG.resources if CATALOG.primary_key_type(r) != "VanID"]}


@pytest.mark.parametrize("simulator_config", [CONFIG], indirect=True)
@pytest.mark.parametrize("name", CATALOG.names)
def test_mapping_type_round_trip(client, run, name):
    mt = CATALOG.get(name)
    assert client.get(f"bulkImportMappingTypes/{name}").json() == mt.to_api()
    resource = mt.resource_types[0]
    key = CATALOG.resource_info(resource).get("keyColumn", CATALOG.primary_key_type(resource))
    chosen = {f.name: sample(mt, f) for f in mt.fields}
    excluded: set[str] = set()
    for f in mt.fields:  # leave out children whose limitedToParentValues exclude the parent's sample value
        for p in f.parents:
            limited = p.limited_to_parent_values
            if limited is not None and chosen.get(p.parent_field, "").lower() not in {v.lower() for v in limited}:
                excluded.add(f.name)
    columns, row, fvms = [], [], []
    if key.lower() not in {f.name.lower() for f in mt.fields}:
        columns.append(key)
        row.append(KEYS.get(key, "1"))
    for f in mt.fields:
        if f.name in excluded:
            continue
        if f.can_be_mapped_to_column:
            columns.append(f.name)
            if f.name.lower() == key.lower():  # a key field: blank creates, unless required (edit an existing one)
                row.append(KEYS.get(key, "1") if f.is_required else "")
            else:
                row.append(sample(mt, f))
            fvms.append({"fieldName": f.name, "columnName": f.name})
        else:
            fvms.append({"fieldName": f.name, "staticValue": sample(mt, f)})
    # Drop disclosure fields of one category so the job is legal.
    org = {k.lower() for k, v in mt.disclosure_category.items() if v == "Organization"}
    keep = [i for i, c in enumerate(columns) if c.lower() not in org]
    columns, row = [columns[i] for i in keep], [row[i] for i in keep]
    fvms = [m for m in fvms if m["fieldName"].lower() not in org]
    mode = 1 if 1 in mt.database_modes else 0
    if mode == 0:
        pytest.skip("the client fixture uses My Campaign")
    job = run(columns[:50], [row[:50]], [{"name": name, "fieldValueMappings": [
        m for m in fvms if "columnName" not in m or m["columnName"] in columns[:50]]}], resource=resource)
    # A row of plausible sample values must be processed: it catches catalogue rules the simulator misreads.
    assert job["status"] == "Completed", job
    rows = read_results(job)
    assert len(rows) == 1
    assert rows[0]["PrimaryKeyType"] == CATALOG.primary_key_type(resource)
    assert [v for k, v in rows[0].items() if k.startswith(f"{name}_")] == ["Processed"]
