"""Format predicates evaluated by both engines on the same literals (no GX): identical verdicts."""

from __future__ import annotations

import pytest

from connector.preflight.sql import lit, valid_format

CASES = [
    ("date", "2026-03-01", True), ("date", "2024-02-29", True), ("date", "2000-02-29", True),
    ("date", "2023-02-29", False), ("date", "1900-02-29", False), ("date", "2026-04-31", False),
    ("date", "2026-13-01", False), ("date", "2026-00-10", False), ("date", "2026-01-00", False),
    ("date", "2026-1-01", False), ("date", "20260101", False), ("date", "2026/01/01", False),
    ("date", "0000-01-01", False), ("date", "2026-12-31", True), ("date", "2026-01-3a", False),
    ("datetime", "2026-03-01", True), ("datetime", "2026-03-01 10:30", True), ("datetime", "2026-03-01T10:30:59", True),
    ("datetime", "2026-03-01 24:00", False), ("datetime", "2026-03-01 1:30", False), ("datetime", "2026-03-01X10:30", False),
    ("time", "23:59", True), ("time", "00:00:00", True), ("time", "1::00", False), ("time", "12:60", False),
    ("email", "a@b.co", True), ("email", "first.last+tag@example.org", True), ("email", "a@b", False),
    ("email", "@b.co", False), ("email", "a@@b.co", False), ("email", "a b@c.co", False), ("email", "a@b.co.", False),
    ("email", "a@.co", False),
    ("phone", "2025550143", True), ("phone", "441632960961234", True), ("phone", "202555014", False),
    ("phone", "4416329609612345", False), ("phone", "+12025550143", False), ("phone", "202-555-0143", False),
    ("zip", "20001", True), ("zip", "200011234", True), ("zip", "20001-1234", False), ("zip", "2000", False),
    ("state", "DC", True), ("state", "dc", False), ("state", "D1", False), ("state", "DCA", False),
    ("country", "US", True), ("country", "USA", False),
    ("integer", "42", True), ("integer", "-42", True), ("integer", "4.2", False), ("integer", "-", False),
    ("integer", "1e3", False), ("id", "123", True), ("id", "-1", False),
    ("decimal", "12.50", True), ("decimal", "-0.5", True), ("decimal", "12.", False), ("decimal", ".5", False),
    ("decimal", "1.2.3", False), ("decimal", "1,000", False),
    ("amount", "12.50", True), ("amount", "12", True), ("amount", "12.505", False), ("money", "-3.1", True),
    ("boolean", "true", True), ("boolean", "N", True), ("boolean", "0", True), ("boolean", "maybe", False),
    ("url", "https://x.org/a", True), ("url", "ftp://x.org", False),
]


@pytest.fixture(scope="module")
def verdicts(env):
    sql = " union all ".join(
        f"select {i} as i, case when {valid_format(fmt, lit(v))} then 1 else 0 end as ok"
        for i, (fmt, v, _) in enumerate(CASES))
    return {i: bool(ok) for i, ok in env.warehouse.fetchall(sql)}


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{f}:{v}" for f, v, _ in CASES])
def test_format(verdicts, i):
    fmt, value, ok = CASES[i]
    assert verdicts[i] is ok, (fmt, value)
