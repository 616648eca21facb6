"""The one-writer lock of engines with neither an OS file lock nor advisory locks (BigQuery, Snowflake): a table of
its own (``van_bulk_lock_<key>``) holding one lease row.

* Taken by ``CREATE TABLE`` without ``IF NOT EXISTS``: creating a table is atomic, so of two racing processes
  exactly one creates it (an INSERT or MERGE would not do: two concurrent inserts both land).
* Renewed every ``LEASE_SECONDS / 3`` while its holder lives; a lease not renewed for ``LEASE_SECONDS``, or whose
  holder ran on this machine and is gone, is taken over by a compare-and-set update of its row (``holder`` = the
  token read), which two racing takers cannot both win (the second updates no row, or conflicts).
* Released by dropping the table, if the lease is still ours.

An engine says how it spells the few parts that differ (``Engine.lease_spelling``); everything else is here once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import sqlalchemy as sa

from connector.warehouse.engines.base import LockHeld

__all__ = ["LEASE_SECONDS", "LOCK_TABLE", "LeaseSpelling", "dead_here", "lease_lock", "lock_table"]

log = logging.getLogger(__name__)

LOCK_TABLE = "van_bulk_lock"
LEASE_SECONDS = 300  # a lease not renewed for this long belongs to a process that died


@dataclass(frozen=True)
class LeaseSpelling:
    """What differs between engines: the lease table's column types, "now", the lease's age in seconds (over
    ``renewed_at``) and the conditional update ``(relation, SET list, holder literal) -> statement``."""

    text_type: str
    timestamp_type: str
    now: str
    age_seconds: str
    update_where_holder: Callable[[str, str, str], str]


def lock_table(key: int) -> str:
    return f"{LOCK_TABLE}_{int(key):016x}"


def dead_here(holder: Mapping[str, Any] | None) -> bool:
    """The lease's holder ran on this machine and its process is gone (killed, crashed): its lease need not
    run out first. A holder on another machine is judged by its lease's age only."""
    if not holder or holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def lease_lock(engine: Any, warehouse: Any, *, key: int, holder: Mapping[str, Any]
               ) -> tuple[LockHeld | None, dict | None]:
    """``(held, None)`` or ``(None, who holds it)``. Values are written as literals (the BigQuery emulator takes
    no query parameters); every write is committed at once (Snowflake's DML is transactional)."""
    sp: LeaseSpelling = engine.lease_spelling()
    lit = engine.literal
    schema = warehouse.default_schema
    name = lock_table(key)
    rel = f"{engine.quote(schema)}.{engine.quote(name)}"
    token = uuid.uuid4().hex
    info = json.dumps(dict(holder))
    create = sa.text(f"create table {rel} (holder {sp.text_type}, info {sp.text_type}, renewed_at {sp.timestamp_type})")
    with warehouse.connect() as c:
        try:
            c.execute(create)
            created = True
        except sa.exc.DBAPIError:
            c.rollback()
            if engine.relation_exists(c, schema, name):
                created = False
            else:  # a first run into a new schema or dataset: make it, then try once more
                c.execute(sa.text(engine.create_schema_sql(schema)))
                c.commit()
                c.execute(create)
                created = True
        if created:
            c.execute(sa.text(f"insert into {rel} (holder, info, renewed_at) values ({lit(token)}, {lit(info)}, "
                              f"{sp.now})"))
            c.commit()
        else:
            row = c.execute(sa.text(f"select holder, info, {sp.age_seconds} from {rel} "
                                    "order by renewed_at desc limit 1")).first()
            held_by = json.loads(row[1]) if row and row[1] else None
            if row is None or (int(row[2]) < LEASE_SECONDS and not dead_here(held_by)):
                c.rollback()
                return None, held_by  # alive (or its creator is still writing its row)
            try:  # taken over from a dead holder: compare-and-set on the token read
                c.execute(sa.text(sp.update_where_holder(
                    rel, f"holder = {lit(token)}, info = {lit(info)}, renewed_at = {sp.now}", lit(row[0]))))
                c.commit()
            except sa.exc.DBAPIError as exc:
                if not engine.is_concurrent_update(exc):
                    raise
                c.rollback()
            now = c.execute(sa.text(f"select holder, info from {rel} order by renewed_at desc limit 1")).first()
            c.rollback()
            if now is None or now[0] != token:
                return None, (json.loads(now[1]) if now and now[1] else None)
            log.warning("took over the writer lease %s from a holder that %s: %s", name,
                        "died on this machine" if dead_here(held_by) else f"stopped renewing it {row[2]} s ago",
                        row[1])

    stop = threading.Event()
    renew_sql = sa.text(sp.update_where_holder(rel, f"renewed_at = {sp.now}", lit(token)))

    def renew() -> None:  # the lease stays ours while this process lives; a dead one's expires
        while not stop.wait(LEASE_SECONDS / 3):
            try:
                with warehouse.connect() as c3:
                    c3.execute(renew_sql)
                    c3.commit()
            except Exception:  # noqa: BLE001 - retried at the next tick; the lease lasts three of them
                log.warning("could not renew the writer lease %s", name, exc_info=True)

    renewer = threading.Thread(target=renew, name="vanbulk-lease", daemon=True)
    renewer.start()

    def release() -> None:
        stop.set()
        renewer.join(timeout=30)
        with warehouse.connect() as c2:
            row = c2.execute(sa.text(f"select holder from {rel} order by renewed_at desc limit 1")).first()
            if row is not None and row[0] == token:  # still ours (not taken over after a long freeze)
                c2.execute(sa.text(f"drop table if exists {rel}"))
            c2.commit()

    return LockHeld(release), None
