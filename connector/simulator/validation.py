"""POST /bulkImportJobs rules. Every rule is generic and driven by the catalogue; all errors are reported.

The result of a valid request is a ``JobSpec``: the file layout plus, per mapping, each field bound to a
file column or a static value. Processing re-derives the spec from the stored request, so it survives
restarts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from connector.catalog import Catalog, FieldDef, MappingType

from .auth import Context
from .config import DISCLOSURE_REJECT, SimulatorConfig
from .errors import ApiError, error, invalid
from . import formats

DESCRIPTION_FORBIDDEN = re.compile(r"[<>]+|&#")
DELIMITERS = {"csv": ",", "tab": "\t", "pipe": "|"}
ACTION_TYPE = "loadMappedFile"


@dataclass
class BoundField:
    field: FieldDef
    column: int | None = None  # index into file.columns
    static: str | None = None  # normalised static value
    translate: dict[str, str] = field(default_factory=dict)  # lower(sourceValue) -> targetValue


@dataclass
class BoundMapping:
    mapping_type: MappingType
    position: int  # index in actions[0].mappingTypes
    fields: list[BoundField]
    creates_records: bool = False

    def bound(self, name: str) -> BoundField | None:
        return next((b for b in self.fields if b.field.name.lower() == name.lower()), None)


@dataclass
class JobSpec:
    description: str
    file_name: str
    source_url: str
    has_header: bool
    has_quotes: bool
    delimiter: str
    columns: list[str]
    resource_type: str
    result_kb: int
    mappings: list[BoundMapping]
    include_columns: list[int]
    key_type: str
    key_column: str
    key_source: tuple[str, int] | None  # ("column", index) or ("static", ...) - where the record key comes from
    creator: BoundMapping | None
    disclosure_conflict: bool
    webhook_url: str | None


def parse_bool(value: Any) -> bool | None:
    """VAN (.NET) accepts JSON booleans and the strings "true"/"false" in any case; None when invalid."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def normalise_value(catalog: Catalog, mt: MappingType, f: FieldDef, raw: str) -> tuple[str | None, str | None]:
    """Check one non-blank value of a field: values no account takes (control characters, impossible dates,
    non-numbers, emails without a dotted domain, lengths over a stated limit), predefined list (id, or unique
    name), format, max length."""
    value = raw.strip()
    kind = _ci_get(mt.value_kinds, f.name)
    bad = formats.impossible(None if f.has_predefined_values else kind, value)
    if bad:
        return None, f"{bad} ({f.name})"
    stated = _ci_get(mt.stated_max_lengths, f.name)
    if stated and len(value) > int(stated):
        return None, f"{f.name} must be {stated} characters or fewer"
    if f.has_predefined_values:
        items = catalog.values(mt.name, f.name)
        if items is not None:
            by_id = [v for v in items if v.id.lower() == value.lower()]
            if by_id:
                value = by_id[0].id
            else:
                by_name = [v for v in items if v.name.strip().lower() == value.lower()]
                if len(by_name) > 1:
                    return None, f"'{raw}' matches more than one {f.name} value; use its id"
                if not by_name:
                    return None, f"Invalid {f.name}: '{raw}' is not an accepted value"
                value = by_name[0].id
    fmt = _ci_get(mt.field_formats, f.name)
    if fmt:
        normalised, message = formats.check(fmt, value)
        if message:
            return None, f"{message} ({f.name})"
        value = normalised or value
    limit = _ci_get(mt.max_lengths, f.name)
    if limit and len(value) > int(limit):
        return None, f"{f.name} must be {limit} characters or fewer"
    return value, None


def _ci_get(mapping: Any, name: str) -> Any:
    for k, v in (mapping or {}).items():
        if k.lower() == name.lower():
            return v
    return None


