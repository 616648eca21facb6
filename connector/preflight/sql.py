"""SQL building blocks for the pre-flight rules, identical on DuckDB and PostgreSQL.

Why no regular expressions: DuckDB uses RE2 (``regexp_full_match``), PostgreSQL POSIX AREs (``~``); the
two disagree at the edges (classes, anchors, case flags), GX's regex expectations are "not supported for
dialect duckdb", and one suite file per mapping type must run unchanged on both engines. Every check
below is written with functions that behave the same on both (``trim``, ``length``, ``substr``,
``strpos``, ``translate``, ``lower``, ``right``, ``in``, ``||``) and no casts, so a malformed value can never
raise an error in the middle of a scan: a bad date is just a row that fails.

All predicates take a quoted column expression and assume it is *set* (not blank); callers guard with
:func:`is_set`, so blank values never fail a format rule (blank means "leave unchanged" in VAN).
"""

from __future__ import annotations

from typing import Callable, Iterable

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Two-digit strings divisible by 4, for the leap-year test without casts.
_DIV4 = tuple(f"{n:02d}" for n in range(0, 100, 4))

__all__ = ["FORMATS", "WHITESPACE_SQL", "has_surrounding_whitespace", "ident", "is_blank", "is_set", "lit", "lit_list",
           "stripped", "valid_format", "format_label", "render"]


