"""GX's verdict is its own evaluation: when it disagrees with the rows the SQL pass wrote (here: a failing row
removed from the batch table between the pass and the checkpoint, as a bug or a concurrent change would),
the mapping type is blocked, on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest

from connector.preflight import run_preflight
from connector.preflight import runner
from tests.preflight.probe import PROBE, rows


def test_gx_disagreement_blocks(env, probe_catalog):
    env.make_view(probe_catalog, PROBE, rows(probe_catalog.get(PROBE).staging_columns))
    real = runner.run_checkpoint
    removed = []

    def checkpoint_after_a_change(warehouse, catalog, settings, run_id, targets):
        for mt, view, table, schema in targets:
            rel = warehouse.relation(table, schema)
            removed.append(warehouse.scalar(f"select source_row_key from {rel} where source_row_key = 'bad-parent'"))
            warehouse.execute(f"delete from {rel} where source_row_key = 'bad-parent'")
        return real(warehouse, catalog, settings, run_id, targets)

    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "run_checkpoint", checkpoint_after_a_change)
    try:
        res = run_preflight(env.warehouse, probe_catalog, [PROBE], "run-disagree",
                            env.with_settings(split_disclosure=True)).results[PROBE]
    finally:
        mp.undo()
    assert removed == ["bad-parent"]
    assert res.blocked
    assert any("GX and the rejects table disagree on parent_required:Occupation" in r for r in res.block_reasons), \
        res.block_reasons
    out = {o.key: o for o in res.outcomes}["parent_required:Occupation:Employer"]
    assert (out.rows, out.gx_unexpected) == (1, 0)
    assert env.warehouse.fetchall(res.passing_rows_sql) == []