def validate_job(body: Any, ctx: Context, config: SimulatorConfig) -> JobSpec:
    """Return the spec of a valid request; raise ApiError(400/403) listing every problem found."""
    if not isinstance(body, dict):
        raise ApiError(400, [invalid("The request body must be a JSON object.", "")])
    errors: list[dict] = []
    forbidden: list[dict] = []
    catalog = ctx.catalog

    description = body.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        errors.append(invalid("description is required.", "description"))
    elif not isinstance(description, str):
        errors.append(invalid("description must be a string.", "description"))
    else:
        if len(description) > config.max_description_length:
            errors.append(invalid(f"description must be {config.max_description_length} characters or fewer.",
                                  "description"))
        if DESCRIPTION_FORBIDDEN.search(description):
            errors.append(invalid("description must not contain HTML or HTML entities.", "description"))

    webhook = body.get("webhookUrl")
    if webhook is not None and not (isinstance(webhook, str) and re.match(r"^https?://", webhook)):
        errors.append(invalid("webhookUrl must be an http(s) URL.", "webhookUrl"))

    # -- file ------------------------------------------------------------------------------------
    f = body.get("file")
    columns: list[str] = []
    file_name = source_url = ""
    has_header = has_quotes = False
    delimiter = ","
    if not isinstance(f, dict):
        errors.append(invalid("file is required.", "file"))
    else:
        file_name = f.get("fileName")
        if not isinstance(file_name, str) or not file_name.strip():
            errors.append(invalid("file.fileName is required.", "file.fileName"))
            file_name = ""
        source_url = f.get("sourceUrl")
        if not isinstance(source_url, str) or not source_url.strip():
            errors.append(invalid("file.sourceUrl is required.", "file.sourceUrl"))
            source_url = ""
        elif not re.match(r"^https?://", source_url.strip(), re.I):
            errors.append(invalid("file.sourceUrl must be an http or https URL.", "file.sourceUrl"))
        for key in ("hasHeader", "hasQuotes"):
            parsed = parse_bool(f.get(key))
            if parsed is None:
                errors.append(invalid(f"file.{key} must be true or false.", f"file.{key}"))
            elif key == "hasHeader":
                has_header = parsed
            else:
                has_quotes = parsed
        delim = f.get("columnDelimiter")
        if delim is None:
            delimiter = ","
        elif isinstance(delim, str) and delim.strip().lower() in DELIMITERS:
            delimiter = DELIMITERS[delim.strip().lower()]
        else:
            errors.append(invalid("file.columnDelimiter must be one of Csv, Tab, Pipe.", "file.columnDelimiter"))
        cols = f.get("columns")
        if not isinstance(cols, list) or not cols:
            errors.append(invalid("file.columns is required.", "file.columns"))
        else:
            if len(cols) > config.max_columns:
                errors.append(invalid(f"A file may have at most {config.max_columns} columns.", "file.columns"))
            seen: set[str] = set()
            for i, c in enumerate(cols):
                name = c.get("name") if isinstance(c, dict) else None
                if not isinstance(name, str) or not name.strip():
                    errors.append(invalid("Each column needs a name.", f"file.columns[{i}].name"))
                    name = f"\x00{i}"  # keep positions aligned with the file
                elif name.strip().lower() in seen:
                    errors.append(invalid(f"Column name '{name}' is used more than once.",
                                          f"file.columns[{i}].name"))
                seen.add(name.strip().lower())
                columns.append(name.strip())
    col_index = {c.lower(): i for i, c in reversed(list(enumerate(columns)))}

    # -- actions ---------------------------------------------------------------------------------
    actions = body.get("actions")
    spec_parts: dict[str, Any] = {}
    if not isinstance(actions, list) or not actions:
        errors.append(invalid("actions is required.", "actions"))
        actions = []
    elif len(actions) > config.max_actions:
        errors.append(invalid(f"A job may have at most {config.max_actions} action(s).", "actions"))
    for ai, action in enumerate(actions[: config.max_actions]):
        p = f"actions[{ai}]"
        if not isinstance(action, dict):
            errors.append(invalid("Each action must be an object.", p))
            continue
        at = action.get("actionType")
        if not isinstance(at, str) or at.strip().lower() != ACTION_TYPE.lower():
            errors.append(invalid(f"actionType must be '{ACTION_TYPE}'.", f"{p}.actionType"))
        rt_raw = action.get("resourceType")
        resource = ctx.find_resource(rt_raw) if isinstance(rt_raw, str) else None
        if resource is None:
            errors.append(invalid(f"resourceType '{rt_raw}' is not one of the available resource types.",
                                  f"{p}.resourceType"))
        kb = action.get("resultFileSizeKbLimit")
        if kb is None:
            kb = config.default_result_kb
        elif isinstance(kb, bool) or not isinstance(kb, (int, str)) or not str(kb).strip().isdigit() \
                or not config.min_result_kb <= int(kb) <= config.max_result_kb:
            errors.append(invalid(f"resultFileSizeKbLimit must be an integer from {config.min_result_kb} to "
                                  f"{config.max_result_kb}.", f"{p}.resultFileSizeKbLimit"))
            kb = config.default_result_kb
        include: list[int] = []
        for k, c in enumerate(action.get("columnsToIncludeInResultsFile") or []):
            name = c.get("name") if isinstance(c, dict) else None
            if not isinstance(name, str) or name.strip().lower() not in col_index:
                errors.append(invalid(f"Column '{name}' is not one of the file's columns.",
                                      f"{p}.columnsToIncludeInResultsFile[{k}].name"))
            else:
                include.append(col_index[name.strip().lower()])
        mts = action.get("mappingTypes")
        bound: list[BoundMapping] = []
        if not isinstance(mts, list) or not mts:
            errors.append(invalid("mappingTypes is required.", f"{p}.mappingTypes"))
            mts = []
        for mi, m in enumerate(mts):
            bm = _bind_mapping(m, f"{p}.mappingTypes[{mi}]", mi, ctx, resource, columns, col_index, errors,
                               forbidden)
            if bm is not None:
                bound.append(bm)
        _check_multiple_mode(bound, p, errors)
        spec_parts = {"resource": resource, "kb": int(kb), "include": include, "bound": bound, "path": p}

    # -- record key (e.g. the contact's VanID) and disclosure --------------------------------------
    key_type = key_column = ""
    key_source = None
    creator = None
    conflict = False
    if spec_parts.get("resource"):
        resource = spec_parts["resource"]
        bound = spec_parts["bound"]
        key_type = catalog.primary_key_type(resource)
        key_column = catalog.resource_info(resource).get("keyColumn", key_type)
        usable = [bm for bm in bound if resource.lower() in {r.lower() for r in bm.mapping_type.resource_types}]
        for bm in usable:
            if any(fd.name.lower() == key_column.lower() for fd in bm.mapping_type.fields) \
                    or bm.mapping_type.meta.get("createsRecords"):
                bm.creates_records = True
                creator = creator or bm
        if creator is not None and (b := creator.bound(key_column)) is not None and b.column is not None:
            key_source = ("column", b.column)
        elif key_column.lower() in col_index:
            key_source = ("column", col_index[key_column.lower()])
        if key_source is None and creator is None and usable:
            errors.append(invalid(
                f"The file needs a '{key_column}' column to identify the {resource} records "
                "(or a mapping type that creates them).", spec_parts["path"]))
        categories: dict[str, str] = {}
        for bm in bound:
            for b in bm.fields:
                cat = _ci_get(bm.mapping_type.disclosure_category, b.field.name)
                if cat:
                    categories.setdefault(str(cat).lower(), f"{spec_parts['path']}.mappingTypes[{bm.position}]")
        conflict = "individual" in categories and "organization" in categories
        if conflict and config.disclosure_conflict == DISCLOSURE_REJECT:
            errors.append(invalid(
                "Disclosure fields for Individuals and Organizations cannot be loaded in the same file; "
                "split them into separate jobs.", categories["individual"], categories["organization"]))

    if forbidden:
        raise ApiError(403, forbidden)
    if errors:
        raise ApiError(400, errors)
    return JobSpec(
        description=description, file_name=file_name.strip(), source_url=source_url.strip(),
        has_header=has_header, has_quotes=has_quotes, delimiter=delimiter, columns=columns,
        resource_type=spec_parts["resource"], result_kb=spec_parts["kb"], mappings=spec_parts["bound"],
        include_columns=spec_parts["include"], key_type=key_type, key_column=key_column, key_source=key_source,
        creator=creator, disclosure_conflict=conflict, webhook_url=webhook)


