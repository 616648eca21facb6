"""Whether ``vanbulk run`` may leave out its ``dbt build``: the build it would run is the one that already stands.

A scheduled run over views that did not change pays dbt's start and parse (4 s and more) and a rebuild of every
view for nothing (issue 20: "a staging view need not be rebuilt when its SQL did not change"). A build is left out
only when all of these hold; anything else, or anything this module cannot read, builds as before:

* the **fingerprint** of the build equals the one a build recorded in this warehouse's ledger
  (``van_bulk_runs.dbt_build_json``), and every build recorded since had the same fingerprint but for its
  selection (``base``: a build of other views from the same SQL changes none of this one's; a build of
  anything else, or one recorded before ``base`` existed, ends the search): the dbt command line (selection,
  exclusions, target, vars, profiles directory), every file dbt reads (``dbt_project.yml``, packages and selectors files, every file under the model,
  macro, seed, snapshot, test and analysis paths and the installed packages, ``profiles.yml``), the values of the
  environment variables those files name through ``env_var(...)`` but dbt's secrets (``DBT_ENV_SECRET_*``: a
  credential changes where dbt logs in, not what it builds, and is never hashed into a table) and the installed
  dbt packages' versions;
* that build's nodes were all **data-independent**: models materialized as views (or ephemeral) without hooks,
  seeds (their file is in the fingerprint), and no test but the ones vanbulk's build excludes anyway and tests of
  seeds alone (same file, same answer); no snapshot,
  no table or incremental model, no on-run hook. A view reads its input when queried, so a rebuild of the same
  SQL changes nothing; a table, a data test or a hook depends on the data and must run every time;
* every view that build made still exists.

Not seen: a build of the same warehouse by plain ``dbt build`` from a different checkout in between (vanbulk
records only its own builds); ``vanbulk run --rebuild`` builds whatever the record says.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

__all__ = ["EXCLUDED_TAGS", "fingerprint", "read_manifest", "standing_build", "standing_views", "with_selection"]

EXCLUDED_TAGS = {"vanbulk_ledger", "vanbulk_preflight"}  # the tests vanbulk's build never runs (dbt_runner)
_PATH_KEYS = {"model-paths": ["models"], "macro-paths": ["macros"], "seed-paths": ["seeds"],
              "snapshot-paths": ["snapshots"], "test-paths": ["tests"], "analysis-paths": ["analyses"]}
_TOP_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "package-lock.yml", "selectors.yml")
_NEVER_READ = {".git", "__pycache__"}  # (and an installed package's own target/ and logs/)
SECRET_PREFIX = "DBT_ENV_SECRET_"  # dbt's own convention for credentials (it scrubs them from its logs)
_ENV_VAR = re.compile(r"env_var\(\s*['\"]([^'\"]+)['\"]")


def _files(project_dir: Path) -> list[Path] | None:
    """Every file dbt reads for the project (None: its dbt_project.yml cannot be read)."""
    try:
        conf = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    dirs = [(d, _NEVER_READ) for key, default in _PATH_KEYS.items() for d in (conf.get(key) or default)]
    dirs.append((conf.get("packages-install-path") or "dbt_packages", _NEVER_READ | {"target", "logs"}))
    found = [project_dir / f for f in _TOP_FILES if (project_dir / f).is_file()]
    for d, skip in dirs:
        root = project_dir / str(d)
        if root.is_dir():
            found += [p for p in root.rglob("*") if p.is_file() and not skip & set(p.relative_to(root).parts)]
    return sorted(set(found))


def _dbt_versions() -> list[str]:
    """The installed dbt packages as ``name-version`` (their ``*.dist-info`` / ``*.egg-info`` directory names on
    ``sys.path``): a directory listing, where reading every installed package's metadata took 0.35 s a run."""
    found: set[str] = set()
    for entry in sys.path:
        root = Path(entry or ".")
        if not root.is_dir():
            continue
        try:
            names = [n for n in os.listdir(root) if n[:3].lower() == "dbt" and n.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        found.update(n.rsplit(".", 1)[0].lower() for n in names)
    return sorted(found)


def fingerprint(cmd: Iterable[str], project_dir: Path, profiles_dir: Path, env: Mapping[str, str]) -> str | None:
    """A hash of everything the build depends on but the data (module doc); None when the project cannot be
    read (then the build runs)."""
    files = _files(project_dir)
    if files is None:
        return None
    profiles = profiles_dir / "profiles.yml"
    h, names = hashlib.sha256(), set()
    h.update(json.dumps([list(cmd), _dbt_versions()]).encode())
    for f in files + ([profiles] if profiles.is_file() else []):
        data = f.read_bytes()
        h.update(b"\0" + str(f.relative_to(project_dir) if f.is_relative_to(project_dir) else f).encode() + b"\0")
        h.update(hashlib.sha256(data).digest())
        if f.suffix in (".yml", ".yaml", ".sql", ".py", ".md"):
            names.update(_ENV_VAR.findall(data.decode("utf-8", "replace")))
    for name in sorted(names):
        if name.startswith(SECRET_PREFIX):  # a credential changes where dbt logs in, never the SQL it builds; and
            continue  # the record is in a table: a hash of known files plus a password could be guessed back
        h.update(f"\0{name}=".encode() + (env[name].encode() if name in env else b"\1unset"))
    return h.hexdigest()


def with_selection(base: str, select: Iterable[str] | None) -> str:
    """The build's fingerprint: ``base`` (``fingerprint`` of the command without a selection) and the selection."""
    return hashlib.sha256(json.dumps([base, sorted(select or [])]).encode()).hexdigest()


def standing_build(records: Iterable[Mapping[str, Any]], base: str, fp: str) -> dict | None:
    """Of the builds a ledger recorded, newest first, the one this build (``fp``) would repeat: the newest with
    ``fp`` and its views, as long as every build recorded since had the same ``base`` (it rebuilt other views from
    the same SQL, or some of the same). None: build."""
    for record in records:
        if record.get("base") != base:
            return None
        if record.get("fingerprint") == fp:
            return dict(record) if record.get("views") is not None else None
    return None


def standing_views(manifest: Mapping[str, Any], ran: Iterable[str] | None = None
                   ) -> tuple[list[list[str]] | None, str]:
    """The (database, schema, name) of every view the build made, when all its nodes are data-independent
    (module doc); else (None, why not). ``ran``: the unique ids the build ran (its run_results; default: every
    node of the manifest). On-run hooks count whether listed or not: they run with any build."""
    views: list[list[str]] = []
    if manifest.get("macros") is None or manifest.get("nodes") is None:
        return None, "no manifest"
    ran = None if ran is None else set(ran)
    for uid, node in manifest["nodes"].items():
        kind, conf = node.get("resource_type"), node.get("config") or {}
        if ran is not None and uid not in ran and kind != "operation":
            continue
        if conf.get("enabled") is False:  # e.g. the tests of a disabled seed: listed, never run
            continue
        if kind == "model":
            mat = conf.get("materialized")
            if conf.get("pre-hook") or conf.get("post-hook"):
                return None, f"{uid} has hooks"
            if mat == "ephemeral":
                continue
            if mat != "view":
                return None, f"{uid} is materialized as {mat}"
            views.append([node.get("database") or "", node.get("schema") or "", node.get("alias") or node["name"]])
        elif kind == "seed":
            if conf.get("pre-hook") or conf.get("post-hook"):
                return None, f"{uid} has hooks"
        elif kind == "test":
            on = (node.get("depends_on") or {}).get("nodes") or []
            seeds_only = bool(on) and all(str(n).startswith("seed.") for n in on)  # reads only files in the hash
            if not (EXCLUDED_TAGS & set(node.get("tags") or ()) or seeds_only):
                return None, f"{uid} is a data test"
        elif kind in ("operation", "snapshot"):  # operation: an on-run-start / on-run-end hook
            return None, f"{uid} is a {kind}"
    return views, ""


def read_manifest(project_dir: Path, env: Mapping[str, str]) -> dict | None:
    """The manifest the last dbt command of the project wrote (``DBT_TARGET_PATH``, else ``target-path``)."""
    try:
        conf = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
        path = project_dir / (env.get("DBT_TARGET_PATH") or conf.get("target-path") or "target") / "manifest.json"
        return json.loads(path.read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
