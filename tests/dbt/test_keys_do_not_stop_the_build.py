"""Item: a blank or space-padded source_row_key never stops `dbt build` for every mapping type, and the view
keeps the key exactly as the source has it, so pre-flight can reject that one row with its reason."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connector.config import load_settings
from connector.dbt_runner import build, run_dbt
from tests.fixtures.demo import copy_demo_project, edit_seed


def test_blank_and_padded_keys_warn_and_reach_the_view(tmp_path: Path):
    project = copy_demo_project(tmp_path)
    edit_seed(project, "demo_activist_code", append=[
        ",2026-03-01 09:00:00,100001,4150001,,,,,",  # no key at all
        '" ac-001",2026-03-01 09:00:00,100002,4150001,,,,,',  # ac-001 with a leading space
    ])
    settings = load_settings(project, env={})
    result = build(settings)  # vanbulk's build leaves the key tests to pre-flight, which rejects those rows
    assert result.success and not result.failed_nodes
    tested = run_dbt(settings, ["test", "--select", "stg_van__activist_code"], check=False)  # as an analyst runs them
    assert tested.success and not tested.failed_nodes
    assert any("not_null_stg_van__activist_code__source_row_key" in n for n in tested.warned_nodes)
    with duckdb.connect(str(project / "vanbulk.duckdb"), read_only=True) as c:
        keys = {k for (k,) in c.sql("select source_row_key from van_staging.stg_van__activist_code").fetchall()}
    assert {"ac-001", " ac-001", None} <= keys  # two rows, not one trimmed into the other
