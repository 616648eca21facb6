"""Issue 21 #5: `vanbulk run --dry-run` is the real run's plan. After the demo, the dry run (the CLI, as a user
types it) prints the same plan and reject counts as the next real run: VAN's permission list and the account's
live metadata apply to both (Suppressions is blocked in both). Its Data Docs are a site of their own, marked as a
dry run, and the last real run's pages and GX batch tables stay as they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.connector.test_accounting import fetch, rel

VANBULK = os.path.join(os.path.dirname(sys.executable), "vanbulk")
# What the plan says of each mapping type (the run's --json summary): the same in the dry run and the next real run
PLANNED = ("rows_checked", "dropped", "rejected", "warned", "blocked", "plan", "unchanged")


def _cli(project, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAN_", "VANBULK_"))}  # the embedded VAN
    return subprocess.run([VANBULK, "run", "--skip-dbt", "--json", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _rejects(s, run_id: str) -> dict[tuple[str, str], int]:
    return {(mt, r): n for mt, r, n in fetch(s, f"select mapping_type, rule, count(*) from "
                                                f"{rel(s, 'van_preflight_rejects')} where run_id = :r group by 1, 2",
                                             r=run_id)}


@pytest.mark.slow
def test_dry_run_after_the_demo_prints_the_next_real_runs_plan(demo_after_first_run):
    project, s, demo = demo_after_first_run
    assert demo.ok, demo.render()
    site = s.gx_dir / "gx" / "uncommitted" / "data_docs"
    real_index = (site / "local_site" / "index.html").read_text()

    dry = _cli(project, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    real = _cli(project)
    assert real.returncode in (0, 1), real.stdout + real.stderr
    dry_summary, real_summary = json.loads(dry.stdout), json.loads(real.stdout)
    planned, done = dry_summary["mapping_types"], real_summary["mapping_types"]
    assert planned and set(planned) == set(done), (dry.stdout, real.stdout)
    for name, row in planned.items():
        assert {k: row[k] for k in PLANNED} == {k: done[name][k] for k in PLANNED}, (name, row, done[name])
        assert row["sent"] == 0 and row["to_send"] == done[name]["sent"], (name, row, done[name])
    assert planned["Suppressions"]["blocked"], dry.stdout  # the demo key may not send Suppressions
    assert sum(m["unchanged"] for m in planned.values()) > 50  # a plan of the demo's rows, not an empty match

    dry_id, real_id = (fetch(s, f"select run_id from {rel(s, 'van_bulk_runs')} where dry_run = :d "
                                "order by invoked_at desc limit 1", d=d)[0][0] for d in (True, False))
    assert _rejects(s, dry_id) == _rejects(s, real_id) and sum(_rejects(s, dry_id).values()) > 0
    assert fetch(s, f"select status from {rel(s, 'van_bulk_runs')} where run_id = :r", r=dry_id) == [("dry_run",)]

    # the dry run's Data Docs: their own site, marked; the real runs' pages are untouched by it
    assert dry_summary["data_docs_path"].startswith(str(site / "dry_run_site")), dry_summary["data_docs_path"]
    assert "DRY RUN: nothing was sent" in (site / "dry_run_site" / "index.html").read_text()
    assert "DRY RUN" not in (site / "local_site" / "index.html").read_text()
    assert real_index != (site / "local_site" / "index.html").read_text()  # the next real run wrote its own
    tables = {t for (t,) in fetch(s, "select table_name from information_schema.tables")}
    assert "van_preflight_batch__stg_van__email__dry_run" in tables and "van_preflight_batch__stg_van__email" in tables
    assert not {t for t in tables if t.startswith("van_checked__")}  # each run's copy went with it