def ident(name: str) -> str:
    """Quoted identifier; both engines use ANSI double quotes (VAN casing must survive PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """SQL string literal for a rule template.

    Braces are doubled because every rule query is also a GX query template (``str.format`` with
    ``{batch}``); :func:`render` undoes it the same way GX does. Colons are backslash-escaped because GX and
    we both run the query through ``sqlalchemy.text``, which would read ``:word`` as a bind parameter."""
    return "'" + str(value).replace("'", "''").replace("{", "{{").replace("}", "}}").replace(":", "\\:") + "'"


def text_lit(value: str) -> str:
    """SQL string literal for a statement run through ``sqlalchemy.text`` (not a GX template)."""
    return "'" + str(value).replace("'", "''").replace(":", "\\:") + "'"


def lit_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")"


# Blank means blank after trimming ANY whitespace (space, tab, LF, VT, FF, CR, no-break space), not only spaces
# as trim() does. ltrim(value, characters) is the same function on DuckDB and PostgreSQL, and it reads only the
# leading whitespace of a value, so the check costs next to nothing on ordinary values (translate() over the
# whole value doubled the pre-flight's time: bench/bench_preflight.py).
WHITESPACE_SQL = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13) || chr(160)"


def stripped(col: str) -> str:
    """The value without any leading whitespace: '' exactly when the value is blank."""
    return f"ltrim({col}, {WHITESPACE_SQL})"


def is_blank(col: str) -> str:
    return f"({col} is null or {stripped(col)} = '')"


def is_set(col: str) -> str:
    return f"({col} is not null and {stripped(col)} <> '')"


def has_surrounding_whitespace(col: str) -> str:
    ends = "(' ', chr(9), chr(10), chr(11), chr(12), chr(13), chr(160))"
    return f"(left({col}, 1) in {ends} or right({col}, 1) in {ends})"


def _only(expr: str, chars: str) -> str:
    return f"translate({expr}, {lit(chars)}, '') = ''"


def _digits(expr: str, lo: int, hi: int | None = None) -> str:
    length = f"length({expr}) = {lo}" if hi is None else f"length({expr}) between {lo} and {hi}"
    return f"({length} and {_only(expr, DIGITS)})"


def _unsigned(expr: str) -> str:
    return f"(case when left({expr}, 1) = '-' then substr({expr}, 2) else {expr} end)"


def valid_date(c: str) -> str:
    """``YYYY-MM-DD`` and a real calendar date (month 1-12, day within the month, 29 Feb in leap years)."""
    y2, cc, m, d = f"substr({c}, 3, 2)", f"substr({c}, 1, 2)", f"substr({c}, 6, 2)", f"substr({c}, 9, 2)"
    leap = f"(({y2} <> '00' and {y2} in {lit_list(_DIV4)}) or ({y2} = '00' and {cc} in {lit_list(_DIV4)}))"
    last_day = (f"case when {m} in ('01','03','05','07','08','10','12') then '31' "
                f"when {m} in ('04','06','09','11') then '30' when {leap} then '29' else '28' end")
    return (f"(length({c}) = 10 and substr({c}, 5, 1) = '-' and substr({c}, 8, 1) = '-' "
            f"and translate({c}, {lit(DIGITS)}, '') = '--' and substr({c}, 1, 4) <> '0000' "
            f"and {m} between '01' and '12' and {d} >= '01' and {d} <= ({last_day}))")


def valid_time(c: str) -> str:
    """``HH:MM`` or ``HH:MM:SS`` (24 h)."""
    hh, mm, ss = f"substr({c}, 1, 2)", f"substr({c}, 4, 2)", f"substr({c}, 7, 2)"
    return (f"(length({c}) in (5, 8) and substr({c}, 3, 1) = ':' and {_only(f'{hh} || {mm}', DIGITS)} "
            f"and {hh} <= '23' and {mm} <= '59' "
            f"and (length({c}) = 5 or (substr({c}, 6, 1) = ':' and {_only(ss, DIGITS)} and {ss} <= '59')))")


def valid_datetime(c: str) -> str:
    rest = f"substr({c}, 12)"
    return (f"({valid_date(f'left({c}, 10)')} and (length({c}) = 10 or "
            f"(substr({c}, 11, 1) in (' ', 'T') and {valid_time(rest)})))")


def valid_email(c: str) -> str:
    """One ``@`` with text before it, a dot inside the domain, no spaces, not ending in a dot."""
    at = f"strpos({c}, '@')"
    return (f"({at} > 1 and strpos(substr({c}, {at} + 1), '@') = 0 and strpos({c}, ' ') = 0 "
            f"and strpos(substr({c}, {at} + 2), '.') > 0 and right({c}, 1) <> '.')")


def valid_integer(c: str) -> str:
    u = _unsigned(c)
    return f"({u} <> '' and {_only(u, DIGITS)})"


def valid_decimal(c: str, max_scale: int | None = None) -> str:
    """Digits with at most one decimal point between digits (``12``, ``12.5``); optional leading ``-``."""
    u = _unsigned(c)
    scale = "" if max_scale is None else f" and (strpos({u}, '.') = 0 or length({u}) - strpos({u}, '.') <= {max_scale})"
    return (f"({u} <> '' and translate({u}, {lit(DIGITS)}, '') in ('', '.') "
            f"and left({u}, 1) <> '.' and right({u}, 1) <> '.'{scale})")


def valid_boolean(c: str) -> str:
    return f"(lower({c}) in ('true', 'false', 't', 'f', 'yes', 'no', 'y', 'n', '1', '0'))"


def valid_url(c: str) -> str:
    return f"((lower(left({c}, 7)) = 'http://' or lower(left({c}, 8)) = 'https://') and strpos({c}, ' ') = 0)"


def _two_letters(c: str) -> str:
    return f"(length({c}) = 2 and {_only(c, UPPER)})"


# format name -> (SQL predicate that holds for a valid value, label used in messages)
FORMATS: dict[str, tuple[Callable[[str], str], str]] = {
    "date": (valid_date, "a date YYYY-MM-DD"),
    "datetime": (valid_datetime, "a date YYYY-MM-DD with an optional time HH:MM[:SS]"),
    "time": (valid_time, "a time HH:MM[:SS]"),
    "email": (valid_email, "an email address"),
    # VAN stores phones as digits; 10 (NANP) to 15 (E.164 maximum) digits, no punctuation or '+'.
    "phone": (lambda c: _digits(c, 10, 15), "a phone number of 10-15 digits"),
    "zip": (lambda c: f"(length({c}) in (5, 9) and {_only(c, DIGITS)})", "a ZIP code of 5 or 9 digits"),
    "state": (_two_letters, "a two-letter upper-case state code"),
    "country": (_two_letters, "a two-letter upper-case country code"),
    "integer": (valid_integer, "an integer"),
    # VAN's record ids (VanID, ContributionID...) are positive integers.
    "id": (lambda c: f"({_digits(c, 1, 18)} and translate({c}, '0', '') <> '')", "a positive integer id"),
    "decimal": (valid_decimal, "a decimal number"),
    "number": (valid_decimal, "a number"),
    "amount": (lambda c: valid_decimal(c, 2), "an amount with at most 2 decimals"),
    "currency": (lambda c: valid_decimal(c, 2), "an amount with at most 2 decimals"),
    "money": (lambda c: valid_decimal(c, 2), "an amount with at most 2 decimals"),
    "boolean": (valid_boolean, "a boolean (true/false, yes/no, y/n, 1/0)"),
    "url": (valid_url, "an http(s) URL"),
    "text": (lambda c: "(1 = 1)", "text"),
    "string": (lambda c: "(1 = 1)", "text"),
}


def valid_format(fmt: str, col: str) -> str:
    return FORMATS[fmt.lower()][0](col)


def format_label(fmt: str) -> str:
    return FORMATS[fmt.lower()][1]


def render(template: str, relation: str) -> str:
    """Substitute ``{batch}`` exactly as GX does (``str.format``), so both run the same SQL."""
    return template.format(batch=relation)


# -- impossible values (evidence class "impossible": invalid under any reading, rejected by default) --------

# Dates VAN may accept besides the canonical YYYY-MM-DD (the simulator's formats.py reads the same four shapes).
def _shaped(c: str, digit_positions: tuple[int, ...], seps: tuple[int, ...]) -> str:
    digits = " and ".join(f"substr({c}, {i}, 1) in {lit_list(DIGITS)}" for i in digit_positions)
    return f"({digits} and " + " and ".join(f"substr({c}, {i}, 1) in ('-', '/')" for i in seps) + ")"


def impossible_date(c: str) -> str:
    """The value reads as a date in a shape VAN may accept (YYYY-MM-DD, YYYY/MM/DD, MM/DD/YYYY, MM-DD-YYYY, each
    optionally followed by a time) but no such calendar day exists, or it holds no digit at all. A value of
    another shape (``3/5/2026``, ``5 March 2026``) is not judged here: the inferred ``format`` rule warns."""
    ymd = _shaped(c, (1, 2, 3, 4, 6, 7, 9, 10), (5, 8))
    mdy = _shaped(c, (1, 2, 4, 5, 7, 8, 9, 10), (3, 6))
    iso = f"(substr({c}, 1, 4) || '-' || substr({c}, 6, 2) || '-' || substr({c}, 9, 2))"
    us = f"(substr({c}, 7, 4) || '-' || substr({c}, 1, 2) || '-' || substr({c}, 4, 2))"
    tail_ok = f"(length({c}) = 10 or substr({c}, 11, 1) in (' ', 'T'))"
    return (f"(translate({c}, {lit(DIGITS)}, '') = {c} or ({tail_ok} and "
            f"(({ymd} and not {valid_date(iso)}) or ({mdy} and not {valid_date(us)}))))")


def impossible_number(c: str) -> str:
    """Not a number under any reading: after dropping a leading sign, a currency sign, thousands separators and
    spaces, anything but digits with at most one decimal point between them."""
    bare = f"translate({c}, '$, ', '')"
    unsigned_plus = f"(case when left({bare}, 1) = '+' then substr({bare}, 2) else {bare} end)"
    return f"(not {valid_decimal(unsigned_plus)})"


def impossible_phone(c: str) -> str:
    """Letters in a phone number: no reading of them gives the digits VAN stores (``call after 5``)."""
    return f"(translate(lower({c}), 'abcdefghijklmnopqrstuvwxyz', '') <> lower({c}))"


# Control characters (except tab, LF and CR, which a quoted CSV cell may carry in free text) have no place in a
# value VAN stores; NUL cannot reach either engine's text columns.
CONTROL_SQL = " || ".join(f"chr({i})" for i in (*range(1, 9), 11, 12, *range(14, 32), 127))


def has_control_chars(c: str) -> str:
    return f"(translate({c}, {CONTROL_SQL}, '') <> {c})"
