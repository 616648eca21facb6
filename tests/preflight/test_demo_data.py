"""Acceptance on the demo data (dbt seeds + staging views): every seeded bad row is caught by the rule it
breaks (``expect_reject_rule`` / ``expect_reject_column`` in the seed), no good row is rejected, and the
GX checkpoint agrees with the rejects table. Needs dbt, so it is marked slow."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from connector.catalog import load_catalog
from connector.config import Settings
from connector.preflight import run_preflight
from connector.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "dbt_project" / "seeds" / "demo"
# The seeds name the parent rule "parent"; the rejects table says "parent_required".
ALIASES = {"parent": "parent_required"}
STATICS = {"ApplyContactCustomFields": {"CustomFieldGroupID": "501"}}  # as `vanbulk run --static` would pass


def _seeded() -> dict[str, tuple[str, str] | None]:
    out = {}
    for path in sorted(SEEDS.glob("*.csv")):
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if "source_row_key" not in row or "expect_reject_rule" not in row:
                    break
                rule = row["expect_reject_rule"] or None
                out[row["source_row_key"]] = (ALIASES.get(rule, rule), row["expect_reject_column"]) if rule else None
    return out


@pytest.mark.slow
@pytest.mark.skipif(not SEEDS.is_dir(), reason="no demo seeds")
def test_demo_seeds_caught_by_the_rule_they_break(tmp_path):
    from connector.dbt_runner import build

    shutil.copytree(REPO / "dbt_project", tmp_path / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # The seeds break inferred rules too: strict, so each is a reject (by default an inferred rule only warns).
    settings = Settings(project_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path / 'demo.duckdb'}",
                        strict_inferred_rules=True)
    build(settings)
    catalog, wh = load_catalog(), Warehouse(settings.warehouse_url)
    names = [mt.name for mt in catalog if wh.relation_exists(mt.staging_view, settings.staging_schema)]
    report = run_preflight(wh, catalog, names, "demo", settings, static_values=STATICS)
    got: dict[str, set] = {}
    for key, rule, column in wh.fetchall(
            "select source_row_key, rule, column_name from van_preflight_rejects where run_id = 'demo'"):
        got.setdefault(key, set()).add((rule, column))
    seeded = _seeded()
    assert seeded and any(seeded.values())
    missed = {k: v for k, v in seeded.items()
              if v and not any(r == v[0] and v[1] in (c or "").replace(" | ", ", ").replace("+", ", ").split(", ")
                               for r, c in got.get(k, ()))}
    assert not missed, {k: (v, got.get(k)) for k, v in missed.items()}
    falsely = {k: got[k] for k, v in seeded.items() if v is None and k in got}
    assert not falsely
    for name, res in report.results.items():
        assert all(o.gx_unexpected == o.rows for o in res.outcomes
                   if o.rows is not None and o.in_suite), name
        assert not res.blocked, (name, res.block_reasons)
        # the plan takes this count instead of counting the rows to send again: it must be theirs exactly
        assert res.passing_count == wh.scalar(f"select count(*) from ({res.passing_rows_sql}) p"), name