def _bind_mapping(m: Any, p: str, position: int, ctx: Context, resource: str | None, columns: list[str],
                  col_index: dict[str, int], errors: list[dict], forbidden: list[dict]) -> BoundMapping | None:
    catalog = ctx.catalog
    if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"].strip():
        errors.append(invalid("Each mapping type needs a name.", f"{p}.name"))
        return None
    mt = ctx.find_mapping_type(m["name"].strip())
    if mt is None:
        errors.append(invalid(f"Mapping type '{m['name']}' does not exist.", f"{p}.name"))
        return None
    if not ctx.may_use(mt):
        forbidden.append(error("FORBIDDEN", f"The API key does not have permission to use the mapping type "
                                            f"'{mt.name}'.", [f"{p}.name"]))
        return None
    if resource is not None and resource.lower() not in {r.lower() for r in mt.resource_types}:
        errors.append(invalid(f"Mapping type '{mt.name}' cannot be used with resourceType '{resource}'.",
                              f"{p}.name"))
    fvms = m.get("fieldValueMappings")
    bound: list[BoundField] = []
    explicit = fvms is not None
    if explicit and not isinstance(fvms, list):
        errors.append(invalid("fieldValueMappings must be an array.", f"{p}.fieldValueMappings"))
        fvms = []
    if explicit:
        for j, fvm in enumerate(fvms):
            fp = f"{p}.fieldValueMappings[{j}]"
            if not isinstance(fvm, dict):
                errors.append(invalid("Each field value mapping must be an object.", fp))
                continue
            fname = fvm.get("fieldName")
            fd = next((x for x in mt.fields if isinstance(fname, str) and x.name.lower() == fname.strip().lower()),
                      None)
            if fd is None:
                errors.append(invalid(f"Field '{fname}' does not exist in mapping type '{mt.name}'.",
                                      f"{fp}.fieldName"))
                continue
            if any(b.field.name == fd.name for b in bound):
                errors.append(invalid(f"Field '{fd.name}' is mapped more than once.", f"{fp}.fieldName"))
                continue
            col, static = fvm.get("columnName"), fvm.get("staticValue")
            has_col = col is not None and str(col) != ""
            has_static = static is not None and str(static) != ""
            b = BoundField(fd)
            if has_col == has_static:
                errors.append(invalid(f"Field '{fd.name}' needs exactly one of columnName or staticValue.", fp))
                continue
            if has_col:
                if not fd.can_be_mapped_to_column:
                    errors.append(invalid(f"Field '{fd.name}' cannot be mapped to a column; use a staticValue.",
                                          f"{fp}.columnName"))
                    continue
                if not isinstance(col, str) or col.strip().lower() not in col_index:
                    errors.append(invalid(f"Column '{col}' is not one of the file's columns.", f"{fp}.columnName"))
                    continue
                b.column = col_index[col.strip().lower()]
            else:
                text = _text(static)
                value, message = (None, "staticValue must be a string or number") if text is None \
                    else normalise_value(catalog, mt, fd, text)
                if message:
                    errors.append(invalid(f"Invalid staticValue for field '{fd.name}': {message}.",
                                          f"{fp}.staticValue"))
                    continue
                b.static = value
            for k, tv in enumerate(fvm.get("values") or []):
                vp = f"{fp}.values[{k}]"
                src = _text(tv.get("sourceValue")) if isinstance(tv, dict) else None
                tgt = _text(tv.get("targetValue")) if isinstance(tv, dict) else None
                if src is None or tgt is None:
                    errors.append(invalid("Each value translation needs sourceValue and targetValue.", vp))
                    continue
                value, message = normalise_value(catalog, mt, fd, tgt) if tgt.strip() else (tgt, None)
                if message:
                    errors.append(invalid(f"Invalid targetValue for field '{fd.name}': {message}.",
                                          f"{vp}.targetValue"))
                    continue
                b.translate[src.strip().lower()] = value
            bound.append(b)
    else:
        # No fieldValueMappings: VAN binds fields to same-named columns (case-insensitive).
        for fd in mt.fields:
            if fd.can_be_mapped_to_column and fd.raw.get("canBeMappedByName", True) \
                    and fd.name.lower() in col_index:
                bound.append(BoundField(fd, column=col_index[fd.name.lower()]))
    where = f"{p}.fieldValueMappings" if explicit else p
    names = {b.field.name for b in bound}
    for fd in mt.required_fields:
        if fd.name not in names:
            how = "" if explicit else " (no fieldValueMappings given and no column has its name)"
            errors.append(invalid(f"Required field '{fd.name}' of mapping type '{mt.name}' is not mapped{how}.",
                                  where))
    for b in bound:
        for parent in b.field.parents:
            pb = next((x for x in bound if x.field.name.lower() == parent.parent_field.lower()), None)
            if pb is None:
                errors.append(invalid(f"Field '{b.field.name}' requires its parent field "
                                      f"'{parent.parent_field}' to be mapped.", where))
            elif parent.limited_to_parent_values is not None and pb.static is not None and \
                    pb.static.lower() not in {v.lower() for v in parent.limited_to_parent_values}:
                errors.append(invalid(f"Field '{b.field.name}' cannot be used when '{pb.field.name}' is "
                                      f"'{pb.static}'.", where))
    return BoundMapping(mt, position, bound)


def _check_multiple_mode(bound: list[BoundMapping], p: str, errors: list[dict]) -> None:
    """allowMultipleMode: Single once per job; SinglePerType repeats only with a different static type."""
    by_type: dict[str, list[BoundMapping]] = {}
    for bm in bound:
        by_type.setdefault(bm.mapping_type.name, []).append(bm)
    for name, group in by_type.items():
        mode = group[0].mapping_type.allow_multiple_mode.lower()
        if len(group) < 2 or mode == "multiple":
            continue
        if mode == "single":
            for bm in group[1:]:
                errors.append(invalid(f"Mapping type '{name}' may be used only once per job.",
                                      f"{p}.mappingTypes[{bm.position}].name"))
            continue
        seen: set[tuple] = set()
        for bm in group:
            signature = tuple(sorted((b.field.name, b.static.lower()) for b in bm.fields if b.static is not None))
            if signature in seen or not signature:
                errors.append(invalid(f"Mapping type '{name}' may be used more than once only when each use "
                                      "has a different static type value.", f"{p}.mappingTypes[{bm.position}]"))
            seen.add(signature)
