"""A scheduled run leaves out ``dbt build`` when the same build already stands (connector/dbt_state.py), and builds
whenever anything it depends on changed: a seed, a view that went missing, ``--rebuild``, a node that depends on
the data. Proven from dbt's own log (dbt never started when it was left out) and from what the runs sent."""

from __future__ import annotations

import json

import pytest

from connector.run import run
from connector.warehouse import Warehouse
from tests.fixtures.demo import FAST, edit_seed, sent_by_type

SELECT = ["Email"]  # one type: the runs stay short; the build still parses the whole project


def _run(s, select=SELECT, **kw):
    lines: list[str] = []
    summary = run(s, select, simulator_config=FAST, echo=lines.append, **kw)
    assert summary.ok, summary.render()
    built = any("dbt build:" in ln and "node(s) OK" in ln for ln in lines)
    left_out = any("dbt build: left out" in ln for ln in lines)
    assert built != left_out, lines
    return summary, built


def _dbt_log_size(project) -> int:
    log = project / "dbt_project" / "logs" / "dbt.log"
    return log.stat().st_size if log.exists() else 0


def _record(s, run_id) -> dict:
    with Warehouse(s.warehouse_url) as wh:
        return json.loads(wh.scalar("select dbt_build_json from van_bulk_runs where run_id = :r", {"r": run_id}))


@pytest.mark.slow
def test_dbt_left_out_only_while_nothing_it_depends_on_changed(demo_after_first_run):
    project, s, _ = demo_after_first_run
    first, built = _run(s)  # another selection than the shared first run's (and another directory): a new build
    assert built and sent_by_type(first) == {}
    assert _record(s, first.run_id)["views"], _record(s, first.run_id)

    size = _dbt_log_size(project)
    again, built = _run(s)
    assert not built and _dbt_log_size(project) == size  # dbt never started
    with Warehouse(s.warehouse_url) as wh:
        assert wh.scalar("select dbt_build_json from van_bulk_runs where run_id = :r", {"r": again.run_id}) is None

    # a night's change in a seed file: built, and exactly the changed row sent
    edit_seed(project, "demo_email", replace=(" ben@work.example.com ", "ben@newjob.example.com"))
    changed, built = _run(s)
    assert built and sent_by_type(changed) == {"Email": 1}, changed.render()
    assert not _run(s)[1]

    # a build of another selection in between, from the same project: it rebuilt other views from the same SQL, so
    # this selection's build still stands (it used to build again after every other selection's run); the
    # recorded build it stands on is the Email one, and the other selection's record is not it
    other, built = _run(s, ["Phones"])
    assert built and _record(s, other.run_id)["base"] == _record(s, changed.run_id)["base"]
    assert _record(s, other.run_id)["fingerprint"] != _record(s, changed.run_id)["fingerprint"]
    assert not _run(s)[1] and not _run(s, ["Phones"])[1]

    # ...but a change between the two selections' builds ends the search: built again
    edit_seed(project, "demo_email", replace=("ben@newjob.example.com", "ben@other.example.com"))
    assert _run(s, ["Phones"])[1]
    assert _run(s)[1], "the Email views were last built before the change"
    assert not _run(s)[1]

    # a view dropped behind vanbulk's back: built again
    with Warehouse(s.warehouse_url) as wh:
        wh.execute("drop view van_staging.stg_van__email")
    assert _run(s)[1]
    with Warehouse(s.warehouse_url) as wh:
        assert wh.relation_exists("stg_van__email", "van_staging")
    assert _run(s, rebuild=True)[1]
    assert not _run(s)[1]

    # a node of the build that depends on the data (a table model) makes every run build, and the ledger says why
    (project / "dbt_project" / "models" / "van" / "a_table.sql").write_text(
        "{{ config(materialized='table') }}\nselect 1 as x\n")
    assert _run(s)[1]  # a new model file moves the fingerprint: built (the table is outside the selection)...
    assert not _run(s)[1]  # ...and then stands: the table never runs in this build
    with_table = SELECT + ["+a_table"]  # a dbt selector, passed through
    first_table, built = _run(s, with_table)
    assert built and "a_table is materialized as table" in _record(s, first_table.run_id)["why_built_every_run"]
    assert _run(s, with_table)[1]  # a build that makes the table runs every time
