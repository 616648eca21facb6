"""Heavy imports (Great Expectations: about 4 s) made on a thread while the main thread waits for something else
(dbt's subprocess), and ``wait()`` before the main thread uses them.

Why the wait: Python's per-module import locks do not make two threads importing one package safe when the package
imports itself in a cycle, as GX does. When the main thread reaches ``import great_expectations`` while the thread is
half-way through it, the import system's deadlock avoidance hands one of them a partially initialised module
("cannot import name 'ExecutionEngine' from partially initialized module"): seen when a scheduled run carried every
view's check over and reached GX a second after starting. Waiting first costs nothing the import would not cost.
"""

from __future__ import annotations

import importlib
import logging
import threading

log = logging.getLogger(__name__)

_threads: list[threading.Thread] = []
_lock = threading.Lock()

__all__ = ["start", "wait"]


def start(*modules: str) -> None:
    """Import ``modules`` in order on a daemon thread; an error is raised again by the main thread's own import."""

    def load() -> None:
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - the main thread's import reports it
                log.debug("background import of %s failed", module, exc_info=True)
                return

    thread = threading.Thread(target=load, name="vanbulk-import", daemon=True)
    with _lock:
        _threads.append(thread)
    thread.start()


def wait() -> None:
    """Return once every import started here has finished (at once when none was started)."""
    with _lock:
        pending, _threads[:] = list(_threads), []
    for thread in pending:
        thread.join()
