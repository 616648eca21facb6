"""A view's check carried over from its last check when its rows and rules are unchanged (connector/preflight/
reuse.py), on DuckDB and PostgreSQL: the same findings, counts, rows to send and GX verdict as a fresh check,
without the rule pass or GX; checked again whenever a row, a rule or the recorded findings changed."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime

import pytest
import sqlalchemy as sa

from connector.preflight import run_preflight
from tests.preflight.probe import PROBE, rows

FINDINGS = "source_row_key, rule, column_name, value, message"


@pytest.fixture()
def probe_view(env, probe_catalog):
    env.make_view(probe_catalog, PROBE, rows(probe_catalog.get(PROBE).staging_columns))
    return env, env.with_settings(split_disclosure=True)


@contextmanager
def statements(warehouse):
    """Every statement the run's warehouse sends (GX's own engine is another one: see ``gx_ran``)."""
    seen: list[str] = []
    listen = lambda conn, cursor, stmt, *a: seen.append(stmt)  # noqa: E731
    sa.event.listen(warehouse.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(warehouse.engine, "before_cursor_execute", listen)


def _check(env, catalog, settings, run_id, **kw):
    with statements(env.warehouse) as seen:
        report = run_preflight(env.warehouse, catalog, [PROBE], run_id, settings, reuse=True, **kw)
    return report, report.results[PROBE], seen


def _findings(env, report, run_id, table="rejects"):
    rel = report.rejects_relation if table == "rejects" else report.warnings_relation
    return sorted((tuple(r) for r in env.warehouse.fetchall(
        f"select {FINDINGS} from {rel} where run_id = :r and mapping_type = :m", {"r": run_id, "m": PROBE})), key=repr)


def _sent(env, res):
    return sorted((tuple(r) for q in (res.split_rows_sql or [res.passing_rows_sql]) for r in env.warehouse.fetchall(q)),
                  key=repr)


def _verdict(res):
    keep = ("rows_checked", "rows_rejected", "rows_warned", "rules_failed", "rules_warned", "passing_count", "split",
            "split_categories", "columns_left_out", "blocked")
    return {k: getattr(res, k) for k in keep} | {"outcomes": [asdict(o) for o in res.outcomes]}


def _rule_pass_ran(seen) -> bool:
    return any("van_preflight_batch__" in s for s in seen)


def test_an_unchanged_view_is_carried_over_with_the_same_verdict(probe_view, probe_catalog):
    env, settings = probe_view
    first_report, first, seen = _check(env, probe_catalog, settings, "reuse-a1")
    assert first.carried_from == "" and _rule_pass_ran(seen)
    assert first.outcomes and all(o.gx_success is not None for o in first.outcomes if o.in_suite and o.rows is not None)

    report, again, seen = _check(env, probe_catalog, settings, "reuse-a2")
    assert again.carried_from == "reuse-a1"
    assert not _rule_pass_ran(seen), [s for s in seen if "van_preflight_batch__" in s]
    assert _verdict(again) == _verdict(first)  # counts, outcomes (GX's verdict too), the split into two files
    assert _findings(env, report, "reuse-a2") == _findings(env, first_report, "reuse-a1") != []
    assert _sent(env, again) == _sent(env, first) != []  # each query names its own run's rejects
    assert "reuse-a2" in again.passing_rows_sql
    assert report.data_docs_pages[PROBE] == first_report.data_docs_pages[PROBE]  # the page GX wrote for the check
    # the next run carries this run's record, not the first's (the chain never reaches back)
    assert _check(env, probe_catalog, settings, "reuse-a3")[1].carried_from == "reuse-a2"


def test_a_changed_row_is_checked_again(probe_view, probe_catalog):
    env, settings = probe_view
    _check(env, probe_catalog, settings, "reuse-b1")
    src = env.warehouse.relation(f"src_{probe_catalog.get(PROBE).staging_view}", settings.staging_schema)
    env.warehouse.execute(f"update {src} set \"Notes\" = 'fixed' where source_row_key = 'bad-control'")
    report, res, seen = _check(env, probe_catalog, settings, "reuse-b2")
    assert res.carried_from == "" and _rule_pass_ran(seen)
    keys = {r[0] for r in _findings(env, report, "reuse-b2")}
    assert "bad-control" not in keys and "bad-phone3" in keys
    assert _check(env, probe_catalog, settings, "reuse-b3")[1].carried_from == "reuse-b2"


@pytest.mark.parametrize("change", ["strict_inferred_rules", "split_disclosure", "static value"])
def test_a_change_of_rules_or_settings_is_checked_again(probe_view, probe_catalog, change):
    env, settings = probe_view
    _check(env, probe_catalog, settings, f"reuse-c1-{change}")
    kw = {}
    if change == "static value":
        kw["static_values"] = {PROBE: {"CommitteeID": "77"}}
    else:
        settings = settings.replace(**{change: not getattr(settings, change)})
    res = _check(env, probe_catalog, settings, f"reuse-c2-{change}", **kw)[1]
    assert res.carried_from == ""


def test_findings_changed_since_their_record_make_the_view_checked_again(probe_view, probe_catalog):
    env, settings = probe_view
    first_report, first, _ = _check(env, probe_catalog, settings, "reuse-d1")
    env.warehouse.execute(f"delete from {first_report.rejects_relation} where run_id = 'reuse-d1' "
                          "and source_row_key = 'bad-control'")
    report, res, seen = _check(env, probe_catalog, settings, "reuse-d2")
    assert res.carried_from == "" and _rule_pass_ran(seen)
    assert "bad-control" in {r[0] for r in _findings(env, report, "reuse-d2")}
    assert _verdict(res) == _verdict(first)


def test_a_check_without_gx_or_in_a_dry_run_is_never_carried(probe_view, probe_catalog):
    env, settings = probe_view
    src = env.warehouse.relation(f"src_{probe_catalog.get(PROBE).staging_view}", settings.staging_schema)
    env.warehouse.execute(f"update {src} set \"Notes\" = 'only here' where source_row_key = 'bad-control'")
    assert _check(env, probe_catalog, settings, "reuse-e1", gx=False)[1].carried_from == ""  # GX never agreed
    assert _check(env, probe_catalog, settings, "reuse-e2")[1].carried_from == ""
    dry = _check(env, probe_catalog, settings, "reuse-e3", dry_run=True)[1]
    assert dry.carried_from == ""  # a dry run checks, and records nothing
    assert _check(env, probe_catalog, settings, "reuse-e4")[1].carried_from == "reuse-e2"


def test_without_reuse_every_view_is_checked_and_recorded_only_when_asked(probe_view, probe_catalog):
    env, settings = probe_view
    _check(env, probe_catalog, settings, "reuse-f1")
    with statements(env.warehouse) as seen:  # the default (validate): checks, records nothing
        res = run_preflight(env.warehouse, probe_catalog, [PROBE], "reuse-f2", settings).results[PROBE]
    assert res.carried_from == "" and _rule_pass_ran(seen)
    assert _check(env, probe_catalog, settings, "reuse-f3")[1].carried_from == "reuse-f1"
    with statements(env.warehouse) as seen:  # `vanbulk run --recheck`: checks, and records for the next run
        res = run_preflight(env.warehouse, probe_catalog, [PROBE], "reuse-f4", settings, reuse=False,
                            record=True).results[PROBE]
    assert res.carried_from == "" and _rule_pass_ran(seen)
    assert _check(env, probe_catalog, settings, "reuse-f5")[1].carried_from == "reuse-f4"


def test_rejects_a_later_step_of_the_run_added_are_not_carried(probe_view, probe_catalog):
    """A combined job or a missing static value adds rejects after pre-flight (at its own time): the next run
    makes those itself; it carries only what the earlier pre-flight found."""
    env, settings = probe_view
    first_report, _, _ = _check(env, probe_catalog, settings, "reuse-g1")
    found = _findings(env, first_report, "reuse-g1")
    env.warehouse.execute(
        f"insert into {first_report.rejects_relation} (run_id, mapping_type, source_row_key, rule, column_name, "
        f"value, message, checked_at) values ('reuse-g1', :m, 'ok-01', 'combined_key', null, null, 'later', :t)",
        {"m": PROBE, "t": datetime(2030, 1, 1)})
    report, res, seen = _check(env, probe_catalog, settings, "reuse-g2")
    assert res.carried_from == "reuse-g1" and not _rule_pass_ran(seen)
    assert _findings(env, report, "reuse-g2") == found
