"""One writer per ledger and VAN target: a second `vanbulk run` (or `status`, `retry-failed`...) says who holds
it instead of failing on a file lock or racing the first to VAN.

* DuckDB: an OS lock on ``<file>.vanbulk-lock`` (``filelock``; released by the OS when the process dies, so a
  killed run never leaves a stale lock); who holds it is written beside it (``.vanbulk-lock.json``), since
  the DuckDB file itself cannot be read while its writer has it open.
* PostgreSQL: a session advisory lock keyed by (ledger schema, VAN target), held on a connection of its own
  for the whole command (released when the connection closes, also on a crash); who holds it is the ledger's
  ``running`` row in ``van_bulk_runs``.
* Other engines: no lock (documented).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from connector.errors import ConnectorError
from connector.ledger.schema import RUNS

__all__ = ["RunLock", "RunLocked", "holder_info"]


class RunLocked(ConnectorError):
    """Another vanbulk command holds the writer lock of this ledger and VAN target."""


def holder_info(run_id: str | None = None) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id,
            "started_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")}


def _describe(info: dict | None) -> str:
    if not info:
        return "another vanbulk command is in progress on this warehouse and VAN target"
    return (f"another vanbulk run (pid {info.get('pid')} on {info.get('host')}, started at "
            f"{info.get('started_at')} UTC" + (f", run {info['run_id']}" if info.get("run_id") else "")
            + ") is in progress on this warehouse and VAN target")


class RunLock:
    def __init__(self, warehouse, schema: str, api_target: str):
        self.wh, self.schema, self.api_target = warehouse, schema, api_target
        self._file_lock = None
        self._conn = None
        self._info_path: Path | None = None

    @property
    def key(self) -> int:
        digest = hashlib.sha256(f"vanbulk|{self.schema}|{self.api_target}".encode()).digest()
        return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF

    def acquire(self, run_id: str | None = None) -> "RunLock":
        if self.wh.dialect == "duckdb" and self.wh.duckdb_path and self.wh.duckdb_path != ":memory:":
            from filelock import FileLock, Timeout

            base = Path(self.wh.duckdb_path)
            self._file_lock = FileLock(str(base) + ".vanbulk-lock", timeout=0)
            self._info_path = Path(str(base) + ".vanbulk-lock.json")
            try:
                self._file_lock.acquire()
            except Timeout:
                info = None
                try:
                    info = json.loads(self._info_path.read_text())
                except (OSError, ValueError):
                    pass  # the holder has not written who it is yet: the message says "another command"
                self._file_lock = None
                raise RunLocked(_describe(info) + "; wait for it to end (`vanbulk status` then shows its jobs)") \
                    from None
            self._info_path.write_text(json.dumps(holder_info(run_id)))
        elif self.wh.dialect == "postgresql":
            self._conn = self.wh.engine.connect()
            got = self._conn.execute(sa.text("select pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            self._conn.commit()
            if not got:
                self._conn.close()
                self._conn = None
                raise RunLocked(_describe(self._running_run()) + "; wait for it to end "
                                "(`vanbulk status` then shows its jobs)")
        return self

    def _running_run(self) -> dict | None:
        try:
            with self.wh.connect() as c:
                row = c.execute(sa.text(
                    f"select run_id, pid, host, invoked_at from {self.wh.relation(RUNS, self.schema)} "
                    "where status = 'running' and api_target = :t order by invoked_at desc limit 1"),
                    {"t": self.api_target}).mappings().first()
        except sa.exc.SQLAlchemyError:
            return None
        return {"run_id": row["run_id"], "pid": row["pid"], "host": row["host"],
                "started_at": str(row["invoked_at"])[:19]} if row else None

    def release(self) -> None:
        if self._file_lock is not None:
            if self._info_path is not None:
                self._info_path.unlink(missing_ok=True)
            self._file_lock.release()
            self._file_lock = None
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
