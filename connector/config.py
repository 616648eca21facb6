"""Settings: environment beats the project file (``vanbulk.yml``) beats defaults (dlt's precedence).

Environment names: ``VAN_API_KEY``, ``VAN_APPLICATION_NAME`` (alias ``VAN_APP_NAME``), ``VAN_DATABASE_MODE``
(0 = VoterFile / My Voters, 1 = My Campaign), ``VAN_API_BASE_URL``, and ``VANBULK_<SETTING>`` for the rest.
A key that already ends in ``|0``/``|1`` carries its own database mode, as van-cli accepts.
"""

from __future__ import annotations

import dataclasses
import re
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from connector.errors import ConfigError  # noqa: F401  (re-exported: its old home)
from connector.redaction import register_secret

VAN_API_BASE_URL = "https://api.securevan.com/v4/"
VAN_INTL_API_BASE_URL = "https://intlapi.securevan.com/v4/"
PROJECT_FILE = "vanbulk.yml"
DEFAULT_APPLICATION_NAME = "vanbulk"
# The simulator's documented demo credentials (see connector/simulator): used only when no key is set.
SIMULATOR_DEMO_APPLICATION = "vanbulk-demo"
SIMULATOR_DEMO_KEY = "00000000-0000-4000-8000-000000000000"

_ENV_ALIASES = {
    "api_key": ("VAN_API_KEY",),
    "application_name": ("VAN_APPLICATION_NAME", "VAN_APP_NAME"),
    "database_mode": ("VAN_DATABASE_MODE",),
    "api_base_url": ("VAN_API_BASE_URL",),
}


