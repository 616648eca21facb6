"""CLI: debug, catalog refresh, dry run, status, results, against the embedded simulator (no key set)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from connector.catalog import load_catalog
from connector.cli import main
from tests.connector.helpers import make_staging


def invoke(tmp_path, *args, monkeypatch):
    for k in ("VAN_API_KEY", "VAN_API_BASE_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("VANBULK_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("VANBULK_POLL_INTERVAL_SECONDS", "0.1")
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_debug_checks_everything(tmp_path, monkeypatch):
    r = invoke(tmp_path, "debug", monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    for name in ("settings", "warehouse", "api key", "permissions", "storage"):
        assert f"OK  {name}" in r.output


def test_catalog_refresh_writes_an_overlay_the_loader_reads(tmp_path, monkeypatch):
    out = tmp_path / "live"
    r = invoke(tmp_path, "catalog", "refresh", "--out", str(out), "--mapping-type", "ActivistCode",
               monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    body = json.loads((out / "mapping_types" / "ActivistCode.json").read_text())
    assert body["name"] == "ActivistCode" and (out / "values" / "ActivistCode" / "ActivistCodeID.json").exists()
    assert load_catalog([out]).get("ActivistCode").key_columns == ["VanID"]  # packaged meta still applies


def test_dry_run_then_run_status_results(tmp_path, monkeypatch):
    make_staging(f"duckdb:///{tmp_path}/vanbulk.duckdb")
    monkeypatch.setattr("connector.preflight.run_preflight",
                        __import__("tests.connector.helpers", fromlist=["x"]).passthrough_preflight)
    r = invoke(tmp_path, "run", "--skip-dbt", "--dry-run", "-s", "ActivistCode", monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    assert "dry_run" in r.output and re.search(r"would +not in\n.* send ", r.output), r.output
    assert re.search(r"^ActivistCode +5 +0 +0 +0 +5 ", r.output, re.MULTILINE), r.output  # checked ... would send
    r = invoke(tmp_path, "run", "--skip-dbt", "-s", "ActivistCode", "--json", monkeypatch=monkeypatch)
    assert r.exit_code == 1, r.output  # completed, but VAN failed ac-4 and dropped ac-5: exit 1
    summary = json.loads(r.output[r.output.index("{"):])
    job_id = summary["mapping_types"]["ActivistCode"]["van_job_ids"][0]
    r = invoke(tmp_path, "status", monkeypatch=monkeypatch)
    assert str(job_id) in r.output and "results_loaded" in r.output
    r = invoke(tmp_path, "results", str(job_id), monkeypatch=monkeypatch)
    assert r.exit_code == 0 and "processed 3" in r.output, r.output


def test_status_lists_every_job_or_says_how_many_it_left_out(tmp_path, monkeypatch):
    make_staging(f"duckdb:///{tmp_path}/vanbulk.duckdb")
    r = invoke(tmp_path, "run", "--skip-dbt", "-s", "ActivistCode", "-s", "CreateOrUpdateContact", "--json",
               monkeypatch=monkeypatch)
    summary = json.loads(r.output[r.output.index("{"):])
    jobs = [j for m in summary["mapping_types"].values() for j in m["van_job_ids"]]
    assert len(jobs) == 2, r.output
    short = invoke(tmp_path, "status", "--limit", "1", monkeypatch=monkeypatch)
    assert short.exit_code == 0, short.output
    assert sum(str(j) in short.output for j in jobs) == 1
    assert "… and 1 more job(s): vanbulk status --all" in short.output, short.output
    every = invoke(tmp_path, "status", "--all", monkeypatch=monkeypatch)
    assert every.exit_code == 0 and all(str(j) in every.output for j in jobs) and "more" not in every.output
    out = invoke(tmp_path, "status", "--limit", "1", "--json", monkeypatch=monkeypatch).output
    view = json.loads(out[out.index("{"):])
    assert (len(view["jobs"]), view["jobs_total"], view["left_out"], view["running"]) == (1, 2, 1, None)


def test_select_accepts_documented_names_and_refuses_the_rest(tmp_path):
    """`-s` takes API names, display names, staging views and their short names; anything else is a one-line
    error listing the valid names, before anything starts (not a silent empty success)."""
    from connector.catalog import load_catalog
    from connector.run.selection import resolve_mapping_types

    cat = load_catalog()
    names, dbt = resolve_mapping_types(cat, ["Apply Activist Code", "email,stg_van__phones", "activist_code",
                                             "tag:nightly"], 1)
    assert names == ["ActivistCode", "Email", "Phones"] and "tag:nightly" in dbt
    out = CliRunner().invoke(main, ["run", "-s", "Nope", "--skip-dbt", "--project-dir", str(tmp_path)])
    assert out.exit_code == 2 and "unknown mapping type 'Nope'" in out.output and "Valid: ActivistCode" in out.output
    assert "Traceback" not in out.output and "simulator" not in out.output  # nothing started
    out = CliRunner().invoke(main, ["validate", "-s", "Nope", "--project-dir", str(tmp_path)])
    assert out.exit_code == 2 and "unknown mapping type 'Nope'" in out.output
