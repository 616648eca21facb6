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


def test_rejects_name_the_allowed_values_and_validate_shows_the_rows(tmp_path, monkeypatch):
    """Issue 22 #9: a reject for a value not in a list names the first allowed values and the command that lists
    them all; `validate --rows N` prints the failing rows (at most N per mapping type) and says how many more."""
    for var in ("VANBULK_PROJECT_DIR", "VANBULK_WAREHOUSE_URL", "VANBULK_CONFIG", "VANBULK_PREFLIGHT_POLICY"):
        monkeypatch.delenv(var, raising=False)
    env = _duckdb_env(tmp_path, "vanbulk.duckdb")
    catalog = load_catalog()
    env.make_view(catalog, "ActivistCode", [(str(101 + i), f"ac-{i}", "General Fund", None, None, None)
                                            for i in range(3)])
    runner = CliRunner()
    out = runner.invoke(main, ["validate", "--project-dir", str(tmp_path), "-s", "ActivistCode", "--run-id", "cli-9",
                               "--no-gx", "--rows", "2"])
    assert out.exit_code == 0, out.output
    codes = catalog.values("ActivistCode", "ActivistCodeID")
    # the demo's activist codes are account-specific (an inferred list): the rows warn, and are shown as such
    shown = [line for line in out.output.splitlines() if line.startswith("ActivistCode: warning (sent): row 'ac-")]
    assert len(shown) == 2, out.output  # bounded
    listing = [line for line in shown if "not an allowed id or unique name" in line]
    assert listing and (f"'General Fund' is not an allowed id or unique name; allowed: {codes[0].id} "
                        f"'{codes[0].name}'") in listing[0], shown
    assert "(vanbulk catalog values ActivistCode ActivistCodeID)" in listing[0]
    assert "ActivistCode: 4 more warning(s): select * from" in out.output  # 3 rows x (format, predefined_value)
    listed = runner.invoke(main, ["catalog", "values", "ActivistCode", "ActivistCodeID"])
    assert listed.exit_code == 0 and all(f"{v.id:<12} {v.name}" in listed.output for v in codes), listed.output
    unknown = runner.invoke(main, ["catalog", "values", "ActivistCode", "Nope"])
    assert unknown.exit_code == 2 and "has no field 'Nope'" in unknown.output and "Traceback" not in unknown.output
