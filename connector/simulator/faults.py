"""Fault injection state: rules matched against requests, and job-level faults consumed one at a time."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass

from .config import FaultRule, Faults, SimulatorConfig


@dataclass
class _Armed:
    rule: FaultRule
    seen: int = 0  # matching requests so far
    fired: int = 0


HOLD_LIMIT_SECONDS = 300.0  # a hold nobody releases ends by itself: a broken test fails instead of hanging


class FaultState:
    def __init__(self, faults: Faults | None = None):
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._held_answered = 0  # held requests answered since the start (cumulative)
        self._release: threading.Event | None = None
        self.set(faults or Faults())

    def set(self, faults: Faults) -> None:
        """New faults; requests held under the old ones go on."""
        with self._lock:
            if self._release is not None:
                self._release.set()
            self._release = threading.Event()
            self._faults = faults
            self._armed = [_Armed(r) for r in faults.rules]
            self._fail_jobs = faults.fail_jobs
            self._fetch_errors = faults.fetch_error

    def snapshot(self) -> dict:
        with self._lock:
            d = self._faults.to_dict()
            d["fail_jobs"] = self._fail_jobs
            d["fetch_error"] = self._fetch_errors
            d["fired"] = [a.fired for a in self._armed]
            d["seen"] = [a.seen for a in self._armed]
            return d

    def hold(self) -> None:
        """Block the calling request until ``release_held`` or ``set`` (at most ``HOLD_LIMIT_SECONDS``)."""
        with self._lock:
            release = self._release
        release.wait(HOLD_LIMIT_SECONDS)

    def release_held(self) -> None:
        with self._lock:
            self._release.set()

    def note_held_answered(self) -> None:
        with self._answered:
            self._held_answered += 1
            self._answered.notify_all()

    def wait_held_answered(self, n: int, timeout: float = 120.0) -> bool:
        """Wait until ``n`` held requests in all have been handled (their effect made, e.g. a job created)."""
        with self._answered:
            return self._answered.wait_for(lambda: self._held_answered >= n, timeout)

    def match(self, method: str, path: str) -> FaultRule | None:
        """The first armed rule matching this request, consuming one of its count; None when none fires."""
        with self._lock:
            for armed in self._armed:
                r = armed.rule
                if r.method != "*" and r.method.upper() != method.upper():
                    continue
                if not fnmatch.fnmatchcase(path.lower(), r.path.lower()):
                    continue
                armed.seen += 1
                if armed.seen <= r.skip:
                    continue
                if r.count is not None and armed.fired >= r.count:
                    continue
                armed.fired += 1
                return r
            return None

    def take_fail_job(self) -> bool:
        with self._lock:
            if self._fail_jobs > 0:
                self._fail_jobs -= 1
                return True
            return False

    def take_fetch_error(self) -> bool:
        with self._lock:
            if self._fetch_errors > 0:
                self._fetch_errors -= 1
                return True
            return False

    @property
    def poll_not_found(self) -> int:
        return self._faults.poll_not_found

    def result_ttl(self, config: SimulatorConfig) -> float:
        ttl = self._faults.result_url_ttl_seconds
        return config.result_url_ttl_seconds if ttl is None else ttl
