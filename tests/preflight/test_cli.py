"""``vanbulk validate`` against a DuckDB project directory: summary, Data Docs path, exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from connector.catalog import load_catalog
from connector.cli import main
from tests.preflight.conftest import _duckdb_env


def test_validate_prints_summary_and_data_docs(tmp_path, monkeypatch):
    for var in ("VANBULK_PROJECT_DIR", "VANBULK_WAREHOUSE_URL", "VANBULK_CONFIG", "VANBULK_PREFLIGHT_POLICY"):
        monkeypatch.delenv(var, raising=False)
    env = _duckdb_env(tmp_path, "vanbulk.duckdb")  # the default warehouse of a project directory
    catalog = load_catalog()
    env.make_view(catalog, "ActivistCode", [("101", "ac-1", "4150001", None, None, None),  # VanID leads
                                            ("102", "ac-2", "4150001", None, "2026-05-01", None)])
    runner = CliRunner()
    args = ["validate", "--project-dir", str(tmp_path), "-s", "ActivistCode", "--run-id", "cli-1",
            "--static", "ApplyContactCustomFields.CustomFieldGroupID=501"]
    out = runner.invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "rejected        1" in out.output and "parent_required" in out.output
    docs = [line.split(": ", 1)[1] for line in out.output.splitlines() if line.startswith("Data Docs: ")]
    assert docs and Path(docs[0]).is_file()
    blocked = runner.invoke(main, [*args, "--policy", "block", "--no-gx"])
    assert blocked.exit_code == 1 and "BLOCKED" in blocked.output


def test_check_suites_passes_on_the_repository():
    out = CliRunner().invoke(main, ["validate", "--check-suites", "--project-dir", str(Path(__file__).parents[2])])
    assert out.exit_code == 0, out.output
