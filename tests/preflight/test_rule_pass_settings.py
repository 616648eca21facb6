"""The engine's planner settings for the rule pass (DuckDB: no ``in_clause`` optimizer) hold while pre-flight
checks the rules, on its connection, and are reset afterwards; the answers are the golden tests' business."""

from __future__ import annotations

import sqlalchemy as sa

import connector.preflight.check as check
from connector.catalog import load_catalog
from connector.preflight import run_preflight


def test_duckdb_rule_pass_runs_without_the_in_clause_optimizer_and_resets_it(duck_env, monkeypatch):
    cat = load_catalog()
    code = cat.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    cols = cat.get("ActivistCode").staging_columns
    given = {"source_row_key": "ac-1", "VanID": "100001", "ActivistCodeID": code}
    duck_env.make_view(cat, "ActivistCode", [tuple(given.get(c) for c in cols), ("x",) * len(cols)])
    during: list[str] = []
    write_findings = check.write_findings

    def spy(conn, *a, **kw):
        during.append(conn.execute(sa.text("select current_setting('disabled_optimizers')")).scalar())
        return write_findings(conn, *a, **kw)

    monkeypatch.setattr(check, "write_findings", spy)
    report = run_preflight(duck_env.warehouse, cat, ["ActivistCode"], "run-settings", duck_env.settings, gx=False)
    assert report.results["ActivistCode"].rows_rejected == 1
    assert during and all("in_clause" in d.lower() for d in during), during
    with duck_env.warehouse.connect() as c:
        assert "in_clause" not in str(c.execute(sa.text("select current_setting('disabled_optimizers')")).scalar())
