"""Run dbt against the same warehouse the connector uses.

dbt runs as a subprocess (the ``dbt`` next to this Python, else the one on PATH) with the working directory
``settings.dbt_project_dir`` and ``--profiles-dir settings.profiles_dir``. Two ways the warehouse is set:

* From the dbt profile (``settings.warehouse_from_profile``, what ``load_settings`` does unless a warehouse URL
  is configured): the connector's URL was built from the profile's target (connector/dbt_profile.py), so dbt
  runs with the profile as it is and ``--target settings.target``; nothing is added to its environment.
* From ``settings.warehouse_url`` (``VANBULK_WAREHOUSE_URL``, vanbulk.yml, or a ``Settings`` built in code): the
  environment carries the connection for a profile that reads it, as vanbulk's own ``dbt_project/profiles.yml``
  does: ``duckdb:///path/to/file.duckdb`` (relative paths are relative to ``settings.project_dir``) ->
  ``VANBULK_DBT_TARGET=duckdb`` and ``VANBULK_DUCKDB_PATH``; ``postgresql[+driver]://user[:password]@host[:port]/db``
  -> ``VANBULK_DBT_TARGET=postgres``, ``VANBULK_PG_HOST``, ``VANBULK_PG_PORT``, ``VANBULK_PG_USER``,
  ``VANBULK_PG_DATABASE`` and ``VANBULK_PG_SCHEMA``. The schema is, in order: ``?options=-csearch_path%3D<schema>``
  (the first schema of the search path), a ``?schema=<schema>`` query parameter, ``settings.results_schema``,
  else ``public``. The password only ever travels in ``DBT_ENV_SECRET_PG_PASSWORD`` (dbt scrubs
  ``DBT_ENV_SECRET_*`` from its logs); it is never on the command line nor logged. Before dbt starts, the
  profile is rendered with that environment: if it points at another warehouse than the URL (a profile that
  does not read these variables), ``ConfigError`` says so instead of dbt building somewhere else.

vanbulk's own ``dbt build`` never runs the ledger monitoring tests (``tag:vanbulk_ledger``): a failure rate
over its threshold is for a dashboard or ``dbt test``, not a reason to stop the next sync; nor the staging views'
generated tests (``tag:vanbulk_preflight``: unique / not_null keys, fixed value sets), which pre-flight repeats row by
row on the same rows. Failures raise ``DbtError`` naming dbt's failing nodes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from connector.config import Settings
from connector.errors import ConfigError
from connector.warehouse.engines import engine_for_url, supported_urls
from connector.errors import ConnectorError
from connector.redaction import redact

log = logging.getLogger(__name__)

__all__ = ["DbtError", "DbtResult", "build", "build_args", "command", "dbt_env", "dbt_executable", "node_progress",
           "run_dbt"]

FAILED_STATUSES = {"error", "fail", "runtime error"}
DEFAULT_STAGING_SCHEMA = "van_staging"
LEDGER_TESTS = "tag:vanbulk_ledger"  # tests on the ledger sources (monitoring), never part of a sync's build
# The staging views' generated tests (source_row_key unique / not_null, fixed value sets): pre-flight checks the
# same rules on the same rows moments later, row by row, so a sync's build leaves them out (each is one more read
# of the view); an analyst's own `dbt build` still runs them.
PREFLIGHT_TESTS = "tag:vanbulk_preflight"


class DbtError(ConnectorError):
    """dbt exited non-zero. ``failed_nodes`` holds the unique ids of the nodes that errored or failed."""

    def __init__(self, message: str, failed_nodes: Sequence[str] = (), result: "DbtResult | None" = None):
        super().__init__(message)
        self.failed_nodes = list(failed_nodes)
        self.result = result


@dataclass
class DbtResult:
    args: list[str]
    target: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    results: list[dict[str, Any]] = field(default_factory=list)  # run_results.json "results" of this invocation

    @property
    def success(self) -> bool:
        return self.returncode == 0

    def nodes_with_status(self, *statuses: str) -> list[str]:
        return [r["unique_id"] for r in self.results if r.get("status") in statuses]

    @property
    def failed_nodes(self) -> list[str]:
        return self.nodes_with_status(*FAILED_STATUSES)

    @property
    def warned_nodes(self) -> list[str]:
        return self.nodes_with_status("warn")


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        raise ConfigError("dbt is not installed: pip install 'vanbulk[postgres]' (dbt-core, dbt-duckdb, dbt-postgres)")
    return found


def dbt_env(settings: Settings, base: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """The target name and the environment dbt runs with (secrets only in ``DBT_ENV_SECRET_*``)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    url = settings.warehouse_url or ""
    ops = engine_for_url(url)
    if ops is None:
        scheme = url.split(":", 1)[0]
        raise ConfigError(f"dbt: unsupported warehouse URL scheme {scheme!r}; supported: "
                          + "; ".join(supported_urls()))
    for k, v in ops.dbt_env(url, settings.project_dir, settings.results_schema).items():
        if v or k not in env:  # an empty value (no password in the URL) leaves the caller's own
            env[k] = v
    target = settings.target or ops.dbt_type
    env["VANBULK_DBT_TARGET"] = target
    return target, env


