"""Rules of severity "warn" (evidence too weak to refuse a row), on DuckDB and PostgreSQL: their failing rows go
to van_preflight_warnings and are still sent; GX marks them as warnings and still has to agree with SQL.

The rules are the probe's real catalogue rules with every ``format`` rule turned into a warning: a hand-made
Rule list (``Rule.severity`` set by hand, independent of the catalogue's evidence tags)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from connector.preflight import check, run_preflight, suites
from connector.preflight.rules import build_rules
from connector.preflight.runner import gx_root
from connector.preflight.suites import suite_name, suites_dir
from tests.preflight.probe import CASES, PROBE, expected, rows

RUN = "run-warn"
WARNED_FAMILY = "format"


def _with_warnings(catalog, mt, **kw):
    """The probe's rules with every ``format`` rule made a warning (as an inferred fact would make it)."""
    return [dataclasses.replace(r, severity="warn") if r.rule == WARNED_FAMILY else r
            for r in build_rules(catalog, mt, **kw)]


@pytest.fixture(scope="module")
def warned(env, probe_catalog):
    mp = pytest.MonkeyPatch()
    # Both consumers of the rule list: the SQL pass (check) and the GX suite writer (suites).
    mp.setattr(check, "build_rules", _with_warnings)
    mp.setattr(suites, "build_rules", _with_warnings)
    try:
        env.make_view(probe_catalog, PROBE, rows(probe_catalog.get(PROBE).staging_columns))
        settings = env.with_settings(split_disclosure=True)
        report = run_preflight(env.warehouse, probe_catalog, [PROBE], RUN, settings)
    finally:
        mp.undo()
    q = ("select source_row_key, rule, column_name, value, message from {} where run_id = :r and mapping_type = :m")
    p = {"r": RUN, "m": PROBE}
    return (env, settings, report, env.warehouse.fetchall(q.format(report.rejects_relation), p),
            env.warehouse.fetchall(q.format(report.warnings_relation), p))


def _by_key(found):
    out: dict = {}
    for key, rule, column, *_ in found:
        out.setdefault(key, set()).add((rule, column))
    return out


def test_warn_rules_write_warnings_not_rejects(warned):
    _, _, _, rejects, warnings = warned
    want = {k: v for k, v in expected().items() if v}
    want_rejects = {k: {x for x in v if x[0] != WARNED_FAMILY} for k, v in want.items()}
    want_warnings = {k: {x for x in v if x[0] == WARNED_FAMILY} for k, v in want.items()}
    assert _by_key(rejects) == {k: v for k, v in want_rejects.items() if v}
    assert _by_key(warnings) == {k: v for k, v in want_warnings.items() if v}
    assert warnings and all(f"(rule {WARNED_FAMILY}, class " in m for *_, m in warnings)


def test_rows_with_only_warnings_are_still_sent(warned):
    env, _, report, _, warnings = warned
    res = report.results[PROBE]
    only_warned = {k for k, v in expected().items() if v and all(r == WARNED_FAMILY for r, _ in v)}
    assert only_warned, "the probe must have rows that break only a format rule"
    good = {k for k, (_, exp) in CASES.items() if not exp}
    sent = {r[0] for r in env.warehouse.fetchall(f"select source_row_key from ({res.passing_rows_sql}) p")}
    assert sent == good | only_warned
    assert res.rows_rejected == res.rows_checked - len(sent)
    # rows_warned: rows with a warning that were still sent (a row another rule rejects is not "sent with a warning")
    assert res.rows_warned == len({k for k, *_ in warnings} & sent) > 0
    assert {k for k, *_ in warnings} - sent  # the probe also has warned rows that a rule rejects
    assert WARNED_FAMILY in res.rules_warned and WARNED_FAMILY not in res.rules_failed
    assert not res.blocked, res.block_reasons
    assert f"warned {res.rows_warned:>8}" in report.summary() and "with warnings" in report.summary()


def test_gx_marks_them_as_warnings_and_agrees_with_sql(warned):
    env, settings, report, _, warnings = warned
    res = report.results[PROBE]
    fmt = [o for o in res.outcomes if o.rule == WARNED_FAMILY]
    assert fmt and all(o.severity == "warn" for o in fmt)
    assert all(o.severity == "reject" for o in res.outcomes if o.rule != WARNED_FAMILY)
    assert sum(o.rows for o in fmt) == len(warnings)
    assert all(o.gx_unexpected == o.rows for o in res.outcomes if o.rows is not None)
    suite = json.loads((suites_dir(gx_root(settings)) / f"{suite_name(PROBE)}.json").read_text())
    sev = {e["meta"]["key"]: e["severity"] for e in suite["expectations"]}
    assert {k for k, s in sev.items() if s == "warning"} == {o.key for o in fmt}
    page = open(report.data_docs_pages[PROBE], encoding="utf-8").read()
    assert "Warnings (rows still sent)" in page and "warning (rows still sent)" in page
    assert "WARNING (rows still sent" in page  # the expectation's own description, as GX renders it


def test_rerun_replaces_the_warnings(warned, probe_catalog):
    env, settings, report, _, warnings = warned
    mp = pytest.MonkeyPatch()
    mp.setattr(check, "build_rules", _with_warnings)
    try:
        run_preflight(env.warehouse, probe_catalog, [PROBE], RUN, settings, gx=False)
    finally:
        mp.undo()
    n = env.warehouse.scalar(f"select count(*) from {report.warnings_relation} where run_id = :r", {"r": RUN})
    assert n == len(warnings)
    # the same run without warn rules: the format failures are rejects again, no warnings left
    run_preflight(env.warehouse, probe_catalog, [PROBE], RUN, settings, gx=False)
    assert env.warehouse.scalar(f"select count(*) from {report.warnings_relation} where run_id = :r", {"r": RUN}) == 0


def _one_odd_shape(catalog, mt, **kw):
    """The real rules, with the first format rule's query in a shape the one pass does not parse."""
    out, done = [], False
    for r in build_rules(catalog, mt, **kw):
        if r.rule == WARNED_FAMILY and not done:
            r, done = dataclasses.replace(r, query="select  " + r.query[len("select "):]), True
        out.append(r)
    return out


def test_a_rule_of_another_shape_still_runs_and_gx_agrees(env, probe_catalog):
    """A template the pass cannot split runs as its own queries; GX then reads the whole view's copy."""
    mp = pytest.MonkeyPatch()
    mp.setattr(check, "build_rules", _one_odd_shape)
    mp.setattr(suites, "build_rules", _one_odd_shape)
    try:
        env.make_view(probe_catalog, PROBE, rows(probe_catalog.get(PROBE).staging_columns))
        report = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-odd", env.with_settings(split_disclosure=True))
    finally:
        mp.undo()
    res = report.results[PROBE]
    got = _by_key(env.warehouse.fetchall(
        f"select source_row_key, rule, column_name from {report.rejects_relation} where run_id = 'run-odd'"))
    assert got == {k: v for k, v in expected().items() if v}
    assert not res.blocked, res.block_reasons
    assert all(o.gx_unexpected == o.rows for o in res.outcomes if o.rows is not None)
    assert env.warehouse.scalar(f"select count(*) from {res.gx_batch}") == res.rows_checked
