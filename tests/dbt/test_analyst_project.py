"""A new analyst project, from scratch, as docs/dbt.md says: it installs vanbulk (packages.yml), turns on one
mapping type with one var, builds with no error and no warning, and `vanbulk run` from inside it sends that type
to the embedded simulator through the project's own dbt profile; then the ledger monitoring runs there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import yaml

from connector.catalog import load_catalog
from connector.dbt_runner import dbt_executable

from .conftest import REPO
from .helpers import view_columns, views

EXAMPLE = REPO / "examples" / "analyst_project"
VANBULK = Path(dbt_executable()).with_name("vanbulk")


def _env() -> dict[str, str]:
    """A user's shell: none of vanbulk's or the test run's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VANBULK_", "VAN_", "DBT_", "ANALYST_"))}
    return {**env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _run(cmd: list[str], cwd: Path, ok: bool = True, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env={**_env(), **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if ok:
        assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _dbt(project: Path, *args: str) -> str:
    return _run([dbt_executable(), *args], project).stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The example copied as a user would have it: packages.yml's `local: ../../dbt_project` unchanged."""
    root = tmp_path_factory.mktemp("checkout")
    dest = root / "examples" / "analyst_project"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(
        "target", "logs", "dbt_packages", "*.duckdb*", "package-lock.yml", ".vanbulk", ".user.yml", "expectations"))
    (root / "dbt_project").symlink_to(REPO / "dbt_project")
    _dbt(dest, "deps")
    return dest


@pytest.fixture(scope="module")
def built(project) -> str:
    return _dbt(project, "--warn-error", "build")


def test_one_mapping_type_takes_one_line_of_config():
    config = (EXAMPLE / "dbt_project.yml").read_text()
    vanbulk_lines = [ln for ln in config.splitlines() if "vanbulk" in ln.split("#", 1)[0]]
    assert vanbulk_lines == ["  vanbulk_input__activist_code: my_activist_codes   # the one line that turns Apply "
                             "Activist Code on"]
    assert len(vanbulk_lines) + 1 <= 5  # plus `vars:`
    assert not (EXAMPLE / "macros").exists()  # no generate_schema_name override needed
    assert yaml.safe_load((EXAMPLE / "packages.yml").read_text()) == {"packages": [{"local": "../../dbt_project"}]}


def test_builds_from_scratch_without_errors_or_warnings(project, built):
    assert "ERROR=0" in built and "WARN=0" in built and "[WARNING]" not in built, built
    eng = sa.create_engine(f"duckdb:///{project / 'analyst.duckdb'}", poolclass=sa.pool.NullPool)
    try:
        assert views(eng) == {"stg_van__activist_code"}  # the other 20 mapping types are off
        cols = [c for c, _ in view_columns(eng)["stg_van__activist_code"]]
        assert cols == load_catalog().get("ActivistCode").staging_columns
        with eng.connect() as c:
            rows = c.execute(sa.text(
                'select source_row_key, "VanID", "ActivistCodeID", "DateCanvassed" '
                "from van_staging.stg_van__activist_code order by 1")).all()
            # no demo seeds in the analyst's warehouse
            assert c.execute(sa.text("select count(*) from information_schema.tables "
                                     "where table_schema = 'van_input'")).scalar() == 0
    finally:
        eng.dispose()
    assert [tuple(r) for r in rows] == [
        ("V-1001", "100001", "4150002", "2026-03-01"),
        ("V-1002", "100002", "4150004", "2026-03-02"),
        ("V-1003", "100003", "4150001", None),
    ]


def _listed(project: Path, vars_: dict) -> set[str]:
    out = _dbt(project, "--warn-error", "--quiet", "ls", "--output", "name", "--resource-type", "model",
               "--resource-type", "exposure", "--resource-type", "seed", "--resource-type", "source",
               "--vars", json.dumps(vars_))
    return set(out.split())


def test_opt_in_by_list_var_or_demo(project):
    names = _listed(project, {"vanbulk_input__activist_code": None, "vanbulk_mapping_types": ["Phones", "email"]})
    vanbulk_nodes = {n for n in names if "van" in n and not n.startswith("vanbulk_ledger")}
    assert {"stg_van__phones", "stg_van__email", "van_bulk_import__phones", "van_bulk_import__email",
            "van_input.phones", "van_input.email"} <= vanbulk_nodes
    assert not {n for n in vanbulk_nodes if "activist_code" in n or "demo_" in n}
    everything = _listed(project, {"vanbulk_demo": True})
    assert len({n for n in everything if n.startswith("van_bulk_import__")}) == 21
    assert len({n for n in everything if n.startswith("demo_")}) == 23


@pytest.fixture(scope="module")
def synced(project, built) -> subprocess.CompletedProcess:
    """`vanbulk run` from a subdirectory of the analyst's project: no key (embedded simulator), no settings."""
    return _run([str(VANBULK), "run"], project / "models")


def _run_log(proc: subprocess.CompletedProcess, cwd: Path) -> str:
    """The run's own log file (named on its first line): module log lines such as dbt's command go there."""
    first = next(line for line in proc.stderr.splitlines() if ": log in " in line)
    return (cwd / first.split(": log in ", 1)[1].strip()).read_text()


def test_vanbulk_run_inside_the_project_uses_its_profile(project, synced):
    assert "files: .vanbulk/ (" in synced.stderr
    log = _run_log(synced, project / "models")
    assert "dbt build --exclude tag:vanbulk_ledger tag:vanbulk_preflight (target dev" in log, log[-3000:]
    eng = sa.create_engine(f"duckdb:///{project / 'analyst.duckdb'}", poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as c:
            outcomes = c.execute(sa.text("select source_row_key, row_status from main.van_bulk_row_results "
                                         "where mapping_type = 'ActivistCode' order by 1")).all()
            target = c.execute(sa.text("select target from main.van_bulk_runs")).scalar()
    finally:
        eng.dispose()
    assert [tuple(r) for r in outcomes] == [("V-1001", "processed"), ("V-1002", "processed"),
                                           ("V-1003", "processed")]
    assert target == "dev"
    # everything vanbulk keeps is in one self-ignoring folder; nothing else appears in the repository
    assert (project / ".vanbulk" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (project / ".vanbulk" / "expectations").is_dir() and not (project / "expectations").exists()
    assert not (project / "vanbulk.duckdb").exists() and not (project / "dbt_project").exists()


def test_ledger_monitoring_runs_in_the_analyst_project(project, synced):
    fresh = _dbt(project, "source", "freshness")
    assert "PASS freshness of vanbulk_ledger.van_bulk_runs" in fresh, fresh
    tested = _dbt(project, "test", "--select", "source:vanbulk_ledger", "--vars", "{vanbulk_ledger_tests: true}")
    assert "ERROR=0" in tested and "WARN=0" in tested and "vanbulk_failure_rate_below" in tested, tested
    _dbt(project, "build", "--select", "vanbulk_sync_status")
    eng = sa.create_engine(f"duckdb:///{project / 'analyst.duckdb'}", poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as c:
            status = c.execute(sa.text("select mapping_type, run_status, rows_sent, rows_processed, rows_failed, "
                                       "failure_rate, jobs_in_flight from main.vanbulk_sync_status")).all()
    finally:
        eng.dispose()
    assert [tuple(r) for r in status] == [("ActivistCode", "success", 3, 3, 0, 0.0, 0)]


@pytest.mark.postgres
def test_vanbulk_run_with_the_profiles_postgres_target(project, postgres_url):
    """`-t pg`: the same project against the profile's PostgreSQL output (a throwaway database, since the
    staging schema name is fixed); host, port, user and database come from the profile's env_var()s."""
    parts = urlsplit(postgres_url)
    admin = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    dbname = f"vanbulk_analyst_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(sa.text(f'create database "{dbname}"'))
    url = f"{postgres_url.rsplit('/', 1)[0]}/{dbname}".replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        out = _run([str(VANBULK), "run", "-t", "pg"], project, ANALYST_PG_HOST=parts.hostname or "127.0.0.1",
                   ANALYST_PG_PORT=str(parts.port or 5432), ANALYST_PG_USER=parts.username or "postgres",
                   ANALYST_PG_DATABASE=dbname)
        assert "(target pg," in _run_log(out, project) and "the ledger in the warehouse" in out.stderr, out.stderr
        eng = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with eng.connect() as c:
                rows = c.execute(sa.text("select row_status, count(*) from public.van_bulk_row_results "
                                         "where mapping_type = 'ActivistCode' group by 1")).all()
                staged = c.execute(sa.text("select count(*) from van_staging.stg_van__activist_code")).scalar()
        finally:
            eng.dispose()
        assert [tuple(r) for r in rows] == [("processed", 3)] and staged == 3
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'drop database if exists "{dbname}" with (force)'))
        admin.dispose()