def _check_profile_matches(settings: Settings, env: Mapping[str, str], target: str | None = None) -> None:
    """The dbt profile, rendered with dbt's environment and target, must point at the connector's warehouse:
    with a configured URL once the ``VANBULK_*`` variables are set, from the profile when the environment
    changed since; else dbt would build views where the connector does not look."""
    from connector import dbt_profile

    project = dbt_profile.DbtProjectRef(settings.project_dir, Path(settings.dbt_project_dir))
    if not (Path(settings.profiles_dir) / "profiles.yml").is_file():
        return  # dbt itself reports the missing profile
    resolved = dbt_profile.resolve_profile(project, Path(settings.profiles_dir), target or settings.target, env)
    want, got = _where(settings.warehouse_url, settings.project_dir), _where(resolved.warehouse_url, None)
    if want != got:
        ours = ("the warehouse read from the profile" if settings.warehouse_from_profile
                else "the warehouse URL (VANBULK_WAREHOUSE_URL / vanbulk.yml)")
        raise ConfigError(f"{ours} and {resolved.describe()} as dbt would see it point at different warehouses "
                          f"({want[0]} {want[1]} vs {got[0]} {got[1]}); unset the URL to use the profile, or pass "
                          "--target")


def _where(url: str, base: Path | None) -> tuple[str, str]:
    """(engine, location) of a warehouse URL, without credentials: the DuckDB file, or host:port/database."""
    ops = engine_for_url(url)
    if ops is None:
        return url.split(":", 1)[0], "?"
    return ops.dbt_type, ops.location(url, base)


def _profile_env(settings: Settings) -> tuple[str | None, dict[str, str]]:
    """The target and environment of a dbt run: the profile's own, or the warehouse URL's (module doc)."""
    if settings.warehouse_from_profile:
        target, env = settings.target, dict(os.environ)
        env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    else:
        target, env = dbt_env(settings)
    _check_profile_matches(settings, env, target)  # also: the profile read with another environment than dbt's
    return target, env


