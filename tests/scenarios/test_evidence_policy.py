"""Issue 21 item 1: nothing invalid is sent by default (the evidence policy's three classes), through a real run.

Each bad input is a value VAN states a rule against or one no reading makes valid; pre-flight rejects it by
default, naming row key, column, rule and class, and the simulator's applied state never holds it. With pre-flight
switched off the simulator itself fails the same rows (and the whole file for a disclosure mix), as VAN would."""

from __future__ import annotations

import functools

import pytest

from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY
from connector.preflight import run_preflight
from connector.run import run
from connector.simulator import SimulatorConfig, SimulatorServer
from connector.warehouse import Warehouse
from tests.connector.helpers import passthrough_preflight
from tests.connector.test_accounting import make_view, settings_for
from tests.fixtures.simulator import FAST

NO_GX = functools.partial(run_preflight, gx=False)
LONG_NAME = "N" * 300

GOOD_GIFT = {"VanID": "100001", "Amount": "25.00", "DateReceived": "2026-03-01", "DesignationID": "740",
             "PaymentTypeID": "1"}
CONTRIBUTIONS = [
    {**GOOD_GIFT, "source_row_key": "ct-good", "DisclosureEmployer": "Acme"},
    {**GOOD_GIFT, "source_row_key": "ct-date", "DateReceived": "2026-13-45"},
    {**GOOD_GIFT, "source_row_key": "ct-amount", "Amount": None},
]
BOTH = {**GOOD_GIFT, "source_row_key": "ct-both", "DisclosureEmployer": "Acme", "DisclosureOrganizationFECID": "C001"}
CONTACTS = [
    {"source_row_key": "c-good", "FirstName": "Mary", "LastName": "Somerville", "Email": "mary@example.org"},
    {"source_row_key": "c-email", "FirstName": "Emmy", "LastName": "Noether", "Email": "a@b"},
    {"source_row_key": "c-long", "FirstName": LONG_NAME, "LastName": "Long", "Email": "long@example.org"},
]
# row key -> (rule, column, class) pre-flight must record
EXPECTED = {
    "ct-date": ("impossible_value", "DateReceived", "impossible"),
    "ct-amount": ("required", "Amount", "impossible"),
    "ct-both": ("disclosure_row_both", "DisclosureEmployer, DisclosureOrganizationFECID", "van-stated"),
    "c-email": ("format", "Email", "impossible"),
    "c-long": ("max_length", "FirstName", "impossible"),
}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, tmp_path):
    """(warehouse url, staging schema, results schema or None) on each engine."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path}/w.duckdb", "van_staging", None
        return
    url, schema = request.getfixturevalue("pg_schema")
    yield url, f"{schema}_stg", schema
    with Warehouse(url) as wh:
        for s in (f"{schema}_stg", f"{schema}_stg_src"):
            wh.execute(f'drop schema if exists "{s}" cascade')


def _settings(tmp_path, target, sim):
    url, staging, results = target
    return settings_for(tmp_path, warehouse_url=url, staging_schema=staging, results_schema=results,
                        api_key=SIMULATOR_DEMO_KEY, application_name=SIMULATOR_DEMO_APPLICATION,
                        api_base_url=sim.base_url)


def _bad_values_applied(sim) -> list:
    """Any trace of a bad input in the simulator's applied state (contacts and applied mapping rows)."""
    found = [c for c in sim.store.contacts() if c.get("Email") == "a@b" or c.get("FirstName") == LONG_NAME]
    for a in sim.store.applied("Contributions"):
        f = a["fields"]
        if f.get("DateReceived") in ("2026-13-45",) or not f.get("Amount") or (
                f.get("DisclosureEmployer") and f.get("DisclosureOrganizationFECID")):
            found.append(a)
    return found


def test_each_bad_input_is_rejected_with_key_column_rule_and_class(tmp_path, target):
    with SimulatorServer(tmp_path / "sim", config=SimulatorConfig.from_dict(FAST)) as sim:
        s = _settings(tmp_path, target, sim)
        make_view(s.warehouse_url, "Contributions", [*CONTRIBUTIONS, BOTH], schema=s.staging_schema)
        make_view(s.warehouse_url, "CreateOrUpdateContact", CONTACTS, schema=s.staging_schema)
        summary = run(s, ["Contributions", "CreateOrUpdateContact"], skip_dbt=True, preflight=NO_GX,
                      echo=lambda line: None)
        assert not _bad_values_applied(sim)
        # the good rows went through: a contribution on 100001 and the new contact
        assert [a["primaryKey"] for a in sim.store.applied("Contributions")] == [100001]
        assert any(c.get("Email") == "mary@example.org" for c in sim.store.contacts())
    with Warehouse(s.warehouse_url) as wh:
        rejects = wh.fetchall(
            f"select source_row_key, rule, column_name, message from "
            f"{wh.relation('van_preflight_rejects', s.results_schema or wh.default_schema)} where run_id = :r",
            {"r": summary.run_id})
        warnings = wh.fetchall(
            f"select source_row_key from "
            f"{wh.relation('van_preflight_warnings', s.results_schema or wh.default_schema)} where run_id = :r",
            {"r": summary.run_id})
    by_key = {}
    for key, rule, column, message in rejects:
        by_key.setdefault(key, []).append((rule, column, message))
    assert set(by_key) == set(EXPECTED), by_key
    for key, (rule, column, cls) in EXPECTED.items():
        hit = [m for r, c, m in by_key[key] if (r, c) == (rule, column)]
        assert hit, (key, by_key[key])
        assert hit[0].startswith(f"row '{key}': ") and f"(rule {rule}, class {cls})" in hit[0], hit[0]
        assert column.split(",")[0] in hit[0]
    assert not {k for (k,) in warnings} & set(EXPECTED)  # rejected, not merely warned


def test_without_preflight_the_simulator_fails_the_same_rows(tmp_path, target):
    """VAN's side of the same policy, pre-flight switched off: each bad contact row comes back failed, and the
    Contributions file, which maps both disclosure categories, is refused as a whole (nothing of it applied).
    Row by row, the simulator's Contributions failures are in tests/simulator/test_impossible_values.py."""
    with SimulatorServer(tmp_path / "sim", config=SimulatorConfig.from_dict(FAST)) as sim:
        s = _settings(tmp_path, target, sim)
        make_view(s.warehouse_url, "Contributions", [*CONTRIBUTIONS, BOTH], schema=s.staging_schema)
        make_view(s.warehouse_url, "CreateOrUpdateContact", CONTACTS, schema=s.staging_schema)
        summary = run(s, ["Contributions", "CreateOrUpdateContact"], skip_dbt=True, preflight=passthrough_preflight,
                      echo=lambda line: None)
        assert not _bad_values_applied(sim)
        assert sim.store.applied("Contributions") == []
    with Warehouse(s.warehouse_url) as wh:
        results = {r[0]: (r[1], r[2]) for r in wh.fetchall(
            f"select source_row_key, row_status, first_error_message from "
            f"{wh.relation('van_bulk_row_results', s.results_schema or wh.default_schema)} where run_id = :r",
            {"r": summary.run_id})}
    assert results["c-good"][0] == "processed"
    assert results["c-email"][0] != "processed" and results["c-long"][0] != "processed", results
    for key in ("ct-good", "ct-date", "ct-amount", "ct-both"):
        status, message = results[key]
        assert status == "refused" and "Disclosure fields for Individuals and Organizations" in (message or ""), \
            (key, status, message)
