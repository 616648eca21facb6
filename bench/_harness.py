"""What every benchmark shares: each measurement runs in its own process, so the peak RSS read at its end
belongs to that measurement alone, and reports one JSON line back to the parent."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from typing import Callable


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: ``VmHWM`` of /proc/self/status, because ``ru_maxrss`` of a
    child also counts the parent's memory at fork time (the exec'd image inherits the fork's high-water
    mark): a bench parent that built a 1M-row database first made every child read at least that much."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(module: str, *args: str) -> dict:
    """Run ``python -m <module> --child <args>`` and return the dict its ``child`` function produced."""
    r = subprocess.run([sys.executable, "-m", module, "--child", *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{module} {' '.join(args[:1])} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def entry_point(child: Callable[..., dict], main: Callable[[], int]) -> None:
    """The ``if __name__ == "__main__"`` block: ``--child ARGS`` measures once, otherwise run the comparison."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:])))
        sys.exit(0)
    sys.exit(main())


def stage_timer() -> tuple[dict[str, float], Callable[[str, Callable], Callable]]:
    """``(spent, timed)``: ``timed(stage, fn)`` wraps ``fn`` so the seconds spent in it add up in ``spent[stage]``
    (the benches wrap the run's step functions to split a whole run into its stages)."""
    import collections
    import functools
    import time

    spent: dict[str, float] = collections.defaultdict(float)

    def timed(stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[stage] += time.perf_counter() - t
        return wrapper

    return spent, timed


def pg_database(server_url: str, prefix: str):
    """A fresh database on the PostgreSQL server at ``server_url``: (url, drop), or (None, why not) when no server
    answers (the bench then skips its PostgreSQL rows and says so)."""
    import uuid

    import sqlalchemy as sa

    try:
        admin = sa.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://", 1),
                                 poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(sa.text(f'create database "{name}"'))
    except Exception as exc:  # noqa: BLE001 - no server: said by the caller
        return None, str(exc).splitlines()[0]

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()

    return server_url.rsplit("/", 1)[0] + "/" + name, drop


def seed_simulator_contacts(project, rows: int) -> None:
    """VAN already holds the contacts (VanIDs 100001...): the embedded simulator's store, written directly."""
    import sqlite3
    from pathlib import Path

    from connector.simulator.store import Store

    state = Path(project) / ".vanbulk" / "simulator"
    store = Store(state)  # creates the store's tables
    del store
    with sqlite3.connect(state / "simulator.sqlite3") as db:
        db.execute(f"with recursive n(x) as (select 100001 union all select x + 1 from n where x < {100000 + rows}) "
                   "insert or ignore into contacts (van_id, fields) select x, '{}' from n")
