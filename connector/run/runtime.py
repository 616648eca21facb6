"""What a run works with: settings, warehouse, ledger, VAN client, file host, catalogue.

Without ``VAN_API_KEY`` (``settings.simulated``) the embedded VAN simulator is started (demo credentials,
state under ``state_dir/simulator``) and the run says so; tests inject ``client`` / ``host`` instead.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from connector.catalog import Catalog, load_catalog
from connector.config import SIMULATOR_DEMO_APPLICATION, SIMULATOR_DEMO_KEY, Settings
from connector.events import Echo, Events
from connector.hosting import Host, open_host
from connector.ledger import Ledger
from connector.redaction import strip_query
from connector.run.lock import RunLock
from connector.van_client import VanClient
from connector.errors import ConfigError
from connector.warehouse import Warehouse
from connector.warehouse.engines import engine_for_url

logger = logging.getLogger(__name__)

__all__ = ["Echo", "Runtime", "runtime"]


@dataclass
class Runtime:
    settings: Settings
    warehouse: Warehouse
    ledger: Ledger
    client: VanClient | None
    host: Host | None
    catalog: Catalog
    echo: Echo
    api_target: str
    simulator: Any = None
    sleep: Callable[[float], None] = time.sleep
    events: Events = field(default_factory=Events)


@contextmanager
def runtime(settings: Settings, *, echo: Echo | None = None, need_van: bool = True, need_host: bool = True,
            client: VanClient | None = None, host: Host | None = None, storage_options: dict | None = None,
            simulator_config: Any = None, sleep: Callable[[float], None] = time.sleep, exclusive: bool = True,
            run_id: str | None = None) -> Iterator[Runtime]:
    """``exclusive``: hold the writer lock of this ledger and VAN target for the whole command (run/lock.py);
    a second writer fails at once with who holds it, before dbt, pre-flight or any ledger write."""
    events = Events(echo)  # without echo: log records only (the CLI's terminal handler shows them)
    echo = events.say
    with ExitStack() as stack:
        # The warehouse and the writer lock first: a second writer stops here, before anything starts.
        ops = engine_for_url(settings.warehouse_url)
        if ops is not None and ops.run_unsupported:  # a run path not complete on this engine: refused up front
            raise ConfigError(ops.run_unsupported)
        wh = Warehouse(settings.warehouse_url, settings.results_schema)
        # The VAN target identifies where jobs went; the simulator's port changes per run, its identity not.
        target = "simulator" if settings.simulated else strip_query(settings.api_base_url)
        ledger = Ledger(wh, settings.results_schema, api_target=target, database_mode=settings.database_mode)
        if exclusive:
            try:
                lock = RunLock(wh, ledger.schema, target).acquire(run_id)
            except BaseException:
                wh.dispose()
                raise
            stack.callback(lock.release)  # after the warehouse is closed (the stack unwinds in reverse)
        stack.enter_context(wh)
        if exclusive:  # the writer owns the ledger for the whole command: keep the DuckDB file open (warehouse)
            stack.enter_context(wh.kept_open())
            stack.enter_context(wh.introspection_cached())  # one catalogue query per schema (warehouse)
        sim = None
        if settings.simulated and need_van and client is None:
            from connector.logging_setup import simulator_log
            from connector.simulator import SimulatorConfig, SimulatorServer

            sim_log = stack.enter_context(simulator_log(settings.state_dir))  # its own file, not the terminal
            sim = stack.enter_context(SimulatorServer(
                state_dir=Path(settings.state_dir) / "simulator", host="127.0.0.1", port=0,
                config=simulator_config or SimulatorConfig()))
            settings = settings.replace(api_base_url=sim.base_url, application_name=SIMULATOR_DEMO_APPLICATION,
                                        api_key=SIMULATOR_DEMO_KEY, use_simulator=True,
                                        poll_interval_seconds=min(settings.poll_interval_seconds, 0.5),
                                        poll_max_interval_seconds=min(settings.poll_max_interval_seconds, 2.0))
            events.emit("van_target", f"No VAN_API_KEY set: using the embedded VAN simulator at {sim.base_url} "
                        f"(demo credentials; its state and log in {sim_log.parent})", simulated=True,
                        url=sim.base_url, log=str(sim_log))
        if client is None and need_van:
            client = stack.enter_context(VanClient.from_settings(settings, sleep=sleep))
        if host is None and need_host:
            host = stack.enter_context(open_host(settings, storage_options=storage_options))
            if host.name == "local" and not settings.simulated:
                events.emit("hosting_local", "hosting: local file host; VAN must be able to reach it (set "
                            "hosting_public_url or use s3://)", level=logging.WARNING)
        ledger.ensure()
        if exclusive:
            ledger.mark_dead_runs_interrupted(any_target=wh.ops.writer_lock == "file")  # one lock per file
        for note in ledger.notes:  # a run prints them once, in its summary
            events.emit("ledger_note", note, terminal=run_id is None)
        yield Runtime(settings, wh, ledger, client, host, load_catalog(), echo, target, sim, sleep, events)
