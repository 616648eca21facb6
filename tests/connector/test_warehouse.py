"""The warehouse handle: a run keeps its DuckDB file open and lets it go for dbt; Ctrl-C inside a DuckDB
statement is a KeyboardInterrupt, not an error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from connector.warehouse import Warehouse

OPEN_FROM_ANOTHER_PROCESS = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"


def _other_process_can_open(path) -> bool:
    return subprocess.run([sys.executable, "-c", OPEN_FROM_ANOTHER_PROCESS, str(path)],
                          capture_output=True).returncode == 0


def test_kept_open_holds_the_file_and_released_lets_dbt_have_it(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse(f"duckdb:///{path}") as wh:
        wh.execute("create table t as select 1 as x")
        assert _other_process_can_open(path)  # between statements, nothing is held
        with wh.kept_open():
            assert wh.scalar("select x from t") == 1
            assert not _other_process_can_open(path)
            with wh.released():  # what dbt gets
                assert _other_process_can_open(path)
            assert not _other_process_can_open(path)  # taken again
            with wh.kept_open():  # nested: the outermost block decides
                pass
            assert not _other_process_can_open(path)
        assert _other_process_can_open(path)


def test_ctrl_c_inside_a_duckdb_statement_is_a_keyboard_interrupt(tmp_path):
    wh = Warehouse(f"duckdb:///{tmp_path}/w.duckdb")
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wh.scalar("select count(*) from range(100000000000) a, range(10) b")
    finally:
        timer.cancel()
        wh.dispose()
