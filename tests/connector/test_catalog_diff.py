"""`vanbulk catalog diff` and `catalog inferred-rules` against the embedded simulator (no key set)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from connector.catalog import load_catalog
from connector.cli import main
from connector.preflight.rules import inferred_rules


def invoke(tmp_path, monkeypatch, *args):
    for k in ("VAN_API_KEY", "VAN_API_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("VANBULK_PROJECT_DIR", str(tmp_path))
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_diff_shows_what_the_account_does_not_enforce(tmp_path, monkeypatch):
    """The default simulator plays an account without the inferred work-address rules."""
    r = invoke(tmp_path, monkeypatch, "catalog", "diff", "--mapping-type", "WorkAddress", "--json")
    assert r.exit_code == 0, r.output
    found = json.loads(r.output[r.output.index("{"):])
    lines = found["WorkAddress"]
    assert any(line.startswith("WorkAddress.ZipOrPostal: parents packaged [") and line.endswith(
        "/ account null") for line in lines), lines
    assert "WorkAddress.AddressLine1: isRequired packaged true / account false" in lines


def test_diff_of_an_unchanged_type_says_so(tmp_path, monkeypatch):
    r = invoke(tmp_path, monkeypatch, "catalog", "diff", "--mapping-type", "OrganizingTurfs")
    assert r.exit_code == 0, r.output
    cat = load_catalog()
    world = cat.enforced_world().get("OrganizingTurfs")
    expected = "same as the packaged catalogue" if world.to_api() == cat.get("OrganizingTurfs").to_api() else "isRequired"
    assert expected in r.output


def test_inferred_rules_lists_every_rule_that_only_warns(tmp_path, monkeypatch):
    r = invoke(tmp_path, monkeypatch, "catalog", "inferred-rules", "--mapping-type", "WorkAddress")
    assert r.exit_code == 0, r.output
    cat = load_catalog()
    want = inferred_rules(cat, ["WorkAddress"])
    assert f"{len(want)} rule(s) warn by default" in r.output
    assert any("parent_required:ZipOrPostal:AddressLine1" in line for line in r.output.splitlines())
