"""Value formats named by the catalogue (``MappingType.field_formats``): check and normalise one cell.

Each checker returns ``(normalised_value, None)`` or ``(None, message)``. Unknown format names accept any
text, so a catalogue can name a format before the simulator learns it.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Callable

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZIP = re.compile(r"^\d{5}(?:-?\d{4})?$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
US_STATES = frozenset("""AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH
NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM AA AE AP""".split())
_BOOL = {"true": "true", "false": "false", "1": "true", "0": "false", "yes": "true", "no": "false",
         "y": "true", "n": "false", "t": "true", "f": "false"}
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y/%m/%d", "%m-%d-%Y", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")

Result = tuple[str | None, str | None]


def _date(v: str) -> Result:
    for fmt in _DATE_FORMATS:
        try:
            d = datetime.strptime(v, fmt).date()
        except ValueError:
            continue
        if not date(1850, 1, 1) <= d <= date(2200, 12, 31):
            return None, "Invalid date"
        return d.isoformat(), None
    return None, "Invalid date"


def _email(v: str) -> Result:
    return (v.lower(), None) if _EMAIL.match(v) and len(v) <= 255 else (None, "Invalid email address")


def _phone(v: str) -> Result:
    digits = re.sub(r"[\s().+\-]", "", v)
    if not digits.isdigit():
        return None, "Invalid phone number"
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10 and digits[0] not in "01":
        return digits, None
    if 7 <= len(digits) <= 15 and v.lstrip().startswith("+"):
        return digits, None  # international numbers arrive with their country prefix
    if 11 <= len(digits) <= 15 and digits[0] != "0":
        return digits, None  # E.164 digits without the '+' (country prefix, then the national number)
    return None, "Invalid phone number"


def _zip(v: str) -> Result:
    return (v.replace("-", ""), None) if _ZIP.match(v) else (None, "Invalid zip code")


def _state(v: str) -> Result:
    return (v.upper(), None) if v.upper() in US_STATES else (None, "Invalid state or province")


def _country(v: str) -> Result:
    return (v.upper(), None) if _COUNTRY.match(v) else (None, "Invalid country code")


def _integer(v: str) -> Result:
    return (str(int(v)), None) if re.fullmatch(r"[+-]?\d{1,18}", v) else (None, "Invalid integer")


def _decimal(v: str) -> Result:
    try:
        d = Decimal(v.replace(",", "").lstrip("$"))
    except InvalidOperation:
        return None, "Invalid amount"
    if not d.is_finite():
        return None, "Invalid amount"
    return str(d), None


def _boolean(v: str) -> Result:
    b = _BOOL.get(v.lower())
    return (b, None) if b else (None, "Invalid boolean")


CHECKERS: dict[str, Callable[[str], Result]] = {
    "date": _date, "email": _email, "phone": _phone, "zip": _zip, "state": _state, "country": _country,
    "integer": _integer, "int": _integer, "decimal": _decimal, "amount": _decimal, "money": _decimal,
    "boolean": _boolean, "bool": _boolean,
}


def check(fmt: str | None, value: str) -> Result:
    checker = CHECKERS.get((fmt or "").lower())
    return checker(value) if checker else (value, None)


# -- values no account takes (the evidence policy's "impossible" class): checked whatever the account enforces --
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE_SHAPES = ((re.compile(r"^(\d{4})[-/](\d{2})[-/](\d{2})(?:[ T].*)?$"), (1, 2, 3)),
                (re.compile(r"^(\d{2})[-/](\d{2})[-/](\d{4})(?:[ T].*)?$"), (3, 1, 2)))
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d+)?)$")
_NUMBER_KINDS = frozenset({"integer", "int", "decimal", "number", "amount", "currency", "money"})


def impossible(kind: str | None, value: str) -> str | None:
    """VAN's message for a value invalid under any reading, or None: a control character, a date-shaped value
    naming no calendar day (or a date with no digit), a non-number where a number belongs, letters in a phone
    number, an email without a dotted domain."""
    if _CONTROL.search(value):
        return "Invalid character"
    kind = (kind or "").lower()
    if kind in ("date", "datetime"):
        if not any(ch.isdigit() for ch in value):
            return "Invalid date"
        for shape, (y, m, d) in _DATE_SHAPES:
            hit = shape.match(value)
            if hit:
                try:
                    date(int(hit.group(y)), int(hit.group(m)), int(hit.group(d)))
                except ValueError:
                    return "Invalid date"
    elif kind in _NUMBER_KINDS and not _NUMBER.match(value.replace(",", "").replace("$", "").replace(" ", "")):
        return "Invalid number"
    elif kind == "phone" and re.search(r"[A-Za-z]", value):
        return "Invalid phone number"
    elif kind == "email" and not _EMAIL.match(value):
        return "Invalid email address"
    return None
