"""Polling: status map incl. doc spellings, growing interval, timeout leaves jobs resumable, 404 grace."""

from __future__ import annotations

import pytest

from connector.errors import VanNotFound, VanServerError
from connector.poll import JobToPoll, internal_status, poll_jobs


@pytest.mark.parametrize("status,internal", [
    ("Pending", "running"), ("InProgress", "running"), ("InProgressWithErrors", "running"),
    ("Completed", "completed"), ("Complete", "completed"), ("CompletedWithErrors", "completed_with_errors"),
    ("CompletedWithError", "completed_with_errors"), ("Failed", "failed"), ("Error", "failed"), (None, "running")])
def test_status_map(status, internal):
    assert internal_status(status) == internal


class Clock:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.sleeps.append(s)
        self.t += s


class ScriptedClient:
    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}

    def get_job(self, job_id):
        step = self.script[job_id].pop(0) if len(self.script[job_id]) > 1 else self.script[job_id][0]
        if isinstance(step, Exception):
            raise step
        return {"id": job_id, "status": step}


def test_polls_until_terminal_with_growing_interval():
    clock = Clock()
    client = ScriptedClient({1: ["Pending", "InProgress", "InProgress", "CompletedWithErrors"],
                             2: [VanNotFound("x", 404), "Pending", "Failed"]})
    done = []
    left = poll_jobs(client, [JobToPoll("a", 1, 0.0), JobToPoll("b", 2, 0.0)], interval=10, max_interval=20,
                     timeout=3600, on_terminal=lambda j, b: done.append((j.van_job_id, b["status"])),
                     sleep=clock.sleep, clock=clock)
    assert left == [] and done == [(2, "Failed"), (1, "CompletedWithErrors")]
    assert clock.sleeps == [10, 15, 20]


def test_timeout_returns_jobs_still_running():
    clock = Clock()
    client = ScriptedClient({1: ["InProgress"]})
    left = poll_jobs(client, [JobToPoll("a", 1, 0.0)], interval=10, max_interval=60, timeout=100,
                     on_terminal=lambda j, b: None, sleep=clock.sleep, clock=clock)
    assert [j.van_job_id for j in left] == [1] and clock.t <= 100


def test_404_long_after_submission_is_an_error_and_transient_errors_are_retried():
    clock = Clock()
    clock.t = 10_000
    with pytest.raises(VanNotFound):
        poll_jobs(ScriptedClient({1: [VanNotFound("x", 404)]}), [JobToPoll("a", 1, 0.0)], interval=1,
                  max_interval=1, timeout=10, on_terminal=lambda j, b: None, sleep=clock.sleep, clock=clock)
    done = []
    poll_jobs(ScriptedClient({1: [VanServerError("x", 503), "Completed"]}), [JobToPoll("a", 1, 0.0)], interval=1,
              max_interval=1, timeout=10, on_terminal=lambda j, b: done.append(1), sleep=clock.sleep, clock=clock)
    assert done == [1]


def test_finished_jobs_are_collected_concurrently_while_the_others_are_still_polled():
    import threading

    # job 1 ends at the first look, job 2 at the second, job 3 at the third: all three collections can only be
    # in flight together if polling goes on while the first ones are still being collected
    client = ScriptedClient({1: ["Completed"], 2: ["InProgress", "Completed"],
                             3: ["Pending", "InProgress", "CompletedWithErrors"]})
    together = threading.Barrier(3, timeout=20)
    collected, threads = [], set()

    def on_terminal(job, body):
        together.wait()  # BrokenBarrierError (raised by poll_jobs) if the collections ran one by one
        collected.append((job.van_job_id, body["status"]))
        threads.add(threading.current_thread().name)

    left = poll_jobs(client, [JobToPoll(f"k{i}", i, 0.0) for i in (1, 2, 3)], interval=0.01, max_interval=0.01,
                     timeout=30, on_terminal=on_terminal, workers=3)
    assert left == [] and sorted(collected) == [(1, "Completed"), (2, "Completed"), (3, "CompletedWithErrors")]
    assert len(threads) == 3 and all(t.startswith("vanbulk-collect") for t in threads)


def test_a_failing_collection_does_not_stop_the_others_and_is_raised_at_the_end():
    client = ScriptedClient({1: ["Completed"], 2: ["InProgress", "Completed"], 3: [VanServerError("503"), "Failed"]})
    done = []

    def on_terminal(job, body):
        if job.van_job_id == 1:
            raise RuntimeError("disk full")
        done.append(job.van_job_id)

    with pytest.raises(RuntimeError, match="disk full"):
        poll_jobs(client, [JobToPoll(f"k{i}", i, 0.0) for i in (1, 2, 3)], interval=0.01, max_interval=0.01,
                  timeout=30, on_terminal=on_terminal, workers=2)
    assert sorted(done) == [2, 3]
