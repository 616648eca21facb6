"""Lint SQL for real BigQuery (GoogleSQL), for any SQL string the project generates.

The BigQuery emulator (crucible: DuckDB behind sqlglot) runs DuckDB-only functions such as ``try_strptime``,
``regexp_full_match`` and ``now()`` and returns DuckDB's answers, so SQL that passes on it can still fail on
BigQuery. This lint parses the SQL as BigQuery with sqlglot and reports:

* a parse error (e.g. plain ``UNION``: GoogleSQL needs ``UNION ALL`` or ``UNION DISTINCT``);
* any function sqlglot does not know as BigQuery (``exp.Anonymous``: ``try_strptime``, ``now``, ``regexp_matches``, ...);
* a function named in ``DENYLIST``: ones sqlglot knows (so they are not anonymous) but GoogleSQL does not have;
* the ``::`` cast (PostgreSQL/DuckDB), ``regexp_replace`` with a flags argument (BigQuery's takes three and
  always replaces every match), and a ``SELECT ... WHERE`` without ``FROM`` (BigQuery: "Query without FROM clause
  cannot have a WHERE clause").

Function facts were checked against the GoogleSQL string-function reference (it lists CHR, STRPOS, INSTR,
TRANSLATE, LTRIM/RTRIM/TRIM with a character set, LEFT, RIGHT, SUBSTR, LPAD, SPLIT, REGEXP_CONTAINS and a
global REGEXP_REPLACE; it has no SPLIT_PART, REGEXP_MATCHES, REGEXP_FULL_MATCH, BTRIM or NOW). Not caught:
semantic differences of functions both have (BigQuery's one-argument TRIM removes all Unicode whitespace,
MD5/SHA256 return BYTES): compare results with DuckDB for those.

    from tests.helpers.bigquery_lint import lint, assert_bigquery_sql
    problems = lint(sql)            # [] when clean
    assert_bigquery_sql(sql, name)  # AssertionError listing the problems
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokens import TokenType

__all__ = ["DENYLIST", "lint", "assert_bigquery_sql"]

# Written names (upper case) that must not reach BigQuery, with what to use instead.
DENYLIST: dict[str, str] = {
    "TRY_STRPTIME": "SAFE.PARSE_DATE / SAFE.PARSE_TIMESTAMP",
    "STRPTIME": "PARSE_DATE / PARSE_TIMESTAMP",
    "STRFTIME": "FORMAT_DATE / FORMAT_TIMESTAMP",
    "REGEXP_FULL_MATCH": "REGEXP_CONTAINS with ^...$",
    "REGEXP_MATCHES": "REGEXP_CONTAINS",
    "NOW": "CURRENT_TIMESTAMP()",
    "SPLIT_PART": "SPLIT(x, d)[SAFE_ORDINAL(n)]",
    "TRY_CAST": "SAFE_CAST",
    "BTRIM": "TRIM(x, chars)",
    "STRING_SPLIT": "SPLIT",
    "STR_SPLIT": "SPLIT",
    "LIST_VALUE": "an array literal [...]",
}


def _statements(sql: str) -> list[exp.Expression]:
    return [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]


def lint(sql: str, allow: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Problems of ``sql`` as BigQuery SQL; ``allow``: upper-case function names to accept anyway (UDFs)."""
    problems: list[str] = []
    try:
        tokens = sqlglot.tokenize(sql, read="bigquery")
    except Exception as exc:  # noqa: BLE001 - sqlglot raises TokenError and ValueError
        return [f"does not tokenize as BigQuery: {exc}"]
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        name = tok.text.upper()
        if nxt is not None and nxt.token_type == TokenType.L_PAREN and name in DENYLIST and name not in allow:
            problems.append(f"{tok.text}() at line {tok.line}: not a BigQuery function (use {DENYLIST[name]})")
        if tok.token_type == TokenType.DCOLON:
            problems.append(f":: cast at line {tok.line}: BigQuery has only CAST(x AS type)")
    try:
        statements = _statements(sql)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        problems.append(f"does not parse as BigQuery: {first.get('description', exc)} "
                        f"(line {first.get('line')}, col {first.get('col')})")
        return problems
    for stmt in statements:
        for node in stmt.find_all(exp.Anonymous):
            name = str(node.name).upper()
            if name not in allow and name not in DENYLIST:  # denylisted ones are reported above
                problems.append(f"{node.name}() is not a BigQuery function sqlglot knows: {node.sql('bigquery')[:80]}")
        for node in stmt.find_all(exp.RegexpReplace):
            extra = [k for k in ("position", "occurrence", "modifiers") if node.args.get(k) is not None]
            if extra:
                problems.append(f"regexp_replace with {'/'.join(extra)}: BigQuery's takes (value, regexp, replacement) "
                                f"only: {node.sql('bigquery')[:80]}")
        for node in stmt.find_all(exp.Select):
            if node.args.get("where") is not None and node.args.get("from") is None and \
                    node.args.get("from_") is None:
                problems.append(f"SELECT with WHERE but no FROM (BigQuery refuses it): {node.sql('bigquery')[:80]}")
    return problems


def assert_bigquery_sql(sql: str, name: str = "sql", allow: frozenset[str] | set[str] = frozenset()) -> None:
    problems = lint(sql, allow)
    assert not problems, f"{name} is not valid BigQuery SQL:\n  " + "\n  ".join(problems)
