"""The run's summary fits a 100-column terminal and loses nothing: every mapping type, every count, every job."""

from __future__ import annotations

import re

from connector.catalog import load_catalog
from connector.run.summary import RunSummary

RUN_ID = "0123456789abcdef0123456789abcdef"


def _demo_like_summary() -> RunSummary:
    """All 21 catalogue mapping types of database mode 1, counts up to millions, 22 jobs, long messages."""
    s = RunSummary(RUN_ID, status="completed_with_failures", simulated=True, schema="van_ledger",
                   duckdb_path="/srv/sync/vanbulk.duckdb")
    names = [m.name for m in load_catalog().for_database_mode(1)]
    assert len(names) >= 21
    job = 50000
    for i, name in enumerate(names):
        m = s.mt(name)
        m.rows_checked, m.rejected, m.unchanged = 1_234_567 + i, 23 + i, 100_000 + i
        m.sent, m.processed, m.failed, m.not_in_results = 1_100_000 + i, 1_099_000 + i, 26 + i, 3 + i
        m.pending, m.refused, m.dropped, m.warned = 7 + i, 2 + i, 5, 1
        m.plan = {"new": 1000 + i, "in_flight": 4}
        m.van_job_ids = [job + 1, job + 2] if i == 0 else [job + 1]
        job += len(m.van_job_ids)
    s.mt(names[1]).blocked = True
    s.messages.append(f"26 row(s) VAN failed, dropped or refused in this run: the next `vanbulk run` sends them again "
                      f"(up to 3 tries per version), or now: `vanbulk retry-failed --run {RUN_ID}`")
    return s


def test_summary_fits_100_columns_and_keeps_every_value():
    s = _demo_like_summary()
    out = s.render(100)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100, "\n".join(line for line in lines if len(line) > 100)
    assert "…" not in out  # nothing cut short with an ellipsis
    rule = next(i for i, line in enumerate(lines) if set(line) == {"─"})
    end = next(i for i, line in enumerate(lines) if line.startswith("VAN jobs"))
    rows: list[tuple[str, list[str]]] = []  # (name as its lines join up, the counts on its first line)
    for line in lines[rule + 1:end]:
        first, *rest = line.split()
        if rest:  # a row: the name's first part, then its counts (never wrapped)
            rows.append((first + " ".join(rest[:-10]), rest[-10:]))
        else:  # the name's next part, under its first
            rows[-1] = (rows[-1][0] + first, rows[-1][1])
    assert [name.replace("(blocked)", "") for name, _ in rows] == list(s.mapping_types)
    for (name, counts), m in zip(rows, s.mapping_types.values()):
        assert counts == [str(c) for c in (m.rows_checked, m.rejected, m.unchanged, m.held, m.sent, m.processed,
                                           m.failed, m.not_in_results, m.pending + m.ambiguous, m.refused)], name
        assert name.endswith("(blocked)") == m.blocked
    jobs = [str(j) for m in s.mapping_types.values() for j in m.van_job_ids]
    for j in jobs:  # every job named once
        assert len(re.findall(rf"\b{j}\b", out)) == 1, j
    assert f"vanbulk retry-failed --run {RUN_ID}`" in out  # a command is never broken across lines
    assert f"van_ledger.van_bulk_plan_counts where run_id =\n      '{RUN_ID}'" in out  # SQL hints keep the detail
