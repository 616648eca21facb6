"""Wrapped output lines stay usable when copied: a backticked command is never split, and an SQL hint's trailing
comment is continued as comments (a pasted hint must run, not fail on the comment's second line)."""

from __future__ import annotations

import duckdb

from connector.text_table import wrap

KEY = "13b7a1bc56324c668318e56af4de2c48"


def test_a_backticked_command_stays_on_one_line():
    line = (f"ActivistCode: 2 row(s) in job {KEY} whose POST may have reached VAN: settle it with "
            f"`vanbulk resolve {KEY} --van-job-id N` (find the job in VAN) or `vanbulk resolve {KEY} --not-at-van`")
    out = wrap(line, 100)
    assert f"`vanbulk resolve {KEY} --van-job-id N`" in out.splitlines()[1]
    assert f"`vanbulk resolve {KEY} --not-at-van`" in out.splitlines()[2]
    assert " ".join(out.split()) == " ".join(line.split())


def test_a_wrapped_sql_hint_still_runs_as_printed():
    hint = (f"  select 1 as n from (select 'x' as run_id) t where run_id <> '{KEY}';  -- 11 row(s) sent with a "
            "warning: rules on facts only inferred about VAN (strict_inferred_rules to reject)")
    out = wrap(hint, 100)
    assert len(out.splitlines()) > 1 and all(len(line) <= 100 for line in out.splitlines())
    assert all(line.lstrip().startswith("--") for line in out.splitlines()[1:])
    assert duckdb.connect().execute(out).fetchall() == [(1,)]
