"""The simulator pauses Python's cyclic collector while jobs work, counted across its worker threads, and
gives it back as it found it (the embedded simulator shares the connector's process)."""

import gc

from connector.simulator.processing import _cyclic_gc_paused


def test_paused_while_any_job_works_then_restored():
    assert gc.isenabled()
    with _cyclic_gc_paused():
        with _cyclic_gc_paused():  # a second worker's job
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first job still works
    assert gc.isenabled()


def test_left_off_when_it_was_off():
    gc.disable()
    try:
        with _cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
