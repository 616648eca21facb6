"""connector/background_import.py: ``wait()`` returns only once a background import has finished, so the main
thread never imports a package (GX) while another thread is half-way through it. The import is held open by an
explicit gate, never by timing."""

from __future__ import annotations

import sys
import threading
import types

from connector import background_import


def test_wait_returns_only_after_the_background_import_finished(tmp_path, monkeypatch):
    gate = types.ModuleType("_vanbulk_test_gate")
    gate.release, gate.entered = threading.Event(), threading.Event()
    monkeypatch.setitem(sys.modules, "_vanbulk_test_gate", gate)
    (tmp_path / "_vanbulk_slow_module.py").write_text(
        "import _vanbulk_test_gate as g\ng.entered.set()\ng.release.wait()\nDONE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "_vanbulk_slow_module", raising=False)

    background_import.start("_vanbulk_slow_module")
    assert gate.entered.wait(30)  # the thread is inside the module's import
    waited = threading.Event()
    waiter = threading.Thread(target=lambda: (background_import.wait(), waited.set()))
    waiter.start()
    # Still held: wait() has not returned. (A correct wait() never returns here whatever the machine's load; a
    # no-op one would return long before this second is up.)
    waiter.join(1.0)
    assert waiter.is_alive() and not waited.is_set()
    gate.release.set()
    waiter.join(30)
    assert waited.is_set() and sys.modules["_vanbulk_slow_module"].DONE
    background_import.wait()  # nothing left to wait for: returns at once
