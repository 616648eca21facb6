"""The warehouse handle: a run keeps its DuckDB file open and lets it go for dbt; Ctrl-C inside a DuckDB
statement is a KeyboardInterrupt, not an error."""

from __future__ import annotations

import signal
import subprocess
import sys

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


CTRL_C_DURING_A_STATEMENT = """
import os, signal, sys, threading
from connector.warehouse import Warehouse
wh = Warehouse(f"duckdb:///{sys.argv[1]}")
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    wh.scalar("select count(*) from range(20000000000) a")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def test_ctrl_c_inside_a_duckdb_statement_is_a_keyboard_interrupt(tmp_path):
    """In its own process: the signal must reach the main thread running the statement (a pytest-xdist worker
    runs tests elsewhere), with SIGINT at its default disposition."""
    r = subprocess.run([sys.executable, "-c", CTRL_C_DURING_A_STATEMENT, str(tmp_path / "w.duckdb")],
                       capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert r.stdout.strip() == "KeyboardInterrupt", r.stdout + r.stderr


def test_an_invalid_transaction_left_by_ctrl_c_is_the_ctrl_c():
    """Under load a Ctrl-C landed inside SQLAlchemy mid-statement; leaving `begin()` then raised SQLAlchemy's
    "Can't reconnect until invalid transaction is rolled back" during the KeyboardInterrupt, and the run ended
    with that error (exit 2) instead of as interrupted (exit 130)."""
    import sqlalchemy as sa

    from connector.warehouse import _interrupted

    def raised_during_ctrl_c():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise sa.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back")

    try:
        raised_during_ctrl_c()
    except sa.exc.PendingRollbackError as exc:
        assert _interrupted(exc)
    assert not _interrupted(sa.exc.PendingRollbackError("a rollback the user did not cause"))
