"""Live mapping-type metadata: the account's own fields, parents and values, read before pre-flight.

The packaged catalogue is the offline default; in a run against VAN (or the simulator, which plays an account)
``GET /bulkImportMappingTypes/{name}`` and ``GET .../{field}/values`` for each mapping type about to be sent win
where they exist. They are written in the catalogue's own layout to ``state_dir/metadata/<target>/`` (marked
live, so its facts count as the account's word) and reused for ``metadata_ttl_seconds``.

Then each staging view is held against the account's metadata (drift before sending): a view column the
account does not know, one it does not let come from a column, or a column-mappable field the account requires
that the view lacks blocks that mapping type in pre-flight, before anything is hosted or POSTed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence


from connector.catalog import LIVE_MARKER, Catalog, MappingType
from connector.errors import VanError

log = logging.getLogger(__name__)

__all__ = ["LiveMetadata", "cache_dir", "diff_mapping_type", "fetch_metadata", "live_catalog", "view_drift"]

Block = tuple[str, "str | None", str]  # (rule, column, reason), as pre-flight records a block


@dataclass
class LiveMetadata:
    """What a run learnt from the account and what it means for each mapping type."""

    catalog: Catalog  # packaged + live overlay, each live mapping type shaped to its staging view
    blocks: dict[str, list[Block]] = field(default_factory=dict)  # mapping type -> why it cannot be sent
    fetched: list[str] = field(default_factory=list)  # read from the account in this run
    cached: list[str] = field(default_factory=list)  # read from the cache (younger than the TTL)
    unavailable: dict[str, str] = field(default_factory=dict)  # mapping type -> why no live metadata
    directory: Path | None = None

    def summary(self) -> str:
        parts = []
        if self.fetched:
            parts.append(f"{len(self.fetched)} read from the account")
        if self.cached:
            parts.append(f"{len(self.cached)} from the cache")
        if self.unavailable:
            parts.append(f"{len(self.unavailable)} without live metadata (packaged catalogue used)")
        # a column the account lacks does not block (pre-flight holds back the rows that fill it)
        blocked = sum(1 for b in self.blocks.values() if any(rule != "unknown_field" for rule, _, _ in b))
        if blocked:
            parts.append(f"{blocked} blocked by drift")
        return "live metadata: " + (", ".join(parts) or "none")


def cache_dir(state_dir: Path, api_target: str, application_name: str, api_key: str | None,
              database_mode: int) -> Path:
    """One folder per account: the API target, application name and key (hashed, never stored) and mode."""
    digest = hashlib.sha256("\0".join([api_target, application_name, api_key or ""]).encode()).hexdigest()[:16]
    return Path(state_dir) / "metadata" / f"{digest}-mode{int(database_mode)}"


def _read_marker(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / LIVE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def fetch_metadata(client, names: Sequence[str], directory: Path, *, ttl_seconds: float,
                   api_target: str, clock: Callable[[], float] = time.time) -> tuple[list[str], list[str], dict[str, str]]:
    """Read each mapping type's metadata (and its predefined fields' values) into ``directory``, unless the
    cached copy is younger than ``ttl_seconds``. Returns (fetched, cached, unavailable: name -> reason)."""
    directory.mkdir(parents=True, exist_ok=True)
    marker = _read_marker(directory)
    read_at: dict[str, float] = dict(marker.get("readAt", {}))
    fetched, cached, unavailable = [], [], {}
    now = clock()
    for name in names:
        if ttl_seconds > 0 and name in read_at and now - float(read_at[name]) < ttl_seconds \
                and (directory / "mapping_types" / f"{name}.json").exists():
            cached.append(name)
            continue
        try:
            body = client.get_mapping_type(name)
            values = {f["name"]: client.get_field_values(body["name"], f["name"])
                      for f in body.get("fields") or [] if f.get("hasPredefinedValues")}
        except VanError as exc:  # e.g. a type the key may not use: pre-flight says so from VAN's list
            unavailable[name] = f"GET /bulkImportMappingTypes/{name} answered {exc.status_code or 'no response'}"
            _forget(directory, name)
            read_at.pop(name, None)
            continue
        _write_mapping_type(directory, body, values)
        read_at[body["name"]] = now
        fetched.append(body["name"])
    (directory / LIVE_MARKER).write_text(json.dumps(
        {"apiTarget": api_target, "readAt": read_at,
         "note": "GET /bulkImportMappingTypes/{name} and /values as the account answered them (vanbulk)"},
        indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return fetched, cached, unavailable


def _forget(directory: Path, name: str) -> None:
    (directory / "mapping_types" / f"{name}.json").unlink(missing_ok=True)
    shutil.rmtree(directory / "values" / name, ignore_errors=True)


def _write_mapping_type(directory: Path, body: dict, values: dict[str, list]) -> None:
    name = body["name"]
    _forget(directory, name)
    (directory / "mapping_types").mkdir(parents=True, exist_ok=True)
    (directory / "mapping_types" / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    for fname, items in values.items():
        d = directory / "values" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{fname}.json").write_text(json.dumps({"items": items, "nextPageLink": None, "count": len(items)},
                                                    indent=2) + "\n", encoding="utf-8")


def view_drift(mt: MappingType, view_columns: Sequence[str]) -> list[Block]:
    """Why a staging view cannot be sent as the account's ``mt``: columns the account does not know or does
    not take from a column, and column-mappable fields it requires that the view lacks."""
    known = {f.name.lower(): f for f in mt.fields}
    keys = {k.lower() for k in mt.key_columns}
    have = {c.lower() for c in view_columns}
    out: list[Block] = []
    for c in view_columns:
        if c == "source_row_key" or c.lower() in keys:
            continue
        f = known.get(c.lower())
        if f is None:
            out.append(("unknown_field", c, f"{mt.name}: the account has no field {c} (GET /bulkImportMappingTypes/"
                                            f"{mt.name}); rows with a value there are held back and the column "
                                            "is left out of the file (`vanbulk catalog diff` lists the fields)"))
        elif not f.can_be_mapped_to_column:
            out.append(("not_column_mappable", c, f"{mt.name}: the account does not take field {f.name} from a "
                                                  "file column; give it as a static value instead"))
    for f in mt.required_fields:
        if f.can_be_mapped_to_column and f.name.lower() not in have:
            out.append(("required_field_missing", f.name,
                        f"{mt.name}: the account requires field {f.name}, which the staging view does not carry"))
    return out


def _shaped(mt: MappingType, view_columns: Sequence[str]) -> MappingType:
    """The account's mapping type with the staging view's columns as its file columns (same order)."""
    return replace(mt, meta={**mt.meta, "stagingColumns": list(view_columns)})


def _view_columns(warehouse, schema: str, view: str) -> list[str] | None:
    return warehouse.describe(view, schema)


def live_catalog(rt, names: Sequence[str], *, fetch: bool = True) -> LiveMetadata:
    """Live metadata for ``names`` laid over the catalogue, each live type shaped to its staging view, with
    the drift blocks pre-flight must apply. ``fetch=False`` (dry runs) uses only what the cache holds."""
    s = rt.settings
    directory = cache_dir(s.state_dir, rt.api_target, s.application_name, s.api_key, s.database_mode)
    fetched: list[str] = []
    cached: list[str] = []
    unavailable: dict[str, str] = {}
    if fetch and rt.client is not None:
        # The embedded simulator is local and may be reconfigured between runs: read it every time.
        ttl = 0 if s.simulated else float(s.metadata_ttl_seconds)
        fetched, cached, unavailable = fetch_metadata(rt.client, names, directory, ttl_seconds=ttl,
                                                      api_target=rt.api_target)
    elif (directory / LIVE_MARKER).exists():
        cached = [n for n in names if (directory / "mapping_types" / f"{n}.json").exists()]
    if not (directory / LIVE_MARKER).exists():
        return LiveMetadata(rt.catalog, unavailable={n: "not read (dry run without a cached copy)" for n in names})
    catalog = Catalog([*rt.catalog.dirs, directory])  # not load_catalog's cache: the folder's files change
    shaped, blocks = [], {}
    for name in names:
        mt = catalog.find(name)
        if mt is None or not mt.live:
            continue
        cols = _view_columns(rt.warehouse, s.staging_schema, mt.staging_view)
        if cols is None:
            continue  # pre-flight reports the missing view
        blocks[mt.name] = view_drift(mt, cols)
        shaped.append(_shaped(mt, cols))
    return LiveMetadata(catalog.derive(shaped), blocks, fetched, cached, unavailable, directory)


# -- catalog diff -----------------------------------------------------------------------------------------

_FIELD_ATTRS = ("isRequired", "hasPredefinedValues", "canBeMappedToColumn", "canBeMappedByName", "parents")


def diff_mapping_type(packaged: Catalog, live: Catalog, name: str) -> list[str]:
    """Lines saying how the account's ``name`` differs from the packaged catalogue, per field and value."""
    p, lv = packaged.find(name), live.find(name)
    if lv is None or not lv.live:
        return [f"{name}: no live metadata"]
    if p is None:
        return [f"{lv.name}: only in the account ({len(lv.fields)} fields)"]
    out = []
    for attr, a, b in (("allowMultipleMode", p.allow_multiple_mode, lv.allow_multiple_mode),
                       ("resourceTypes", list(p.resource_types), list(lv.resource_types))):
        if a != b:
            out.append(f"{lv.name}: {attr} packaged {a} / account {b}")
    pf = {f.name.lower(): f for f in p.fields}
    lf = {f.name.lower(): f for f in lv.fields}
    for k in sorted(set(pf) | set(lf)):
        if k not in lf:
            out.append(f"{lv.name}.{pf[k].name}: only in the packaged catalogue")
            continue
        if k not in pf:
            out.append(f"{lv.name}.{lf[k].name}: only in the account"
                       + (" (required)" if lf[k].is_required else ""))
            continue
        for attr in _FIELD_ATTRS:
            a, b = pf[k].raw.get(attr), lf[k].raw.get(attr)
            if _norm(a) != _norm(b):
                out.append(f"{lv.name}.{lf[k].name}: {attr} packaged {json.dumps(a)} / account {json.dumps(b)}")
        if lf[k].has_predefined_values or pf[k].has_predefined_values:
            out += _diff_values(packaged, live, p.name, lf[k].name)
    return out or [f"{lv.name}: same as the packaged catalogue"]


def _norm(v: Any) -> Any:
    return json.loads(json.dumps(v, sort_keys=True)) if v not in (None, [], False) else None


def _diff_values(packaged: Catalog, live: Catalog, mt: str, fname: str) -> list[str]:
    a = {v.id: v.name for v in packaged.values(mt, fname) or []}
    b = {v.id: v.name for v in live.values(mt, fname) or []}
    if not a and not b:
        return []
    out = []
    only_live = sorted(set(b) - set(a), key=_id_order)
    only_packaged = sorted(set(a) - set(b), key=_id_order)
    renamed = sorted((i for i in set(a) & set(b) if a[i] != b[i]), key=_id_order)
    if only_live:
        out.append(f"{mt}.{fname} values only in the account: " + ", ".join(f"{i} {b[i]!r}" for i in only_live))
    if only_packaged:
        out.append(f"{mt}.{fname} values only in the packaged catalogue: "
                   + ", ".join(f"{i} {a[i]!r}" for i in only_packaged))
    for i in renamed:
        out.append(f"{mt}.{fname} value {i}: packaged {a[i]!r} / account {b[i]!r}")
    return out


def _id_order(v: str) -> tuple[int, Any]:
    return (0, int(v)) if v.isdigit() else (1, v)