@dataclass
class Settings:
    # VAN
    api_key: str | None = field(default=None, repr=False)
    application_name: str = DEFAULT_APPLICATION_NAME
    database_mode: int = 1
    api_base_url: str = VAN_API_BASE_URL
    use_simulator: bool | None = None  # None: use it when no api_key is set
    # project and warehouse
    project_dir: Path = field(default_factory=Path.cwd)
    dbt_project_dir: Path | None = None
    profiles_dir: Path | None = None
    target: str | None = None  # dbt target; load_settings: the profile's default target
    warehouse_url: str | None = None  # load_settings: from the dbt profile; else duckdb file <project_dir>/vanbulk.duckdb
    # true when load_settings built warehouse_url from the dbt profile: dbt then runs with the profile as it is
    warehouse_from_profile: bool = False
    results_schema: str | None = None  # default: the connection's default schema
    staging_schema: str = "van_staging"
    state_dir: Path | None = None  # <project>/.vanbulk: exports, hosted files, result files, simulator, GX runtime
    gx_dir: Path | None = None  # GX file context: <project>/expectations when it exists (the demo's), else state_dir
    # pre-flight
    preflight_policy: str = "send_passing"  # or "block"
    split_disclosure: bool = False
    # A view whose rows and rules are the same as at its last check has that check carried over (its rejects,
    # warnings and GX verdict) instead of checked again: connector/preflight/reuse.py. false: check every run.
    preflight_reuse: bool = True
    permitted_mapping_types: tuple[str, ...] | None = None  # None: ask VAN / assume all
    # Rules resting on a fact the catalogue only infers warn (van_preflight_warnings) instead of rejecting;
    # true makes them reject like confirmed ones (docs/preflight.md, "Evidence policy").
    strict_inferred_rules: bool = False
    # Live mapping-type metadata (GET /bulkImportMappingTypes/{name}, /values) is cached in
    # state_dir/metadata per API target and database mode for this long; 0 reads it on every run.
    metadata_ttl_seconds: int = 3600
    # MappingType -> {Field: staticValue} for fields no column carries (e.g. CustomFieldGroupID);
    # env VANBULK_STATIC_VALUES as JSON; `vanbulk run --static MT.FIELD=VALUE` wins per field.
    static_values: dict[str, dict[str, str]] | None = None
    # Multi-mapping jobs: [{name, mapping_types: [primary, extra, ...]}]; one file = the primary's staging view
    # LEFT JOIN the extras' on source_row_key (docs/connector.md). Env VANBULK_COMBINED_JOBS as JSON.
    combined_jobs: list[dict[str, Any]] | None = None
    # row-level sync: a row version VAN failed, dropped or refused is sent again by up to this many runs,
    # then left for `vanbulk retry-failed` (docs/sync.md)
    max_row_tries: int = 3
    # export and hosting
    hosting: str = "local"  # "local", "s3://bucket/prefix", "gs://bucket/prefix"
    hosting_public_url: str | None = None  # base URL of the local host as VAN sees it
    url_ttl_seconds: int = 3600
    # --no-wait with the local host: stay until VAN has fetched each file, at most this long (it stops with us)
    local_host_fetch_wait_seconds: float = 300.0
    max_zipped_bytes: int = 20 * 1024 * 1024  # VAN allows 100 MB; some docs say 20 MB
    max_rows_per_chunk: int = 500_000
    result_file_size_kb_limit: int = 5000
    # polling
    poll_interval_seconds: float = 10.0
    poll_max_interval_seconds: float = 300.0
    poll_timeout_seconds: float = 12 * 3600.0  # VAN can take hours
    collect_workers: int = 4  # jobs polled, and their results downloaded, at the same time (ledger writes: one at a time)
    http_timeout_seconds: float = 60.0
    http_max_retries: int = 6

    def __post_init__(self) -> None:
        self.project_dir = Path(self.project_dir).resolve()
        if self.dbt_project_dir is None:
            self.dbt_project_dir = self.project_dir / "dbt_project"
        self.dbt_project_dir = self.project_dir / Path(self.dbt_project_dir)  # relative: to the project
        if self.profiles_dir is None:
            self.profiles_dir = self.dbt_project_dir
        self.profiles_dir = Path(self.profiles_dir)
        if self.state_dir is None:
            self.state_dir = self.project_dir / ".vanbulk"
        self.state_dir = Path(self.state_dir)
        if self.gx_dir is None:
            committed = self.project_dir / "expectations"
            self.gx_dir = committed if committed.is_dir() else self.state_dir / "expectations"
        self.gx_dir = Path(self.gx_dir)
        if self.warehouse_url is None:
            self.warehouse_url = f"duckdb:///{self.project_dir / 'vanbulk.duckdb'}"
        self.warehouse_url = _absolute_duckdb_url(self.warehouse_url, self.project_dir)
        if self.api_key and re.search(r"\|\d+\s*$", self.api_key) and not self.api_key.rstrip().endswith(("|0", "|1")):
            raise ConfigError("VAN_API_KEY ends with |" + self.api_key.rstrip().rsplit("|", 1)[1] + ": the database "
                              "mode after | must be 0 (VoterFile / My Voters) or 1 (My Campaign)")
        _check_warehouse_url(self.warehouse_url)
        if self.api_key and self.api_key.rstrip().endswith(("|0", "|1")):
            key, mode = self.api_key.rstrip().rsplit("|", 1)
            self.api_key, self.database_mode = key, int(mode)
        self.database_mode = int(self.database_mode)
        if self.database_mode not in (0, 1):
            raise ConfigError(f"VAN_DATABASE_MODE must be 0 (VoterFile) or 1 (My Campaign), got {self.database_mode}")
        if self.preflight_policy not in ("send_passing", "block"):
            raise ConfigError(f"preflight_policy must be 'send_passing' or 'block', got {self.preflight_policy!r}")
        if not 5000 <= int(self.result_file_size_kb_limit) <= 100000:
            raise ConfigError("result_file_size_kb_limit must be between 5000 and 100000 (VAN's range)")
        if int(self.max_row_tries) < 1:
            raise ConfigError("max_row_tries must be at least 1")
        if self.max_zipped_bytes > 100 * 1024 * 1024:
            raise ConfigError("max_zipped_bytes must not exceed VAN's 100 MB limit")
        self.static_values = _static_values(self.static_values)
        self.combined_jobs = _combined_jobs(self.combined_jobs)
        register_secret(self.api_key)

    @property
    def simulated(self) -> bool:
        return (not self.api_key) if self.use_simulator is None else bool(self.use_simulator)

    @property
    def api_password(self) -> str:
        """The Basic-auth password VAN expects: key + ``|`` + database mode."""
        if not self.api_key:
            raise ConfigError("VAN_API_KEY is not set")
        return f"{self.api_key}|{self.database_mode}"

    @property
    def warehouse_dialect(self) -> str:
        return self.warehouse_url.split(":", 1)[0].split("+", 1)[0]

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:  # never show the key
        shown = ", ".join(f"{f.name}={_masked(getattr(self, f.name)) if f.name == 'warehouse_url' else getattr(self, f.name)!r}"
                          for f in fields(self) if f.repr)
        return f"Settings({shown}, api_key={'***' if self.api_key else None})"


