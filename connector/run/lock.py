"""One writer per ledger and VAN target: a second `vanbulk run` (or `status`, `retry-failed`...) says who holds
it instead of failing on a file lock or racing the first to VAN.

How the lock is held is the engine's (``Engine.try_lock``): DuckDB an OS lock beside the file (who holds it is
written beside it), PostgreSQL a session advisory lock keyed by (ledger schema, VAN target), BigQuery a lease
row. Where the engine cannot say who holds it, the ledger's ``running`` row in ``van_bulk_runs`` does.
"""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import datetime, timezone

import sqlalchemy as sa

from connector.errors import ConnectorError
from connector.ledger.schema import RUNS
from connector.ledger.states import RunStatus

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
        self._held = None

    @property
    def key(self) -> int:
        digest = hashlib.sha256(f"vanbulk|{self.schema}|{self.api_target}".encode()).digest()
        return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF

    def acquire(self, run_id: str | None = None) -> "RunLock":
        held, info = self.wh.ops.try_lock(self.wh, key=self.key, holder=holder_info(run_id))
        if held is None:
            raise RunLocked(_describe(info or self._running_run()) + "; wait for it to end "
                            "(`vanbulk status --watch` follows it)")
        self._held = held
        return self

    def _running_run(self) -> dict | None:
        try:
            with self.wh.connect() as c:
                row = c.execute(sa.text(
                    f"select run_id, pid, host, invoked_at from {self.wh.relation(RUNS, self.schema)} "
                    f"where status = '{RunStatus.RUNNING}' and api_target = :t order by invoked_at desc limit 1"),
                    {"t": self.api_target}).mappings().first()
        except sa.exc.SQLAlchemyError:
            return None
        return {"run_id": row["run_id"], "pid": row["pid"], "host": row["host"],
                "started_at": str(row["invoked_at"])[:19]} if row else None

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()
