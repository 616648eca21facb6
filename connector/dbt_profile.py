"""Find the dbt project vanbulk runs in, and read the warehouse connection from its dbt profile.

One place to configure the warehouse: the dbt profile. ``vanbulk`` run from any directory of a dbt project
walks up to its ``dbt_project.yml`` (as dbt does not, but git does), reads the project's ``profile:``, finds
``profiles.yml`` the way dbt does (``--profiles-dir``, ``DBT_PROFILES_DIR``, the project directory, ``~/.dbt``),
takes the profile's default ``target:`` (or ``--target``) and builds the connector's warehouse URL from that
output: ``duckdb:////abs/path.duckdb`` (a relative ``path`` is relative to the dbt project, where dbt runs) or
``postgresql://user:password@host:port/dbname`` with the output's ``schema`` as the ledger schema.

profiles.yml values are rendered with Jinja like dbt renders them: ``env_var(name, default)`` (including
``DBT_ENV_SECRET_*``), ``var(name, default)`` (the default: vanbulk passes no CLI vars to the profile) and the
filters ``as_number``, ``as_bool``, ``as_native``, ``as_text``. The password is registered with the redaction
filter the moment it is read, so no log line, message or exception shows it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from connector.errors import ConfigError
from connector.warehouse.engines import ENGINES, engine_for_dbt_type

__all__ = ["DbtProjectRef", "ResolvedProfile", "find_project", "profiles_dir_for", "resolve_profile"]

PROJECT_FILE = "dbt_project.yml"
VANBULK_FILE = "vanbulk.yml"


@dataclass(frozen=True)
class DbtProjectRef:
    root: Path  # vanbulk's project directory: vanbulk.yml and the state folder live here
    dbt_dir: Path  # the directory holding dbt_project.yml (may not exist: a project without dbt)

    @property
    def exists(self) -> bool:
        return (self.dbt_dir / PROJECT_FILE).is_file()

    def profile_name(self) -> str | None:
        data = _read_yaml(self.dbt_dir / PROJECT_FILE)
        name = data.get("profile") if isinstance(data, dict) else None
        return str(name) if name else None


@dataclass
class ResolvedProfile:
    profile: str
    target: str
    profiles_dir: Path
    type: str
    warehouse_url: str = field(repr=False)  # may hold the password: never log it
    schema: str | None = None

    def describe(self) -> str:
        return f"dbt profile {self.profile!r}, target {self.target!r} ({self.type}; {self.profiles_dir / 'profiles.yml'})"


def find_project(start: str | os.PathLike, walk_up: bool = True) -> DbtProjectRef:
    """The project for a start directory: the nearest directory (``start``, then its parents when ``walk_up``)
    holding ``dbt_project.yml`` (an analyst's dbt project: vanbulk lives inside it) or ``vanbulk.yml`` (vanbulk's
    own layout, with its dbt project in ``dbt_project/``). Neither found: ``start`` with ``start/dbt_project``."""
    start = Path(start).resolve()
    for d in [start, *start.parents] if walk_up else [start]:
        if (d / PROJECT_FILE).is_file():
            return DbtProjectRef(d, d)
        if (d / VANBULK_FILE).is_file() or (d / "dbt_project" / PROJECT_FILE).is_file():
            return DbtProjectRef(d, d / "dbt_project")
    return DbtProjectRef(start, start / "dbt_project")


def profiles_dir_for(dbt_dir: Path, explicit: str | os.PathLike | None, env: Mapping[str, str]) -> Path:
    """dbt's order: --profiles-dir, DBT_PROFILES_DIR, the dbt project directory if it has profiles.yml
    (dbt looks in its working directory, which vanbulk sets to the project), else ~/.dbt."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if env.get("DBT_PROFILES_DIR"):
        return Path(env["DBT_PROFILES_DIR"]).expanduser().resolve()
    if (dbt_dir / "profiles.yml").is_file():
        return dbt_dir
    return Path(env.get("HOME") or Path.home()).expanduser() / ".dbt"


def resolve_profile(project: DbtProjectRef, profiles_dir: Path, target: str | None,
                    env: Mapping[str, str]) -> ResolvedProfile:
    """The profile's output for ``target`` (default: the profile's ``target:``) as a warehouse URL."""
    name = project.profile_name()
    if not name:
        raise ConfigError(f"{project.dbt_dir / PROJECT_FILE} names no profile: add `profile: <name>`")
    path = profiles_dir / "profiles.yml"
    profiles = _read_yaml(path)
    if not isinstance(profiles, dict) or name not in profiles:
        raise ConfigError(f"no dbt profile {name!r} in {path} (the profile named in {project.dbt_dir / PROJECT_FILE}; "
                          "set --profiles-dir or DBT_PROFILES_DIR if profiles.yml is elsewhere)")
    raw = profiles[name] or {}
    render = _Renderer(env, path)
    chosen = target or render.value(raw.get("target", "default"))
    outputs = raw.get("outputs") or {}
    if chosen not in outputs:
        raise ConfigError(f"dbt profile {name!r} has no target {chosen!r} (targets: {', '.join(outputs) or 'none'})")
    out = {k: render.value(v) for k, v in (outputs[chosen] or {}).items()}
    kind = str(out.get("type", ""))
    where = f"dbt profile {name!r}, target {chosen!r}"
    ops = engine_for_dbt_type(kind)
    if ops is None:
        raise ConfigError(f"{where} is type {kind!r}: vanbulk supports {', '.join(e.dbt_type for e in ENGINES)} "
                          "targets")
    url, schema = ops.url_from_profile(out, project.dbt_dir, where)
    return ResolvedProfile(name, str(chosen), profiles_dir, kind, url, str(schema))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({str(exc).splitlines()[0]})") from None


class _Renderer:
    """profiles.yml's Jinja, rendered as dbt does (native types for a value that is one expression)."""

    def __init__(self, env: Mapping[str, str], path: Path):
        import jinja2
        import jinja2.nativetypes

        self.path = path
        self.jinja = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
        self.jinja.filters.update(as_number=_as_number, as_bool=_as_bool, as_native=lambda v: v,
                                  as_text=lambda v: "" if v is None else str(v), int=_as_int)
        self.jinja.globals.update(env_var=self._env_var, var=lambda name, default=None: default)
        self.env = env

    def _env_var(self, name: str, default: Any = None) -> Any:
        if name in self.env:
            return self.env[name]
        if default is not None:
            return default
        raise ConfigError(f"{self.path}: env_var('{name}') is not set and has no default")

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value
        import jinja2

        try:
            return self.jinja.from_string(value).render()
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{self.path}: cannot render {value!r}: {exc}") from None


def _as_number(v: Any) -> Any:
    if isinstance(v, (int, float)):
        return v
    text = str(v).strip()
    return float(text) if any(c in text for c in ".eE") else int(text)


def _as_int(v: Any, default: int = 0) -> int:
    try:
        return int(str(v).strip())
    except ValueError:
        return default


def _as_bool(v: Any) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in ("1", "true", "yes", "on")
