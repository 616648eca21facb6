"""vanbulk inside any dbt project: finding the project, the profile, the target and the warehouse (no dbt run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector import dbt_profile
from connector.config import ConfigError, Settings, load_settings, prepare_state_dir
from connector.dbt_runner import _check_profile_matches, _profile_env, dbt_env
from connector.redaction import redact

PROFILES = """
shop:
  target: "{{ env_var('SHOP_TARGET', 'dev') }}"
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('SHOP_DUCKDB', 'warehouse/dev.duckdb') }}"
      schema: analytics
      threads: 1
    prod:
      type: postgres
      host: db.internal
      port: "{{ env_var('SHOP_PG_PORT', '5433') | as_number }}"
      user: "{{ env_var('SHOP_PG_USER') }}"
      password: "{{ env_var('DBT_ENV_SECRET_SHOP_PG_PASSWORD') }}"
      dbname: shop
      schema: sync
      threads: 4
    snow:
      type: snowflake
      account: x
    rs:
      type: redshift
      host: x
"""


def _project(root: Path, profiles: str | None = PROFILES) -> Path:
    (root / "models" / "deep").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: shop\nprofile: shop\nconfig-version: 2\n")
    if profiles is not None:
        (root / "profiles.yml").write_text(profiles)
    return root


def test_found_walking_up_from_a_subdirectory_and_the_profile_default_target(tmp_path, monkeypatch):
    root = _project(tmp_path / "shop")
    monkeypatch.chdir(root / "models" / "deep")
    s = load_settings(env={})
    assert s.project_dir == root and s.dbt_project_dir == root and s.profiles_dir == root
    assert s.warehouse_from_profile and s.target == "dev" and s.results_schema == "analytics"
    assert s.warehouse_url == f"duckdb:///{root / 'warehouse' / 'dev.duckdb'}"  # relative to the dbt project
    assert s.state_dir == root / ".vanbulk" and s.gx_dir == root / ".vanbulk" / "expectations"


def test_env_var_and_target_override_build_a_postgres_url_whose_password_is_never_shown(tmp_path):
    root = _project(tmp_path / "shop")
    env = {"SHOP_PG_USER": "ana", "DBT_ENV_SECRET_SHOP_PG_PASSWORD": "s3cr@t-pw!"}
    s = load_settings(root, env=env, target="prod")
    assert s.target == "prod" and s.results_schema == "sync" and s.warehouse_dialect == "postgresql"
    assert s.warehouse_url == "postgresql://ana:s3cr%40t-pw%21@db.internal:5433/shop"
    # registered as a secret when read: every log handler's redaction filter scrubs it, bare or in the URL
    shown = redact(f"connecting to {s.warehouse_url} with s3cr@t-pw! ({s!r})")
    assert "s3cr" not in shown and "ana" in shown
    # the profile's own target variable picks the output too
    assert load_settings(root, env={**env, "SHOP_TARGET": "prod"}).target == "prod"


def test_profile_mistakes_are_one_line_config_errors(tmp_path):
    root = _project(tmp_path / "shop")
    with pytest.raises(ConfigError, match="env_var\\('SHOP_PG_USER'\\) is not set"):
        load_settings(root, env={}, target="prod")
    with pytest.raises(ConfigError, match="no target 'qa'.*dev, prod, snow"):
        load_settings(root, env={}, target="qa")
    with pytest.raises(ConfigError, match="a Snowflake target needs account, user, database and schema"):
        load_settings(root, env={}, target="snow")  # Snowflake is supported: an incomplete target says what it lacks
    with pytest.raises(ConfigError, match="type 'redshift'"):
        load_settings(root, env={}, target="rs")
    other = _project(tmp_path / "other", profiles=None)
    with pytest.raises(ConfigError, match="no dbt profile 'shop'"):
        load_settings(other, env={"HOME": str(tmp_path / "home")})


def test_profiles_dir_follows_dbt(tmp_path):
    root = _project(tmp_path / "shop", profiles=None)
    home = tmp_path / "home"
    (home / ".dbt").mkdir(parents=True)
    (home / ".dbt" / "profiles.yml").write_text(PROFILES.replace("warehouse/dev.duckdb", "/data/home.duckdb"))
    assert load_settings(root, env={"HOME": str(home)}).warehouse_url == "duckdb:////data/home.duckdb"
    elsewhere = tmp_path / "ci_profiles"
    elsewhere.mkdir()
    (elsewhere / "profiles.yml").write_text(PROFILES.replace("warehouse/dev.duckdb", "/data/ci.duckdb"))
    s = load_settings(root, env={"HOME": str(home), "DBT_PROFILES_DIR": str(elsewhere)})
    assert s.profiles_dir == elsewhere and s.warehouse_url == "duckdb:////data/ci.duckdb"


def test_vanbulk_own_layout_reads_the_package_profile(tmp_path):
    """`make demo`: vanbulk.yml beside dbt_project/; the package profile's default is ../vanbulk.duckdb."""
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "dbt_project").mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        (tmp_path / "dbt_project" / name).write_text((repo / "dbt_project" / name).read_text())
    (tmp_path / "vanbulk.yml").write_text("split_disclosure: true\n")
    s = load_settings(tmp_path, env={})
    assert s.dbt_project_dir == tmp_path / "dbt_project" and s.target == "duckdb" and s.split_disclosure
    assert s.warehouse_url == f"duckdb:///{tmp_path / 'vanbulk.duckdb'}"
    assert s.gx_dir == tmp_path / ".vanbulk" / "expectations"  # no committed expectations/ here


