"""Key rules and blanks in pre-flight (reject the row, send the rest): a key with surrounding whitespace or
a blank one, a value that is only tab/CR/LF in a required field, and record ids that are not positive
integers. On DuckDB and PostgreSQL, with GX agreeing with the SQL rejects."""

from __future__ import annotations

from connector.catalog import load_catalog
from connector.preflight import run_preflight

CAT = load_catalog()
CODE = CAT.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]


def _rows(*rows):
    cols = CAT.get("ActivistCode").staging_columns
    return [tuple({"source_row_key": k, "VanID": v, "ActivistCodeID": a}.get(c) for c in cols) for k, v, a in rows]


def test_keys_blanks_and_ids(env):
    env.make_view(CAT, "ActivistCode", _rows(
        ("k1", "100001", CODE),
        (" k1", "100002", CODE),        # differs from k1 only by a space: rejected, k1 still sent
        ("k2\t", "100003", CODE),       # trailing tab
        ("\t \r\n", "100004", CODE),    # whitespace only: a blank key
        ("multi\nline key é😀", "100005", CODE),  # inner newline and unicode: a fine key
        ("k3", "abc", CODE), ("k4", "-5", CODE), ("k5", "0", CODE),  # not record ids
        ("k6", "100006", "\t\r\n"),     # required value that is only whitespace
    ))
    res = run_preflight(env.warehouse, CAT, ["ActivistCode"], "run-keys", env.settings).results["ActivistCode"]
    assert not res.blocked
    rejects = {(k, rule, col) for k, rule, col in env.warehouse.fetchall(
        f"select source_row_key, rule, column_name from {env.warehouse.relation('van_preflight_rejects', env.settings.results_schema)} "
        "where run_id = 'run-keys'")}
    assert rejects == {(" k1", "row_key", "source_row_key"), ("k2\t", "row_key", "source_row_key"),
                       ("\t \r\n", "row_key", "source_row_key"), ("k3", "format", "VanID"),
                       ("k4", "format", "VanID"), ("k5", "format", "VanID"), ("k6", "required", "ActivistCodeID")}
    passing = sorted(k for (k,) in env.warehouse.fetchall(f"select source_row_key from ({res.passing_rows_sql}) p"))
    assert passing == ["k1", "multi\nline key é😀"]
    assert all(o.gx_unexpected == o.rows for o in res.outcomes if o.rows is not None)  # GX agrees