def prepare_state_dir(settings: Settings) -> str:
    """Create the state folder with a ``.gitignore`` of ``*`` (nothing in it belongs in a repository) and say,
    in one line, what a run writes where."""
    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# vanbulk's state (docs/dbt.md, \"State folder\"): never committed\n*\n", encoding="utf-8")
    where = [f"{_shown(state, settings.project_dir)}/ (exports, hosted files, VAN result files, simulator"
             + (", GX runtime)" if Path(settings.gx_dir).is_relative_to(state) else ")")]
    if not Path(settings.gx_dir).is_relative_to(state):
        where.append(f"{_shown(Path(settings.gx_dir), settings.project_dir)}/ (GX suites and runtime)")
    where.append(f"dbt's target/ and logs/ in {_shown(Path(settings.dbt_project_dir), settings.project_dir)}")
    if settings.warehouse_dialect.startswith("duckdb"):
        db = Path(settings.warehouse_url.split(":///", 1)[1].split("?", 1)[0])
        where.append(f"the ledger in {_shown(db, settings.project_dir)} and its writer lock beside it "
                     f"({db.name}.vanbulk-lock*)")
    else:
        where.append("the ledger in the warehouse")
    return "files: " + "; ".join(where)


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(base).resolve())) or "."
    except ValueError:
        return str(path)


