"""``python -m bench [name ...]``: run every bench/bench_*.py (or the named ones), each in its own process
so peak-memory readings do not bleed into one another; the output also goes to ``bench/results.md`` (a full
run rewrites it; a named run replaces only its own sections)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    failed = 0
    sections = _read_sections() if argv else {}
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        r = subprocess.run([sys.executable, "-m", f"bench.{script.stem}"], cwd=HERE.parent, capture_output=True,
                           text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr[-4000:] if r.returncode else "")
        failed += r.returncode != 0
        doc = _doc_of(script)
        sections[script.stem] = (f"## {script.stem}\n\n{doc}\n\n```\n{r.stdout.strip()}\n```\n"
                                 + ("\n**failed** (exit code %d)\n" % r.returncode if r.returncode else ""))
    _write_sections(sections)
    return 1 if failed else 0


RESULTS = HERE / "results.md"
HEADER = ("# Benchmark results\n\nWritten by `make bench` (`python -m bench`); every figure is a ratio against a "
          "baseline measured in the same run, on this machine ({machine}), {date}.\n\n")


def _doc_of(script: Path) -> str:
    import ast

    return (ast.get_docstring(ast.parse(script.read_text())) or "").strip()


def _read_sections() -> dict[str, str]:
    if not RESULTS.exists():
        return {}
    out: dict[str, str] = {}
    for part in RESULTS.read_text().split("\n## ")[1:]:
        name = part.split("\n", 1)[0].strip()
        out[name] = "## " + part.rstrip() + "\n"
    return out


def _write_sections(sections: dict[str, str]) -> None:
    import datetime
    import os
    import platform

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    head = HEADER.format(machine=machine, date=datetime.date.today().isoformat())
    RESULTS.write_text(head + "\n".join(sections[k] for k in sorted(sections)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
