"""What a run sends per mapping type: which mapping types, which static values, which file columns."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from connector.config import merge_static_values
from connector.errors import ConfigError
from connector.errors import ConnectorError
from connector.export import ROW_KEY

__all__ = ["excluded_by_statics", "file_columns", "missing_statics", "passing_sqls", "resolve_mapping_types",
           "resolve_static_values"]


DBT_SELECTOR_CHARS = set(":+*@/")
DROPPED_SUFFIX = "__dropped"  # models/van_dropped/<view>__dropped (connector/preflight/dropped.py)  # tag:x, path:models/..., +model, model+, 1+model, @model


def resolve_mapping_types(catalog, select: Sequence[str] | None, database_mode: int) -> tuple[list[str], list[str]]:
    """(mapping type names, dbt selectors). ``-s`` takes API names, display names ("Apply Activist Code"),
    staging views or their short names, comma- or space-separated; a dbt selector (``tag:x``, ``+model``)
    passes to dbt. Anything else is an error listing the valid names (never a silent empty run)."""
    if not select:
        return [mt.name for mt in catalog.for_database_mode(database_mode)], []
    names, dbt_sel, unknown = [], [], []
    for item in select:
        for part in (p.strip() for p in str(item).split(",")):
            if not part:
                continue
            found = [catalog.find(part)] if catalog.find(part) else [catalog.find(w) for w in part.split()]
            if found and all(found):
                for mt in found:
                    names.append(mt.name)
                    dbt_sel.append(f"+{mt.staging_view}")  # with its parents (seeds, inputs)
                    # and the model recording the input rows the view leaves out (van_preflight_dropped):
                    # without it those rows would end nowhere (a project without it: dbt only warns)
                    dbt_sel.append(f"+{mt.staging_view}{DROPPED_SUFFIX}")
            elif set(part) & DBT_SELECTOR_CHARS:
                dbt_sel.append(part)
            else:
                unknown.append(part)
    if unknown:
        raise ConfigError(
            f"unknown mapping type {', '.join(repr(u) for u in unknown)} in --select; use an API name, display name "
            f"or staging view, e.g. ActivistCode, \"Apply Activist Code\" or stg_van__activist_code. Valid: "
            + ", ".join(mt.name for mt in catalog))
    return list(dict.fromkeys(names)), dbt_sel


def resolve_static_values(catalog, *layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, str]]:
    """Settings' ``static_values`` merged with the CLI's (later wins), keyed by the catalogue's own mapping
    type and field names (matched case-insensitively, as pre-flight matches them), so every step agrees."""
    out: dict[str, dict[str, str]] = {}
    for layer in layers:  # resolved per layer, so a display name in one layer and the API name in another merge
        for mt_name, fields in merge_static_values(layer).items():
            mt = catalog.find(mt_name)
            if mt is None:
                raise ConfigError(f"static_values: unknown mapping type {mt_name!r}")
            names = {f.name.lower(): f.name for f in mt.fields}
            out.setdefault(mt.name, {}).update({names.get(k.lower(), k): v for k, v in fields.items()})
    return out


def missing_statics(mt, statics: Mapping[str, Any]) -> list[str]:
    """Required fields no column can carry and no static value gives."""
    given = {k.lower() for k in statics}
    return [f.name for f in mt.required_fields if not f.can_be_mapped_to_column and f.name.lower() not in given]


def excluded_by_statics(catalog, mt, statics: Mapping[str, Any]) -> set[str]:
    """Fields (lower case) whose parent is a static value outside their ``limitedToParentValues``.

    VAN refuses a job that maps such a field (CF201 of group 502 under CustomFieldGroupID 501), so the file
    leaves the column out; pre-flight has already rejected every row that carries a value in it."""
    from connector.preflight.rules import accepted_values

    given = {k.lower(): str(v).strip() for k, v in (statics or {}).items()}
    out: set[str] = set()
    for f in mt.fields:
        for p in f.parents:
            v = given.get(p.parent_field.lower())
            if v is None or p.limited_to_parent_values is None:
                continue
            ids, names = accepted_values(catalog, mt, p.parent_field, p.limited_to_parent_values)
            if v not in set(ids) | set(p.limited_to_parent_values) and v.lower() not in names:
                out.add(f.name.lower())
    return out


def file_columns(warehouse, catalog, mts, relation: str, statics: Mapping[str, Mapping[str, Any]] | None = None
                 ) -> list[str]:
    """``source_row_key``, key columns, then every column-mappable field the view carries (contract order),
    minus fields a static parent value does not allow."""
    schema, view = relation.split(".", 1)
    have = {c.lower(): c for c in warehouse.columns(view, schema)}
    cols: list[str] = []
    for mt in mts:
        drop = excluded_by_statics(catalog, mt, (statics or {}).get(mt.name, {}))
        for c in mt.staging_columns:
            if c.lower() in have and c not in cols and c.lower() not in drop:
                cols.append(have[c.lower()])
    if ROW_KEY not in cols:
        raise ConnectorError(f"{relation} has no {ROW_KEY} column")
    return cols


def passing_sqls(res) -> list[tuple[str, list[str] | None]]:
    """(SELECT, columns) per file: pre-flight may split a view into column groups (disclosure categories)."""
    sqls = list(res.split_rows_sql or [])
    groups = list(res.split or [])
    if sqls:
        return [(sql, list(groups[i]) if i < len(groups) else None) for i, sql in enumerate(sqls)]
    return [(res.passing_rows_sql, None)]
