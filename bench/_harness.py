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
