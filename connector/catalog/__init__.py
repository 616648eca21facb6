"""The mapping-type catalogue: the one source of truth for every layer.

Data lives in ``data/`` in VAN's own metadata format:

* ``mapping_types/<Name>.json`` - exactly the body of ``GET /bulkImportMappingTypes/{name}``
* ``values/<Name>/<Field>.json`` - exactly the body of ``GET .../{name}/{field}/values``
* ``resources.json`` - exactly the body of ``GET /bulkImportJobs/resources``
* ``meta/<Name>.json`` - what VAN's metadata does not carry: evidence per fact, database modes,
  permissions, key columns, formats, disclosure categories, the staging view name.
* ``meta/_resources.json`` - primary key type and key column per resource type.

Overlay directories (``VANBULK_CATALOG_DIR``, or ``extra_dirs``) with the same layout replace packaged
files name by name: that is where ``vanbulk catalog refresh`` writes live metadata from an account.

dbt, the Great Expectations suites, the connector and the simulator all read this module; none of
them keeps a copy. This module imports nothing else from the package.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from connector.errors import CatalogError  # a leaf module: the simulator may share the catalogue

PACKAGED_DIR = Path(__file__).parent / "data"
CATALOG_DIR_ENV = "VANBULK_CATALOG_DIR"

EVIDENCE_TAGS = ("confirmed", "client-observed", "inferred", "unknown")
LIVE = "live"  # read from the account's own metadata in this run: VAN itself says so
OWN = "vanbulk"  # our own bookkeeping rule (e.g. a trackable row key), not a claim about VAN
# Facts with these tags may refuse a row; anything else (inferred, unknown, untagged) only warns by default.
ENFORCEABLE_TAGS = frozenset({"confirmed", "client-observed", LIVE, OWN})
# The evidence policy's three classes (docs/evidence-and-live-metadata.md). A rule is
# * ``van-stated``: VAN states it (its docs, the seed text, the account's live metadata; also what a client that
#   ran against VAN documents) -> rejects;
# * ``impossible``: the value cannot be valid under any reading (an impossible calendar date, a non-number where a
#   number belongs, an email without a dotted domain, control characters, a length over a limit a VAN source
#   states, a contribution without an amount) -> rejects;
# * ``inferred``: a convention we only inferred that a valid value could break -> warns unless
#   ``strict_inferred_rules``.
VAN_STATED = "van-stated"
IMPOSSIBLE = "impossible"
INFERRED = "inferred"
EVIDENCE_CLASSES = (VAN_STATED, IMPOSSIBLE, INFERRED)
LIVE_MARKER = "_live.json"  # in an overlay directory: its files were read from an account (vanbulk.live_metadata)

__all__ = [
    "Catalog",
    "CatalogError",
    "FieldDef",
    "MappingType",
    "ParentRule",
    "PredefinedValue",
    "ENFORCEABLE_TAGS",
    "INFERRED_RULE_KINDS",
    "EVIDENCE_TAGS",
    "EVIDENCE_CLASSES",
    "IMPOSSIBLE",
    "INFERRED",
    "VAN_STATED",
    "names_a_source",
    "LIVE",
    "OWN",
    "evidence_keys",
    "evidence_tag",
    "load_catalog",
    "staging_view_name",
]


@dataclass(frozen=True)
class ParentRule:
    parent_field: str
    limited_to_parent_values: tuple[str, ...] | None  # None: any parent value allows the child


@dataclass(frozen=True)
class FieldDef:
    name: str
    description: str
    is_required: bool
    has_predefined_values: bool
    can_be_mapped_to_column: bool
    parents: tuple[ParentRule, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class PredefinedValue:
    id: str
    name: str
    parents: tuple[Mapping[str, Any], ...] | None


@dataclass(frozen=True)
class MappingType:
    name: str
    display_name: str
    allow_multiple_mode: str
    resource_types: tuple[str, ...]
    fields: tuple[FieldDef, ...]
    meta: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    live: bool = False  # the VAN metadata part (fields, parents, values) was read from the account

    def field(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name.lower() == name.lower():
                return f
        raise CatalogError(f"mapping type {self.name!r} has no field {name!r}")

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def column_fields(self) -> list[FieldDef]:
        """Fields that may come from a file column (the rest need a static value)."""
        return [f for f in self.fields if f.can_be_mapped_to_column]

    @property
    def required_fields(self) -> list[FieldDef]:
        return [f for f in self.fields if f.is_required]

    @property
    def key_columns(self) -> list[str]:
        """Resource key columns the file carries besides the fields (e.g. VanID for Contacts)."""
        return list(self.meta.get("keyColumns", []))

    @property
    def staging_view(self) -> str:
        return self.meta.get("stagingView") or staging_view_name(self.name)

    @property
    def database_modes(self) -> tuple[int, ...]:
        return tuple(self.meta.get("databaseModes", (0, 1)))

    @property
    def requires_permission(self) -> bool:
        return bool(self.meta.get("requiresPermission", False))

    @property
    def field_formats(self) -> Mapping[str, str]:
        return self.meta.get("fieldFormats", {})

    @property
    def max_lengths(self) -> Mapping[str, int]:
        return self.meta.get("maxLengths", {})

    @property
    def disclosure_category(self) -> Mapping[str, str]:
        """Field name -> 'Individual' | 'Organization' for Contributions disclosure fields."""
        return self.meta.get("disclosureCategory", {})

    @property
    def write_semantics(self) -> str:
        """``append`` (each processed row created a record: never sent again) or ``upsert`` (sets values: a
        changed row is sent again). Missing or unclear evidence: ``append``, the safe default."""
        return "upsert" if self.meta.get("writeSemantics") == "upsert" else "append"

    @property
    def change_via(self) -> str | None:
        """The mapping type that changes an imported record of an append type (Contributions: Edit Contribution
        Data), when there is one."""
        return self.meta.get("changeVia")

    @property
    def always_required(self) -> Mapping[str, str]:
        """Field -> why a blank value cannot be valid under any reading (e.g. a contribution's Amount), whatever
        the account's ``isRequired`` says."""
        return self.meta.get("alwaysRequired", {})

    @property
    def value_kinds(self) -> Mapping[str, str]:
        """Field -> the kind of value it holds (date, email, number...). The same names as ``field_formats``, but
        kept when an account does not enforce the format itself: an impossible value is invalid whatever the
        convention (``Catalog.enforced_world`` keeps them)."""
        return self.meta.get("valueKinds") or self.field_formats

    @property
    def stated_max_lengths(self) -> Mapping[str, int]:
        """Maximum lengths some VAN source states (or the account's metadata): over them, a value is impossible."""
        if "statedMaxLengths" in self.meta:
            return self.meta["statedMaxLengths"]
        return {f: n for f, n in self.max_lengths.items()
                if self.evidence("maxLength", f) in ENFORCEABLE_TAGS
                or names_a_source(self.evidence_text("maxLength", f))}

    @property
    def row_requirements(self) -> list[Mapping[str, Any]]:
        return list(self.meta.get("rowRequirements", []))

    @property
    def staging_columns(self) -> list[str]:
        """Columns of the staging view, in file order: resource key columns, ``source_row_key``, then the other
        column-mappable fields in catalogue order. Without key columns ``source_row_key`` comes first.

        The resource key leads because how VAN finds the key column of a file is undocumented and the only
        working clients put it first (Parsons / AB-CLI: "The first column of the table must be VANID"). A key
        column that is also a field (``VanID`` of Create Or Update Contact, ``ContributionID`` of Edit
        Contribution Data) is listed once, in the key position; a static-only field is never a column.
        A mapping type read from an account takes the staging view's own columns (``meta.stagingColumns``)."""
        if self.meta.get("stagingColumns"):
            return list(self.meta["stagingColumns"])
        fields = {f.name.lower(): f for f in self.fields}
        keys = [k for k in self.key_columns
                if k.lower() not in fields or fields[k.lower()].can_be_mapped_to_column]
        taken = {k.lower() for k in keys}
        names = [f.name for f in self.column_fields if f.name.lower() not in taken]
        return [*keys, "source_row_key", *names]

    @property
    def input_columns(self) -> list[str]:
        """``staging_columns`` without ``source_row_key``: the VAN columns a staging view carries, in order."""
        return [c for c in self.staging_columns if c != "source_row_key"]

    def evidence(self, kind: str, name: str = "") -> str:
        """The evidence tag behind one fact the rules rely on (see :func:`evidence_keys`).

        Facts carried by VAN's own metadata (fields, requiredness, parents, predefined values) are ``live``
        when the mapping type was read from the account; the rest (formats, lengths, row requirements,
        disclosure categories) keep the packaged ``meta.evidence`` tag. No tag at all counts as inferred."""
        if self.live and kind in _METADATA_KINDS:
            return LIVE
        tags = self.meta.get("evidence", {})
        lowered = {k.lower(): v for k, v in tags.items()}
        for key in evidence_keys(kind, name):
            if key.lower() in lowered:
                return evidence_tag(lowered[key.lower()])
        return "inferred"

    def evidence_text(self, kind: str, name: str = "") -> str:
        """The ``meta.evidence`` text behind one fact (most specific key first); '' when untagged."""
        lowered = {k.lower(): v for k, v in self.meta.get("evidence", {}).items()}
        for key in evidence_keys(kind, name):
            if key.lower() in lowered:
                return str(lowered[key.lower()])
        return ""

    def to_api(self) -> dict[str, Any]:
        """The exact ``GET /bulkImportMappingTypes/{name}`` body."""
        return json.loads(json.dumps(self.raw))


_METADATA_KINDS = frozenset({"required", "parents", "values"})
# Kinds of row-refusing facts a world may choose to enforce although they are only inferred.
INFERRED_RULE_KINDS = ("required", "parents", "format", "maxLength", "rowRequirement", "disclosure")


def evidence_keys(kind: str, name: str = "") -> tuple[str, ...]:
    """``meta.evidence`` keys that may tag one fact, most specific first.

    kinds: ``required`` / ``parents`` / ``values`` of field ``name``; ``format`` / ``maxLength`` of field
    ``name``; ``rowRequirement`` (``name`` = its rule); ``disclosure``; ``keyFormat`` (the resource key column
    ``name`` is a VAN record id)."""
    table = {
        "required": (f"isRequired.{name}", "isRequired", f"fields.{name}", "fields"),
        "parents": (f"parents.{name}", "parents", f"fields.{name}", "fields"),
        "values": (f"values.{name}",),
        "format": (f"fieldFormats.{name}", "fieldFormats"),
        "maxLength": (f"maxLengths.{name}", "maxLengths"),
        "rowRequirement": (f"rowRequirements.{name}", "rowRequirements"),
        "disclosure": ("disclosureCategory",),
        "keyFormat": (f"fieldFormats.{name}", "keyFormat"),
    }
    if kind not in table:
        raise CatalogError(f"unknown evidence kind {kind!r}; known: {', '.join(table)}")
    return table[kind]


def evidence_tag(text: Any) -> str:
    """``"client-observed (P-BI ...)"`` -> ``client-observed``; anything unrecognised -> ``unknown``."""
    word = str(text).strip().split(" ", 1)[0].strip("(),;:").lower() if text else ""
    return word if word in (*EVIDENCE_TAGS, LIVE, OWN) else "unknown"


def names_a_source(text: str) -> bool:
    """True when an evidence text cites a source for its fact (``inferred (EG: ... caps First Name at 50)``), not
    ``inferred (no public source)``: used for length limits, where any stated limit makes a longer value
    impossible (our kept limit is never below the stated one)."""
    inner = str(text).partition("(")[2].strip().lower()
    return bool(inner) and not inner.startswith(("no ", "none"))


def staging_view_name(mapping_type: str) -> str:
    """``CreateOrUpdateContact`` -> ``stg_van__create_or_update_contact``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", mapping_type).lower()
    return f"stg_van__{snake}"


def _parse_field(raw: Mapping[str, Any]) -> FieldDef:
    parents = tuple(
        ParentRule(
            p["parentFieldName"],
            None if p.get("limitedToParentValues") is None
            else tuple(_value_id(v) for v in p["limitedToParentValues"]),
        )
        for p in (raw.get("parents") or [])
    )
    return FieldDef(
        name=raw["name"],
        description=raw.get("description") or "",
        is_required=bool(raw.get("isRequired")),
        has_predefined_values=bool(raw.get("hasPredefinedValues")),
        can_be_mapped_to_column=bool(raw.get("canBeMappedToColumn", True)),
        parents=parents,
        raw=raw,
    )


def _enforced(mt: MappingType, keep: set[str]) -> MappingType:
    if mt.live:
        return mt  # the account said so
    def ok(kind: str, name: str = "") -> bool:
        return kind in keep or mt.evidence(kind, name) in ENFORCEABLE_TAGS

    raw = json.loads(json.dumps(mt.raw))
    for f in raw.get("fields") or []:
        if f.get("isRequired") and not ok("required", f["name"]):
            f["isRequired"] = False
        if f.get("parents") and not ok("parents", f["name"]):
            f["parents"] = None
    meta = json.loads(json.dumps(mt.meta))
    # Impossible values are invalid in every account: keep what they are judged by (the value kinds and the
    # lengths a source states) before the inferred conventions go.
    meta["valueKinds"] = dict(mt.value_kinds)
    meta["statedMaxLengths"] = dict(mt.stated_max_lengths)
    for kind, key in (("format", "fieldFormats"), ("maxLength", "maxLengths")):
        meta[key] = {k: v for k, v in (meta.get(key) or {}).items() if ok(kind, k)}
    meta["rowRequirements"] = [r for r in meta.get("rowRequirements") or [] if ok("rowRequirement", r.get("rule", ""))]
    # The disclosure rule itself is VAN's word (seed text, D-OVER): every account enforces it on the fields it
    # tags, so the categories stay.
    return replace(mt, fields=tuple(_parse_field(f) for f in raw.get("fields", [])), meta=meta, raw=raw)


def _value_id(v: Any) -> str:
    # VAN documents limitedToParentValues loosely; clients model items as {id, name, ...}.
    if isinstance(v, Mapping):
        return str(v.get("id", v.get("name")))
    return str(v)


class Catalog:
    """All mapping types, their predefined values, resources and provenance."""

    def __init__(self, dirs: Iterable[Path]):
        self.dirs = [Path(d) for d in dirs]
        self._mapping_types: dict[str, MappingType] = {}
        self._values: dict[tuple[str, str], dict[str, Any]] = {}
        self._resources: list[str] = []
        self._resource_meta: dict[str, Any] = {}
        for d in self.dirs:
            self._load_dir(d)
        if not self._mapping_types:
            raise CatalogError(f"no mapping types found in {', '.join(map(str, self.dirs))}")
        # Resource-level evidence (e.g. that a key column holds a VAN record id) applies to every mapping
        # type that does not tag the fact itself.
        shared = self._resource_meta.get("factEvidence", {})
        if shared:
            for name, mt in list(self._mapping_types.items()):
                meta = dict(mt.meta)
                meta["evidence"] = {**shared, **mt.meta.get("evidence", {})}
                self._mapping_types[name] = replace(mt, meta=meta)

    def _load_dir(self, d: Path) -> None:
        live = (d / LIVE_MARKER).exists()
        if (d / "resources.json").exists():
            self._resources = _read_json(d / "resources.json")
        if (d / "meta" / "_resources.json").exists():
            self._resource_meta = _read_json(d / "meta" / "_resources.json")
        for path in sorted((d / "mapping_types").glob("*.json")):
            raw = _read_json(path)
            meta_path = d / "meta" / path.name
            previous = self._mapping_types.get(raw["name"])
            meta = _read_json(meta_path) if meta_path.exists() else dict(previous.meta) if previous else {}
            if live:  # the account's lists replace ours entirely: a packaged list it lacks is not its list
                self._values = {k: v for k, v in self._values.items() if k[0] != raw["name"]}
            self._mapping_types[raw["name"]] = MappingType(
                name=raw["name"],
                display_name=raw.get("displayName", raw["name"]),
                allow_multiple_mode=raw.get("allowMultipleMode", "Single"),
                resource_types=tuple(raw.get("resourceTypes", [])),
                fields=tuple(_parse_field(f) for f in raw.get("fields", [])),
                meta=meta,
                raw=raw,
                live=live,
            )
        for path in sorted((d / "values").glob("*/*.json")):
            self._values[(path.parent.name, path.stem)] = _read_json(path)

    def derive(self, mapping_types: Iterable[MappingType]) -> "Catalog":
        """A catalogue with the same values and resources and these mapping types (replacing by name)."""
        new = object.__new__(Catalog)
        new.dirs = list(self.dirs)
        new._mapping_types = {**self._mapping_types, **{mt.name: mt for mt in mapping_types}}
        new._values = dict(self._values)
        new._resources = list(self._resources)
        new._resource_meta = dict(self._resource_meta)
        return new

    def enforced_world(self, enforce_inferred: Iterable[str] = ()) -> "Catalog":
        """The catalogue as an account that enforces only what evidence supports (the simulator's world).

        A fact whose tag is not in :data:`ENFORCEABLE_TAGS` is dropped unless its kind is listed in
        ``enforce_inferred`` (``required``, ``parents``, ``format``, ``maxLength``, ``rowRequirement``,
        ``disclosure``, or ``all``): an inferred ``isRequired`` becomes false, inferred ``parents`` become
        null, inferred formats / lengths / row requirements / disclosure categories are left out. The
        metadata body (``to_api``) changes with it, so what the world serves is what it enforces. Predefined
        value lists are the account's own data and stay."""
        keep = set(enforce_inferred)
        unknown = keep - {*INFERRED_RULE_KINDS, "all"}
        if unknown:
            raise CatalogError(f"unknown rule kinds {sorted(unknown)}; known: {', '.join(INFERRED_RULE_KINDS)}, all")
        if "all" in keep:
            return self
        return self.derive(_enforced(mt, keep) for mt in self)

    # -- mapping types ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return sorted(self._mapping_types)

    def __iter__(self):
        return iter(self._mapping_types[n] for n in self.names)

    def __len__(self) -> int:
        return len(self._mapping_types)

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def find(self, name: str) -> MappingType | None:
        """Case-insensitive lookup by API name, display name, staging view name or its snake_case short name
        (``activist_code``)."""
        key = " ".join(name.lower().split())
        for mt in self._mapping_types.values():
            if key in (mt.name.lower(), mt.display_name.lower(), mt.staging_view.lower(),
                       mt.staging_view.lower().removeprefix("stg_van__")):
                return mt
        return None

    def get(self, name: str) -> MappingType:
        mt = self.find(name)
        if mt is None:
            raise CatalogError(f"unknown mapping type {name!r}; known: {', '.join(self.names)}")
        return mt

    def for_database_mode(self, mode: int) -> list[MappingType]:
        return [mt for mt in self if mode in mt.database_modes]

    # -- predefined values -----------------------------------------------------------------------
    def values_envelope(self, mapping_type: str, field_name: str) -> dict[str, Any] | None:
        """The exact ``/values`` body, or None when the catalogue holds no list for the field."""
        mt = self.get(mapping_type)
        for (m, f), env in self._values.items():
            if m == mt.name and f.lower() == field_name.lower():
                return env
        return None

    def values(self, mapping_type: str, field_name: str) -> list[PredefinedValue] | None:
        env = self.values_envelope(mapping_type, field_name)
        if env is None:
            return None
        return [
            PredefinedValue(str(v["id"]), str(v.get("name", "")), tuple(v["parents"]) if v.get("parents") else None)
            for v in env.get("items", [])
        ]

    def allowed_value_ids(self, mapping_type: str, field_name: str) -> list[str] | None:
        vals = self.values(mapping_type, field_name)
        return None if vals is None else [v.id for v in vals]

    # -- resources -------------------------------------------------------------------------------
    @property
    def resources(self) -> list[str]:
        """The exact ``GET /bulkImportJobs/resources`` body."""
        return list(self._resources)

    def resource_info(self, resource_type: str) -> Mapping[str, Any]:
        return self._resource_meta.get("resources", {}).get(resource_type, {})

    def primary_key_type(self, resource_type: str) -> str:
        return self.resource_info(resource_type).get("primaryKeyType", "VanID")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"cannot read catalogue file {path}: {exc}") from exc


def load_catalog(extra_dirs: Iterable[str | os.PathLike] = ()) -> Catalog:
    """Packaged catalogue, overlaid by ``VANBULK_CATALOG_DIR`` and then by ``extra_dirs``."""
    dirs: list[Path] = [PACKAGED_DIR]
    env_dir = os.environ.get(CATALOG_DIR_ENV)
    if env_dir:
        dirs.append(Path(env_dir))
    dirs.extend(Path(d) for d in extra_dirs)
    return _load_cached(tuple(str(d) for d in dirs if Path(d).exists()))


@lru_cache(maxsize=8)
def _load_cached(dirs: tuple[str, ...]) -> Catalog:
    return Catalog(Path(d) for d in dirs)
