"""Build ``POST /bulkImportJobs`` bodies from the catalogue.

* ``fieldValueMappings`` are explicit (never VAN's by-name guessing): every column-mappable field present
  in the file maps ``fieldName -> columnName``. Resource key columns that are not fields of the mapping
  type (``VanID`` for ``ActivistCode``) stay plain file columns, which VAN matches by name.
* ``columnsToIncludeInResultsFile`` = ``source_row_key``, so results join back to source rows.
* The description obeys VAN's rules: at most 255 characters, nothing matching ``[<>]+|&#``.
* A job may carry several mapping types over one file (``JobSpec.mappings``), as VAN allows; in a file
  shared by several mapping types a column may be prefixed ``<MappingType>__<Field>`` to disambiguate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from connector.export import ROW_KEY

DESCRIPTION_MAX = 255
_FORBIDDEN = re.compile(r"[<>]+|&#")
COLUMN_SEP = "__"

__all__ = ["JobSpec", "MappingSpec", "build_payload", "choose_resource_type", "safe_description",
           "field_value_mappings"]


@dataclass(frozen=True)
class MappingSpec:
    name: str
    static_values: dict[str, Any] = field(default_factory=dict)  # fieldName -> staticValue


@dataclass(frozen=True)
class JobSpec:
    mappings: tuple[MappingSpec, ...]

    @property
    def mapping_names(self) -> list[str]:
        return [m.name for m in self.mappings]

    @property
    def label(self) -> str:
        return "+".join(self.mapping_names)


def safe_description(text: str) -> str:
    text = _FORBIDDEN.sub(" ", text)
    text = re.sub(r"[<>&#]", " ", text)  # belt and braces: no partial entity survives
    text = re.sub(r"\s+", " ", text).strip()
    return text[:DESCRIPTION_MAX] or "vanbulk import"


def choose_resource_type(mapping_types: Sequence, available: Sequence[str] | None) -> str:
    """The first resource type every mapping type supports, preferring ones VAN lists for this key."""
    common = [r for r in mapping_types[0].resource_types
              if all(r in mt.resource_types for mt in mapping_types[1:])]
    if not common:
        raise ValueError(f"mapping types {[m.name for m in mapping_types]} share no resource type")
    if available:
        for r in common:
            if r in available:
                return r
        raise ValueError(f"none of {common} is available to this API key (VAN lists {list(available)})")
    return common[0]


def field_value_mappings(mt, columns: Sequence[str], statics: dict[str, Any] | None = None) -> list[dict]:
    """``fieldName -> columnName`` for every column-mappable field the file carries (prefixed wins)."""
    by_lower = {c.lower(): c for c in columns}
    out: list[dict] = []
    statics = dict(statics or {})
    for f in mt.fields:
        if f.name in statics:
            out.append({"fieldName": f.name, "staticValue": statics.pop(f.name)})
            continue
        if not f.can_be_mapped_to_column:
            continue
        col = by_lower.get(f"{mt.name}{COLUMN_SEP}{f.name}".lower()) or by_lower.get(f.name.lower())
        if col is not None:
            out.append({"fieldName": f.name, "columnName": col})
    if statics:
        raise ValueError(f"{mt.name}: static values for unknown fields {sorted(statics)}")
    return out


def build_payload(catalog, spec: JobSpec, *, columns: Sequence[str], file_name: str, source_url: str,
                  resource_type: str, description: str, result_file_size_kb_limit: int) -> dict[str, Any]:
    mappings = []
    for m in spec.mappings:
        mt = catalog.get(m.name)
        fvm = field_value_mappings(mt, columns, m.static_values)
        if not fvm:
            raise ValueError(f"{mt.name}: the file maps none of its fields")
        mappings.append({"name": mt.name, "fieldValueMappings": fvm})
    if ROW_KEY not in columns:
        raise ValueError(f"the file must carry {ROW_KEY}")
    return {
        "description": safe_description(description),
        "file": {
            "fileName": file_name,
            "hasHeader": True,
            "hasQuotes": True,
            "sourceUrl": source_url,
            "columns": [{"name": c} for c in columns],
            "columnDelimiter": "Csv",
        },
        "actions": [{
            "actionType": "loadMappedFile",
            "resourceType": resource_type,
            "resultFileSizeKbLimit": int(result_file_size_kb_limit),
            "columnsToIncludeInResultsFile": [{"name": ROW_KEY}],
            "mappingTypes": mappings,
        }],
    }
