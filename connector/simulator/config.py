"""Every behaviour knob of the simulator, loadable from a JSON or YAML file.

Values that VAN documents are the defaults; values the reference marks inferred or unknown are knobs so a
test can pick the other plausible behaviour.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from connector.catalog import INFERRED_RULE_KINDS

# Demo credentials, accepted by default (duplicated from connector.config on purpose: the simulator
# imports nothing of the connector except the catalogue).
DEMO_APPLICATION = "vanbulk-demo"
DEMO_KEY = "00000000-0000-4000-8000-000000000000"

DISCLOSURE_REJECT = "reject"  # 400 at POST
DISCLOSURE_FAIL = "fail"  # job accepted, then ends Failed
INVALID_ROW_ABSENT = "absent"  # VAN's documented behaviour: rows that fail validation are not in the results
INVALID_ROW_MESSAGE = "message"  # alternative: row kept, message in the failing mapping's column


class ConfigError(ValueError):
    """The simulator configuration is invalid."""


@dataclass
class ApiKey:
    """One accepted API key (the GUID part, without ``|mode``) and the context it resolves to."""

    key: str
    application_name: str | None = None  # None: any application name is accepted with this key
    database_modes: tuple[int, ...] = (0, 1)
    # Mapping types flagged requiresPermission in the catalogue that this key may use (e.g. Suppressions).
    permissions: tuple[str, ...] = ()
    # Optional allow-list: when set, only these mapping types exist for the key.
    mapping_types: tuple[str, ...] | None = None

    def __repr__(self) -> str:  # never print a key in full
        return f"ApiKey(key='***', application_name={self.application_name!r}, " \
               f"database_modes={self.database_modes!r}, permissions={self.permissions!r})"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str) -> "ApiKey":
        if isinstance(d, str):
            return parse_api_key_option(d)
        return cls(
            key=str(d["key"]),
            application_name=d.get("application_name", d.get("applicationName")),
            database_modes=tuple(int(m) for m in d.get("database_modes", d.get("databaseModes", (0, 1)))),
            permissions=tuple(d.get("permissions", ())),
            mapping_types=None if d.get("mapping_types") is None else tuple(d["mapping_types"]),
        )


def parse_api_key_option(text: str) -> ApiKey:
    """``KEY`` or ``APPLICATION:KEY``, optionally ``...;perm=Suppressions,Other`` (command-line form)."""
    perms: tuple[str, ...] = ()
    if ";" in text:
        text, _, extra = text.partition(";")
        for part in extra.split(";"):
            name, _, value = part.partition("=")
            if name.strip() in ("perm", "permissions"):
                perms = tuple(p.strip() for p in value.split(",") if p.strip())
    app, sep, key = text.rpartition(":")
    key = key.split("|", 1)[0]
    return ApiKey(key=key, application_name=app if sep and app else None, permissions=perms)


@dataclass
class FaultRule:
    """Inject a fault into requests matching ``method`` and the glob ``path`` (query string excluded).

    kind: ``status`` (answer ``status`` with VAN's error body; 429/503 carry ``Retry-After`` when
    ``retry_after`` is set), ``slow`` (sleep ``delay_seconds`` then answer normally), ``hold`` (wait until the
    test releases it: ``SimulatorServer.release_held`` or new faults, then answer normally; a test holds a
    request at a known point instead of timing it) or ``drop`` (close the socket without any response). ``skip``
    matching requests pass first; then ``count`` are faulted (None: every later match; 0: none, the rule only
    counts the matching requests, ``seen`` in ``FaultState.snapshot``).
    """

    path: str = "*"
    method: str = "*"
    kind: str = "status"
    status: int = 500
    retry_after: float | None = None
    delay_seconds: float = 0.0
    count: int | None = 1
    skip: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("status", "slow", "hold", "drop"):
            raise ConfigError(f"fault kind must be status, slow, hold or drop, not {self.kind!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FaultRule":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown fault rule keys: {sorted(unknown)}")
        return cls(**d)


@dataclass
class Faults:
    """Fault injection, replaceable while the server runs (``set_faults`` or ``PUT /_sim/faults``)."""

    rules: list[FaultRule] = field(default_factory=list)
    fail_jobs: int = 0  # the next N accepted jobs end Failed (job error JOB_FAILED)
    poll_not_found: int = 0  # the first N polls of each new job answer 404 NOT_FOUND
    result_url_ttl_seconds: float | None = None  # overrides the configured lifetime for new result URLs
    fetch_error: int = 0  # the next N source-file downloads fail as if the URL were unreachable

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "Faults":
        d = dict(d or {})
        rules = [r if isinstance(r, FaultRule) else FaultRule.from_dict(r) for r in d.pop("rules", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown fault keys: {sorted(unknown)}")
        return cls(rules=rules, **d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SimulatorConfig:
    api_keys: list[ApiKey] = field(default_factory=lambda: [ApiKey(DEMO_KEY, DEMO_APPLICATION)])
    # POST /bulkImportJobs answers 200 per the docs' OpenAPI; other VAN job endpoints answer 201.
    post_status: int = 200
    # Timing of the job life cycle (seconds). Tests set these near zero.
    pending_seconds: float = 1.0
    seconds_per_1000_rows: float = 1.0
    min_processing_seconds: float = 0.5
    worker_threads: int = 2
    # Result files.
    result_url_ttl_seconds: float = 24 * 3600
    result_kb_unit: int = 1024  # bytes per "KB" of resultFileSizeKbLimit; tests shrink it to force splits
    expired_result_status: int = 403
    # dateExpired is rendered in this fixed UTC offset (VAN's examples are US Eastern, -04:00).
    timestamp_utc_offset_minutes: int = -240
    result_column_per_mapping: bool = True  # also a column for the record-creating mapping (e.g. CreateOrUpdateContact)
    # Validation.
    max_description_length: int = 255
    max_columns: int = 50
    min_result_kb: int = 5000
    max_result_kb: int = 100000
    default_result_kb: int = 5000  # when resultFileSizeKbLimit is omitted
    max_actions: int = 1  # every public example uses exactly one action
    max_zip_bytes: int = 100 * 1000 * 1000
    require_json_content_type: bool = True
    disclosure_conflict: str = DISCLOSURE_REJECT
    invalid_rows: str = INVALID_ROW_ABSENT
    # Result cell of a mapping skipped because the row has no values for it (while other mappings have some).
    skipped_mapping_result: str = "Processed"
    # Message written into a mapping's result column when the row's record does not exist.
    not_found_messages: dict[str, str] = field(
        default_factory=lambda: {"VanID": "Contact not found", "ContributionID": "Contribution not found"})
    not_found_default: str = "{key_type} not found"
    # Pagination.
    page_size_default: int = 50
    page_size_max: int = 200
    # Ids.
    first_job_id: int = 50001
    first_ul_file_id: int = 7301
    first_mapping_instance_id: int = 1801
    first_record_id: int = 200000001  # first new VanID / ContributionID / ... the simulator assigns
    # Contacts present before any job (VanID plus stored fields).
    seed_contacts: list[dict[str, Any]] = field(default_factory=lambda: [
        {"VanID": 100001, "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org"},
        {"VanID": 100002, "FirstName": "Grace", "LastName": "Hopper", "Email": "grace@example.org"},
        {"VanID": 100003, "FirstName": "Katherine", "LastName": "Johnson"},
        {"VanID": 100004, "FirstName": "Alan", "LastName": "Turing"},
        {"VanID": 100005, "FirstName": "Edsger", "LastName": "Dijkstra"},
    ])
    # Other records present before any job, e.g. {"keyType": "ContributionID", "pk": 9001, "resource":
    # "Contributions", "fields": {...}}, so mapping types that edit existing records have something to edit.
    seed_records: list[dict[str, Any]] = field(default_factory=list)
    fetch_timeout_seconds: float = 30.0
    catalog_dirs: list[str] = field(default_factory=list)  # extra catalogue overlay directories
    # Rules the catalogue only infers (an inferred isRequired, parents, formats, lengths, row requirements,
    # disclosure categories) are not part of the default world: real clients send files they would refuse.
    # List kinds here (connector.catalog.INFERRED_RULE_KINDS, or "all") to play an account that has them.
    enforce_inferred: list[str] = field(default_factory=list)
    admin_token: str | None = field(default=None, repr=False)  # when set, /_sim/ needs X-Sim-Admin-Token
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.api_keys = [k if isinstance(k, ApiKey) else ApiKey.from_dict(k) for k in self.api_keys]
        if not isinstance(self.faults, Faults):
            self.faults = Faults.from_dict(self.faults)
        if self.disclosure_conflict not in (DISCLOSURE_REJECT, DISCLOSURE_FAIL):
            raise ConfigError("disclosure_conflict must be 'reject' or 'fail'")
        if self.invalid_rows not in (INVALID_ROW_ABSENT, INVALID_ROW_MESSAGE):
            raise ConfigError("invalid_rows must be 'absent' or 'message'")
        if self.post_status not in (200, 201, 202):
            raise ConfigError("post_status must be 200, 201 or 202")
        if self.expired_result_status not in (403, 404, 410):
            raise ConfigError("expired_result_status must be 403, 404 or 410")
        self.enforce_inferred = [self.enforce_inferred] if isinstance(self.enforce_inferred, str) \
            else list(self.enforce_inferred)
        unknown = set(self.enforce_inferred) - {*INFERRED_RULE_KINDS, "all"}
        if unknown:
            raise ConfigError(f"enforce_inferred: unknown rule kinds {sorted(unknown)}; "
                              f"known: {', '.join(INFERRED_RULE_KINDS)}, all")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SimulatorConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown simulator config keys: {sorted(unknown)}")
        return cls(**dict(d))

    @classmethod
    def load(cls, path: str | Path) -> "SimulatorConfig":
        """Read a JSON or YAML file (by extension; YAML is a superset of JSON anyway)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: the config file must hold a mapping")
        return cls.from_dict(data)
