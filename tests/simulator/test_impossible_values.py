"""Values no account takes (the evidence policy's "impossible" class) fail in the simulator's default world, where
every inferred convention is off: VAN would not store them under any reading."""

from __future__ import annotations

import pytest

from .conftest import read_results

GIFT = ["100001", "25.00", "2026-03-01", "740"]


@pytest.mark.parametrize("simulator_config", [{"invalid_rows": "message"}], indirect=True)
def test_impossible_values_fail_their_rows_in_the_default_world(run):
    columns = ["VanID", "Amount", "DateReceived", "DesignationID", "Notes"]
    rows = [GIFT + ["ok"],
            ["100001", "25.00", "2026-13-45", "740", ""],  # no such calendar day
            ["100001", "", "2026-03-01", "740", ""],  # a contribution without an amount
            ["100001", "lots", "2026-03-01", "740", ""],  # not a number
            GIFT + ["a\x01b"],  # a control character
            ["100001", "$1000.50", "03/01/2026", "740", ""]]  # another reading of a number and a date: taken
    job = run(columns, rows, [{"name": "Contributions"}])
    got = [r["Contributions_1" if "Contributions_1" in r else next(k for k in r if k.startswith("Contributions_"))]
           for r in read_results(job)]
    assert len(got) == 6 and got[0] == "Processed" and got[5] == "Processed", (job["errors"], got)
    assert got[1].startswith("Invalid date") and "DateReceived" in got[1]
    assert got[2] == "Amount is required"
    assert got[3].startswith("Invalid number") and "Amount" in got[3]
    assert got[4].startswith("Invalid character") and "Notes" in got[4]


@pytest.mark.parametrize("simulator_config", [{"invalid_rows": "message"}], indirect=True)
def test_contact_email_without_dotted_domain_and_a_name_over_a_stated_limit_fail(run):
    rows = [["", "Mary", "Somerville", "mary@example.org"], ["", "Emmy", "Noether", "a@b"],
            ["", "N" * 300, "Long", "long@example.org"]]
    job = run(["VanID", "FirstName", "LastName", "Email"], rows, [{"name": "CreateOrUpdateContact"}])
    got = [next(v for k, v in r.items() if k.startswith("CreateOrUpdateContact_")) for r in read_results(job)]
    assert got[0] == "Processed", got
    assert got[1].startswith("Invalid email address")
    assert got[2] == "FirstName must be 50 characters or fewer"
