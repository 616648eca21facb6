"""How dbt_runner maps the warehouse URL to a dbt target and environment (no dbt invocation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import ConfigError, Settings
from connector.dbt_runner import _settings_vars, dbt_env


def _s(tmp_path, url, **kw):
    return Settings(project_dir=tmp_path, warehouse_url=url, **kw)


def test_duckdb_absolute_and_relative_paths(tmp_path):
    target, env = dbt_env(_s(tmp_path, "duckdb:////data/wh.duckdb"), base={})
    assert target == "duckdb" and env["VANBULK_DUCKDB_PATH"] == "/data/wh.duckdb"
    _, env = dbt_env(_s(tmp_path, "duckdb:///wh.duckdb"), base={})
    assert Path(env["VANBULK_DUCKDB_PATH"]) == tmp_path / "wh.duckdb"
    with pytest.raises(ConfigError):
        dbt_env(_s(tmp_path, "duckdb:///:memory:"), base={})


def test_postgres_url_search_path_and_password_only_in_secret_env(tmp_path):
    url = "postgresql+psycopg://ana:s3cr%40t@db.example:6543/warehouse?options=-csearch_path%3Dvan_results,public"
    target, env = dbt_env(_s(tmp_path, url), base={})
    assert target == "postgres"
    assert (env["VANBULK_PG_HOST"], env["VANBULK_PG_PORT"], env["VANBULK_PG_USER"], env["VANBULK_PG_DATABASE"],
            env["VANBULK_PG_SCHEMA"]) == ("db.example", "6543", "ana", "warehouse", "van_results")
    assert env["DBT_ENV_SECRET_PG_PASSWORD"] == "s3cr@t"
    assert not any("s3cr" in v for k, v in env.items() if k != "DBT_ENV_SECRET_PG_PASSWORD")


def test_postgres_schema_fallbacks(tmp_path):
    _, env = dbt_env(_s(tmp_path, "postgresql://postgres@127.0.0.1/test?schema=ledger"), base={})
    assert env["VANBULK_PG_SCHEMA"] == "ledger" and env["VANBULK_PG_PORT"] == "5432"
    _, env = dbt_env(_s(tmp_path, "postgresql://postgres@127.0.0.1/test", results_schema="res"), base={})
    assert env["VANBULK_PG_SCHEMA"] == "res"
    _, env = dbt_env(_s(tmp_path, "postgresql://postgres@127.0.0.1/test"), base={})
    assert env["VANBULK_PG_SCHEMA"] == "public" and env["DBT_ENV_SECRET_PG_PASSWORD"] == ""


def test_settings_become_vars_only_when_not_default(tmp_path):
    assert _settings_vars(_s(tmp_path, "duckdb:///x.duckdb")) == {}
    assert _settings_vars(_s(tmp_path, "duckdb:///x.duckdb", staging_schema="stg", results_schema="r")) == {
        "vanbulk_staging_schema": "stg", "vanbulk_ledger_schema": "r"}


def test_unsupported_scheme(tmp_path):
    with pytest.raises(ConfigError):
        dbt_env(_s(tmp_path, "redshift://acct/db"), base={})