def _masked(url: str | None) -> str | None:
    """A warehouse URL without its password."""
    return None if url is None else re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _from_json(value: Any, name: str, example: str) -> Any:
    """Structured settings arrive as JSON text from the environment, as data from vanbulk.yml."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} must be JSON like {example}: {exc}") from None


def _static_values(value: Any) -> dict[str, dict[str, str]] | None:
    if value is None:
        return None
    value = _from_json(value, "static_values", '{"MappingType": {"Field": "value"}}')
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigError("static_values must map a mapping type to {field: value}")
    # VAN takes static values as strings; YAML may have read 501 as an int.
    return {str(mt): {str(f): str(v) for f, v in fv.items() if v is not None} for mt, fv in value.items()}


def _combined_jobs(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    value = _from_json(value, "combined_jobs", '[{"mapping_types": ["A", "B"]}]')
    if not isinstance(value, list):
        raise ConfigError("combined_jobs must be a list of {name, mapping_types: [primary, extra, ...]}")
    out = []
    for i, cj in enumerate(value):
        mts = cj.get("mapping_types") if isinstance(cj, Mapping) else None
        if not isinstance(mts, list) or len(mts) < 2 or not all(isinstance(m, str) and m for m in mts):
            raise ConfigError(f"combined_jobs[{i}]: needs mapping_types: a list of at least two mapping type names")
        if len({m.lower() for m in mts}) != len(mts):
            raise ConfigError(f"combined_jobs[{i}]: a mapping type is listed twice")
        out.append({"name": str(cj.get("name") or "+".join(mts)), "mapping_types": [str(m) for m in mts]})
    return out


def _absolute_duckdb_url(url: str, project_dir: Path) -> str:
    """A DuckDB URL with its file made absolute, so the connector and dbt open the same file whatever the working
    directory. Three slashes make a path relative (SQLAlchemy's convention, four for an absolute one); a relative
    path that only makes sense as an absolute one (``duckdb:///p/x.duckdb`` with the project in ``/p``: ``/p`` exists,
    ``/p/p`` does not) is read as the absolute path the user wrote."""
    if not url.lower().startswith("duckdb:///"):
        return url
    path, sep, query = url[len("duckdb:///"):].partition("?")
    if not path or path == ":memory:" or Path(path).is_absolute():
        return url
    relative, absolute = project_dir / path, Path("/" + path)
    chosen = absolute if not relative.parent.exists() and absolute.parent.exists() else relative
    return f"duckdb:///{chosen.resolve()}{sep}{query}"


def _check_warehouse_url(url: str) -> None:
    """Name the supported forms (one per engine, connector.warehouse.engines) instead of a driver error."""
    from connector.warehouse.engines import engine_for_url, supported_urls

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    url = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)  # never a password in a message
    hint = "supported forms: " + "; ".join(supported_urls())
    if not scheme:
        raise ConfigError(f"VANBULK_WAREHOUSE_URL {url!r} is not a URL; {hint}")
    if scheme.startswith("duckdb") and not url.split("://", 1)[1].startswith("/"):
        raise ConfigError(f"VANBULK_WAREHOUSE_URL {url!r}: a DuckDB URL needs three slashes; {hint}")
    if engine_for_url(url) is None:
        raise ConfigError(f"VANBULK_WAREHOUSE_URL {url!r}: {scheme} is not supported; {hint}")


def merge_static_values(*layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, str]]:
    """Later layers win per (mapping type, field): settings first, then the CLI's --static flags."""
    out: dict[str, dict[str, str]] = {}
    for layer in layers:
        for mt, fv in (layer or {}).items():
            out.setdefault(str(mt), {}).update({str(f): str(v) for f, v in fv.items()})
    return out


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    if value is None:
        return None
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if "bool" in kind and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if "tuple" in kind and isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if "tuple" in kind and isinstance(value, list):
        return tuple(value)
    if kind.startswith("int"):
        return int(value)
    if kind.startswith("float"):
        return float(value)
    if "Path" in kind:
        return Path(value)
    if kind.startswith("str") and not isinstance(value, str):
        return str(value)
    return value


def load_settings(project_dir: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Defaults, then ``vanbulk.yml`` in the project dir, then the environment, then explicit overrides.

    The project: ``project_dir`` (or ``VANBULK_PROJECT_DIR``) as given, else the nearest directory from the
    working directory up holding ``dbt_project.yml`` or ``vanbulk.yml`` (connector/dbt_profile.py). Unless a
    ``warehouse_url`` is configured, the warehouse is the dbt profile's target (``target`` or the profile's
    default), the ledger schema its ``schema``."""
    from connector import dbt_profile

    env = os.environ if env is None else env
    explicit = project_dir or env.get("VANBULK_PROJECT_DIR")
    found = dbt_profile.find_project(explicit or Path.cwd(), walk_up=not explicit)
    project = found.root
    values: dict[str, Any] = {"project_dir": project}
    project_file = Path(env.get("VANBULK_CONFIG", project / PROJECT_FILE))
    if project_file.exists():
        data = yaml.safe_load(project_file.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{project_file} must hold a mapping of settings")
        unknown = set(data) - {f.name for f in fields(Settings)}
        if unknown:
            raise ConfigError(f"{project_file}: unknown settings {sorted(unknown)}")
        if "api_key" in data:
            raise ConfigError(f"{project_file}: put the API key in VAN_API_KEY, not in a project file")
        values.update(data)
    for f in fields(Settings):
        for name in (*_ENV_ALIASES.get(f.name, ()), f"VANBULK_{f.name.upper()}"):
            if env.get(name) not in (None, ""):
                values[f.name] = env[name]
                break
    values.update({k: v for k, v in overrides.items() if v is not None})
    typed = {f.name: _coerce(f, values[f.name]) for f in fields(Settings) if f.name in values}
    if typed.get("project_dir") is None:
        typed["project_dir"] = project
    typed.setdefault("dbt_project_dir", found.dbt_dir)
    dbt_dir = Path(typed["project_dir"], typed["dbt_project_dir"])
    typed["profiles_dir"] = dbt_profile.profiles_dir_for(dbt_dir, typed.get("profiles_dir"), env)
    if typed.get("warehouse_url") is None and (dbt_dir / dbt_profile.PROJECT_FILE).is_file():
        resolved = dbt_profile.resolve_profile(dbt_profile.DbtProjectRef(project, dbt_dir), typed["profiles_dir"],
                                               typed.get("target"), env)
        typed.update(warehouse_url=resolved.warehouse_url, target=resolved.target, warehouse_from_profile=True)
        typed.setdefault("results_schema", resolved.schema)
    return Settings(**typed)
