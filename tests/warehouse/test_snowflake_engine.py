"""Snowflake engine pieces that need no server: names (folding), the dbt profile <-> URL mapping, and that the
password stays out of everything that is shown."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.errors import ConfigError
from connector.warehouse.engines import engine_for_dbt_type, engine_for_url
from connector.warehouse.engines.snowflake import SnowflakeEngine, _fold, _unfold, sf_literal

ops = SnowflakeEngine()
SECRET = "p@ss:w/rd'x"


def test_registered_for_its_url_scheme_and_dbt_type():
    assert isinstance(engine_for_url("snowflake://u@acct/db/sch"), SnowflakeEngine)
    assert isinstance(engine_for_url("snowflake+vanbulk://u@acct/db/sch"), SnowflakeEngine)
    assert isinstance(engine_for_dbt_type("snowflake"), SnowflakeEngine)


@pytest.mark.parametrize("name, quoted, folded", [
    ("van_bulk_runs", "van_bulk_runs", "VAN_BULK_RUNS"),  # vanbulk's own names fold as dbt's unquoted ones
    ("source_row_key", "source_row_key", "SOURCE_ROW_KEY"),
    ("VanID", '"VanID"', "VanID"),  # VAN's columns, quoted by dbt as they are
    ("DOB", '"DOB"', "DOB"),
    ("order", '"order"', "order"),  # a reserved word stays quoted
    ('we"ird', '"we""ird"', 'we"ird'),
])
def test_names(name, quoted, folded):
    assert ops.quote(name) == quoted
    assert _fold(name) == folded


def test_catalogue_names_read_back():
    assert _unfold("VAN_BULK_RUNS") == "van_bulk_runs"
    assert _unfold("VanID") == "VanID"
    assert _unfold("DOB") == "dob"  # matched to the catalogue's DOB by case_insensitive_columns
    assert ops.case_insensitive_columns


def test_compile_portable_unquotes_plain_names_only():
    out = ops.compile_portable('select "source_row_key", "VanID", strpos(v."Email", \'@\') from t v where x = :p')
    assert "source_row_key" in out and '"source_row_key"' not in out
    assert '"VanID"' in out and ":p" in out and "STRPOS" not in out.upper().replace("CHARINDEX", "")


def test_literal_escapes_backslashes():
    assert sf_literal("a\\b'c") == "'a\\\\b''c'"


def test_profile_to_url_and_back_keeps_the_password_secret(tmp_path):
    out = {"type": "snowflake", "account": "xy12345.eu-west-1", "user": "loader", "password": SECRET,
           "database": "ANALYTICS", "schema": "vanbulk", "warehouse": "LOAD_WH", "role": "LOADER"}
    url, schema = ops.url_from_profile(out, tmp_path, "profile")
    assert schema == "vanbulk" and url.startswith("snowflake://loader:")
    parts = sa.make_url(url)
    assert parts.password == SECRET and parts.query == {"warehouse": "LOAD_WH", "role": "LOADER"}
    assert ops.url_schema(parts) == "vanbulk"
    shown = parts.render_as_string(hide_password=True)
    assert "w/rd" not in shown and "p%40ss" not in shown
    env = ops.dbt_env(url, Path("."), None)
    assert env["DBT_ENV_SECRET_SF_PASSWORD"] == SECRET
    assert [k for k, v in env.items() if SECRET in v] == ["DBT_ENV_SECRET_SF_PASSWORD"]
    assert env["VANBULK_SF_ACCOUNT"] == "xy12345.eu-west-1" and env["VANBULK_SF_WAREHOUSE"] == "LOAD_WH"
    assert SECRET not in ops.location(url, None)


def test_key_pair_and_unsupported_auth(tmp_path):
    base = {"account": "a", "user": "u", "database": "d", "schema": "s"}
    url, _ = ops.url_from_profile({**base, "private_key_path": "~/k.p8"}, tmp_path, "p")
    assert sa.make_url(url).query["private_key_file"].endswith("/k.p8")
    with pytest.raises(ConfigError, match="private_key_passphrase"):
        ops.url_from_profile({**base, "private_key_path": "k", "private_key_passphrase": SECRET}, tmp_path, "p")
    with pytest.raises(ConfigError, match="externalbrowser"):
        ops.url_from_profile({**base, "authenticator": "externalbrowser"}, tmp_path, "p")
    with pytest.raises(ConfigError, match="needs account"):
        ops.url_from_profile({"account": "a"}, tmp_path, "p")


def test_dialect_takes_the_endpoint_from_the_url():
    from connector.warehouse.engines import snowflake as sf

    sf.register()
    url = sa.make_url("snowflake+vanbulk://u:pw@fakesnow/DB/SCH?host=127.0.0.1&port=1234&protocol=http&warehouse=w")
    dialect = sf.VanbulkSnowflakeDialect()
    _, opts = dialect.create_connect_args(url)
    assert (opts["host"], opts["port"], opts["protocol"]) == ("127.0.0.1", 1234, "http")
    assert opts["database"] == "DB" and opts["schema"] == "SCH" and opts["warehouse"] == "w"
    assert dialect.name == "snowflake"
