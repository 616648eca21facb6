"""Lint SQL for real Snowflake, for any SQL string the project generates (as tests/helpers/bigquery_lint.py does
for GoogleSQL).

The Snowflake emulator (fakesnow: DuckDB behind sqlglot) runs many DuckDB-only functions and returns DuckDB's
answers, so SQL that passes on it can still fail on Snowflake. This lint parses the SQL as Snowflake with sqlglot
(pinned) and reports:

* a parse error;
* any function sqlglot does not know as Snowflake (``exp.Anonymous``);
* a function named in ``DENYLIST``: ones sqlglot knows or passes through but Snowflake does not have;
* ``AT TIME ZONE`` (Snowflake: ``CONVERT_TIMEZONE``) and ``regexp_replace`` with a flags string in the position
  argument (DuckDB's ``'g'``; Snowflake's fourth argument is the start position and it replaces every match).

Function facts from Snowflake's SQL function reference. Not caught: semantic differences of functions both have
(``REGEXP_LIKE`` matches the whole text in Snowflake; ``TRY_TO_NUMBER`` rounds decimals): compare results with
DuckDB for those (tests/warehouse/test_golden.py).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

__all__ = ["DENYLIST", "SNOWFLAKE_ONLY", "lint", "assert_snowflake_sql"]

DENYLIST: dict[str, str] = {
    "TRY_STRPTIME": "TRY_TO_DATE / TRY_TO_TIMESTAMP",
    "STRPTIME": "TO_DATE / TO_TIMESTAMP",
    "STRFTIME": "TO_CHAR",
    "REGEXP_FULL_MATCH": "REGEXP_LIKE (whole text)",
    "REGEXP_MATCHES": "REGEXP_INSTR(...) > 0 or REGEXP_LIKE",
    "REGEXP_CONTAINS": "REGEXP_INSTR(...) > 0",
    "NOW": "CURRENT_TIMESTAMP() / SYSDATE()",
    "BTRIM": "TRIM(x, chars)",
    "STRING_SPLIT": "SPLIT",
    "STR_SPLIT": "SPLIT",
    "LIST_VALUE": "ARRAY_CONSTRUCT",
    "TO_HEX": "HEX_ENCODE (MD5 already returns hex)",
    "SAFE_CAST": "TRY_CAST / TRY_TO_NUMBER",
    "TIMESTAMP_SUB": "DATEADD",
    "TIMESTAMP_DIFF": "DATEDIFF",
    "TO_JSON_STRING": "TO_JSON(TO_VARIANT(x))",
}


# Snowflake functions this sqlglot does not know (it parses them as anonymous): from Snowflake's SQL function
# reference, each with the page that documents it.
SNOWFLAKE_ONLY: dict[str, str] = {
    "HASH": "Hash functions: HASH(<expr> [, ...]) -> signed 64-bit NUMBER(19,0)",
}


def lint(sql: str, allow: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Problems of ``sql`` as Snowflake SQL; ``allow``: upper-case function names to accept anyway."""
    problems: list[str] = []
    try:
        tokens = sqlglot.tokenize(sql, read="snowflake")
    except Exception as exc:  # noqa: BLE001 - sqlglot raises TokenError and ValueError
        return [f"does not tokenize as Snowflake: {exc}"]
    for i, tok in enumerate(tokens[:-1]):
        name = tok.text.upper()
        if tokens[i + 1].text == "(" and name in DENYLIST and name not in allow:
            problems.append(f"{tok.text}() at line {tok.line}: not a Snowflake function (use {DENYLIST[name]})")
    try:
        statements = [s for s in sqlglot.parse(sql, read="snowflake") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        return problems + [f"does not parse as Snowflake: {first.get('description', exc)} "
                           f"(line {first.get('line')}, col {first.get('col')})"]
    for stmt in statements:
        for node in stmt.find_all(exp.Anonymous):
            name = str(node.name).upper()
            if name not in allow and name not in DENYLIST and name not in SNOWFLAKE_ONLY:
                problems.append(f"{node.name}() is not a Snowflake function sqlglot knows: {node.sql('snowflake')[:80]}")
        for node in stmt.find_all(exp.AtTimeZone):
            problems.append(f"AT TIME ZONE is not Snowflake (use CONVERT_TIMEZONE): {node.sql('snowflake')[:80]}")
        for node in stmt.find_all(exp.RegexpReplace):
            pos = node.args.get("position")
            if isinstance(pos, exp.Literal) and pos.is_string:
                problems.append(f"regexp_replace with a flags string as its position: {node.sql('snowflake')[:80]}")
    return problems


def assert_snowflake_sql(sql: str, name: str = "statement") -> None:
    problems = lint(sql)
    assert not problems, f"{name} is not valid Snowflake SQL:\n  " + "\n  ".join(problems) + f"\n--- SQL ---\n{sql[:2000]}"