def test_a_configured_url_keeps_the_environment_contract_and_must_match_the_profile(tmp_path):
    root = _project(tmp_path / "shop")
    s = load_settings(root, env={"VANBULK_WAREHOUSE_URL": "duckdb:////data/other.duckdb"})
    assert not s.warehouse_from_profile
    _, env = dbt_env(s, base={})
    with pytest.raises(ConfigError, match="different warehouses"):
        _check_profile_matches(s, env)
    same = load_settings(root, env={"VANBULK_WAREHOUSE_URL": f"duckdb:///{root / 'warehouse' / 'dev.duckdb'}"})
    _check_profile_matches(same, dbt_env(same, base={})[1])  # agrees: no error
    # from the profile: dbt gets the profile's target and no VANBULK_* variables
    target, env = _profile_env(load_settings(root, env={}))
    assert target == "dev" and set(env) - set(os.environ) <= {"DBT_SEND_ANONYMOUS_USAGE_STATS"}
    assert all(env[k] == v for k, v in os.environ.items())


def test_state_folder_ignores_itself_and_the_run_names_what_it_writes(tmp_path):
    root = _project(tmp_path / "shop")
    s = load_settings(root, env={})
    line = prepare_state_dir(s)
    assert (root / ".vanbulk" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert line.startswith("files: .vanbulk/ (") and "GX runtime" in line and "warehouse/dev.duckdb" in line
    assert not (root / "expectations").exists()


def test_find_project_prefers_the_nearest_marker(tmp_path):
    outer = _project(tmp_path / "outer")
    inner = tmp_path / "outer" / "models" / "deep" / "tool"
    (inner / "dbt_project").mkdir(parents=True)
    (inner / "vanbulk.yml").write_text("{}\n")
    assert dbt_profile.find_project(inner / "dbt_project").root == inner
    assert dbt_profile.find_project(outer / "models").root == outer
    assert dbt_profile.find_project(outer / "models", walk_up=False).dbt_dir == outer / "models" / "dbt_project"


def test_settings_built_in_code_keep_their_defaults(tmp_path):
    s = Settings(project_dir=tmp_path)
    assert not s.warehouse_from_profile and s.dbt_project_dir == tmp_path / "dbt_project"
    assert s.warehouse_url == f"duckdb:///{tmp_path / 'vanbulk.duckdb'}"


BIGQUERY_PROFILES = """
shop:
  target: bq
  outputs:
    bq:
      type: bigquery
      method: service-account
      keyfile: /secrets/sa.json
      project: my-project
      dataset: analytics
      location: EU
      threads: 4
    adc:
      type: bigquery
      method: oauth
      project: my-project
      dataset: analytics
    secrets:
      type: bigquery
      method: oauth-secrets
      token: abc
      project: my-project
      dataset: analytics
"""


def test_a_bigquery_profile_becomes_a_bigquery_url_and_a_run_without_credentials_says_so_in_one_line(tmp_path):
    import subprocess
    import sys

    root = _project(tmp_path / "shop", BIGQUERY_PROFILES)
    s = load_settings(root, env={})
    assert s.warehouse_url == "bigquery://my-project/analytics?location=EU&credentials_path=%2Fsecrets%2Fsa.json"
    assert s.results_schema == "analytics" and s.warehouse_dialect == "bigquery"
    assert load_settings(root, env={}, target="adc").warehouse_url == "bigquery://my-project/analytics"
    with pytest.raises(ConfigError, match="oauth-secrets.*not supported by vanbulk yet"):
        load_settings(root, env={}, target="secrets")
    vanbulk = Path(sys.executable).with_name("vanbulk")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANBULK_")}
    r = subprocess.run([str(vanbulk), "run", "-t", "adc"], cwd=root, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    # the run goes to BigQuery (no longer refused up front) and stops at the missing credentials, in one line
    assert len(errors) == 1 and "no credentials found" in errors[0] and "application-default login" in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_a_duckdb_url_is_made_absolute_and_three_slashes_before_an_existing_folder_mean_that_folder(tmp_path):
    """Issue 22 #11: with the project in /p, duckdb:///p/vanbulk.duckdb opened p/p/vanbulk.duckdb under the project."""
    root = _project(tmp_path / "shop")
    (root / "data").mkdir()
    written = str(root / "vanbulk.duckdb").lstrip("/")  # the README's form with the slash forgotten
    s = load_settings(root, env={"VANBULK_WAREHOUSE_URL": f"duckdb:///{written}"})
    assert s.warehouse_url == f"duckdb:///{root / 'vanbulk.duckdb'}"
    s = load_settings(root, env={"VANBULK_WAREHOUSE_URL": "duckdb:///data/x.duckdb"})  # relative: to the project
    assert s.warehouse_url == f"duckdb:///{root / 'data' / 'x.duckdb'}"
    assert "the ledger in data/x.duckdb" in prepare_state_dir(s)