def _settings_vars(settings: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if settings.staging_schema and settings.staging_schema != DEFAULT_STAGING_SCHEMA:
        out["vanbulk_staging_schema"] = settings.staging_schema
    if settings.results_schema:
        out["vanbulk_ledger_schema"] = settings.results_schema
    return out


def _read_run_results(project_dir: Path, since: float, target_path: str | None = None) -> list[dict[str, Any]]:
    path = project_dir / (target_path or "target") / "run_results.json"  # DBT_TARGET_PATH may be absolute
    try:
        if path.stat().st_mtime < since:
            return []  # left over from an earlier invocation
        return json.loads(path.read_text(encoding="utf-8")).get("results", [])
    except (OSError, ValueError):
        return []


def _run_streaming(cmd: list[str], cwd: Path, env: Mapping[str, str],
                   on_event: Callable[[dict[str, Any]], None]) -> subprocess.CompletedProcess:
    """dbt with ``--log-format json``: each structured event handed to ``on_event`` as dbt writes it (node
    progress while it works); its text kept as dbt would have printed it (``info.msg``), for errors."""
    import threading

    proc = subprocess.Popen(cmd, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    drain = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)  # a full pipe would stall dbt
    drain.start()
    text: list[str] = []
    try:
        for line in proc.stdout:
            try:
                event = json.loads(line)
                text.append(str(event.get("info", {}).get("msg", "")) + "\n")
            except ValueError:  # not an event (a print from a macro, a library's warning): kept as it is
                text.append(line)
                continue
            try:
                on_event(event)
            except Exception:  # a display problem must never stop dbt
                log.debug("dbt event handler failed", exc_info=True)
        proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: dbt goes too
            proc.kill()
            proc.wait()
        drain.join(timeout=5)
    return subprocess.CompletedProcess(cmd, proc.returncode, "".join(text), "".join(err))


def node_progress(event: Mapping[str, Any]) -> tuple[int, int, str] | None:
    """(index, total, description) when ``event`` is dbt's report of one finished node (a model, seed, test,
    snapshot, or a node with nothing to run), else None."""
    name = str(event.get("info", {}).get("name", ""))
    data = event.get("data") or {}
    total = data.get("total", data.get("num_models"))  # tests say num_models (dbt-core 1.11)
    if not name.endswith("Result") or total is None:
        return None
    desc = data.get("description") or data.get("name") or ".".join(
        str(data[k]) for k in ("schema", "relation") if data.get(k))
    return int(data.get("index") or 0), int(total), str(desc)


def command(settings: Settings, args: list[str], vars: dict | None = None
            ) -> tuple[list[str], Path, str | None, dict[str, str]]:
    """(command line, project directory, target, environment) of ``dbt <args>`` for the settings' warehouse."""
    project_dir = Path(settings.dbt_project_dir)
    if not (project_dir / "dbt_project.yml").exists():
        raise ConfigError(f"no dbt project at {project_dir} (settings.dbt_project_dir)")
    target, env = _profile_env(settings)
    all_vars = {**_settings_vars(settings), **(vars or {})}
    cmd = [dbt_executable(), *args, "--profiles-dir", str(Path(settings.profiles_dir).resolve())]
    if target:
        cmd += ["--target", target]
    if all_vars and args and args[0] not in ("deps", "clean", "debug"):
        cmd += ["--vars", yaml.safe_dump(all_vars, default_flow_style=True).strip()]
    return cmd, project_dir, target, env


def build_args(select: str | Sequence[str] | None = None) -> list[str]:
    """The arguments of vanbulk's ``dbt build``: the selection, never the ledger monitoring tests
    (``tag:vanbulk_ledger``, module doc) nor the tests pre-flight repeats (``tag:vanbulk_preflight``)."""
    args = ["build"]
    if select:
        args += ["--select", *([select] if isinstance(select, str) else list(select))]
    return args + ["--exclude", LEDGER_TESTS, PREFLIGHT_TESTS]


def run_dbt(settings: Settings, args: list[str], vars: dict | None = None, check: bool = True,
            on_event: Callable[[dict[str, Any]], None] | None = None) -> DbtResult:
    """Run ``dbt <args>`` for the settings' warehouse. Raises ``DbtError`` on failure when ``check``.
    ``on_event``: dbt runs with ``--log-format json`` and each of its structured events is handed over as it
    comes (``node_progress`` reads the node counts from them)."""
    cmd, project_dir, target, env = command(settings, args, vars)
    log.info("dbt %s (target %s, project %s)", " ".join(args), target or "profile default", project_dir)
    started = time.time()
    if on_event is None:
        proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
    else:
        # JSON on stdout for us; dbt.log stays as dbt writes it by default (its debug text)
        proc = _run_streaming(cmd + ["--log-format", "json", "--log-format-file", "debug"], project_dir, env, on_event)
    result = DbtResult(args=list(args), target=target or "", returncode=proc.returncode, stdout=redact(proc.stdout),
                       stderr=redact(proc.stderr), seconds=time.time() - started,
                       results=_read_run_results(project_dir, started - 1, env.get("DBT_TARGET_PATH")))
    log.info("dbt %s finished in %.1fs with exit code %s", args[0] if args else "", result.seconds, proc.returncode)
    if check and not result.success:
        failed = result.failed_nodes
        tail = "\n".join((result.stdout + "\n" + result.stderr).strip().splitlines()[-25:])
        what = f"failing nodes: {', '.join(failed)}" if failed else "no node results (compile/connection error)"
        raise DbtError(f"dbt {' '.join(args)} failed ({what})\n{tail}", failed, result)
    return result


def build(settings: Settings, select: str | Sequence[str] | None = None, vars: dict | None = None,
          on_event: Callable[[dict[str, Any]], None] | None = None) -> DbtResult:
    """``dbt build`` (seeds, views, tests) for the whole project or a selection (``build_args``)."""
    return run_dbt(settings, build_args(select), vars=vars, on_event=on_event)
