"""Catalogue -> pre-flight rules. No per-mapping-type code: everything comes from the catalogue.

Each row-level rule is one SQL query template over ``{batch}`` (the staging view) that returns the
failing rows as ``source_row_key, column_name, value, message``. The same template is

* the ``unexpected_rows_query`` of a GX ``UnexpectedRowsExpectation`` in the generated suite, and
* rendered with the view's relation to fill ``van_preflight_rejects``,

so GX's verdict and the rejects table cannot disagree about which rows fail.

Choices (see docs/preflight.md):
* blank = NULL or only spaces; blank values never fail value/format rules (VAN leaves the stored value).
* predefined values: the value, trimmed, must equal an id (ids are strings, compared exactly), or a name
  that is unique in the list (case-insensitive) and is not another item's id. Fields whose list the
  catalogue does not hold are not checked. Such a field's ``fieldFormats`` entry still applies to values
  that are not an accepted id or name (so ``abc`` for an integer id fails both rules, a unique name
  fails neither).
* a rule that needs a column the view does not carry (field supplied as a static value) is skipped,
  unless the run passes the static value (``build_static_rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from connector.catalog import (ENFORCEABLE_TAGS, IMPOSSIBLE, INFERRED, OWN, VAN_STATED, Catalog, CatalogError,
                               MappingType)
from connector.preflight.sql import (FORMATS, format_label, has_control_chars, has_surrounding_whitespace, ident,
                                     impossible_date, impossible_number, impossible_phone, is_blank, is_set, lit,
                                     lit_list, valid_format)

MAX_COLUMNS = 50  # VAN's limit on columns in one bulk import file

ROW = "row"
FILE = "file"
REJECT = "reject"
WARN = "warn"

__all__ = ["MAX_COLUMNS", "REJECT", "WARN", "Rule", "inferred_rules", "severity_for", "class_of", "values_hint", "StructuralCheck", "build_rules", "build_static_rules", "structural_checks", "disclosure_groups",
           "PreflightConfigError", "accepted_values"]


class PreflightConfigError(CatalogError):
    """The catalogue asks for a check this module cannot express (e.g. an unknown field format)."""


@dataclass(frozen=True)
class Rule:
    """One SQL-checkable rule; ``query`` returns the offending rows of ``{batch}``."""

    rule: str  # family: required, parent_required, parent_value, predefined_value, format, ...
    column: str  # the column it is about (or a label for multi-column rules)
    level: str  # "row": the failing rows are rejected (every SQL rule is row-level today)
    description: str
    query: str
    variant: str = ""  # tells apart rules sharing rule and column (e.g. one per parent field)
    in_suite: bool = True  # False: depends on the run (static values), so not in the GX suite
    evidence: str = OWN  # tag of the catalogue fact behind the rule (connector.catalog.evidence_keys)
    severity: str = REJECT  # "reject": failing rows are not sent; "warn": recorded, still sent
    # Evidence class (connector.catalog.EVIDENCE_CLASSES): van-stated / impossible reject, inferred warns.
    # Empty: derived from ``evidence`` (class_of).
    evidence_class: str = ""

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.column}" + (f":{self.variant}" if self.variant else "")


@dataclass(frozen=True)
class StructuralCheck:
    """File-level check of the view's shape, expressed with a built-in GX expectation."""

    rule: str
    expectation_type: str
    kwargs: dict[str, Any] = field(hash=False)
    description: str = ""

    @property
    def key(self) -> str:
        return f"{self.rule}:*"


_ROWREF = "coalesce('''' || source_row_key || '''', '(blank key)')"


def _shown(col: str) -> str:
    """The value as shown in messages: quoted, at most 80 characters."""
    return f"coalesce('''' || substr({col}, 1, 80) || '''', 'blank')"


def _query(rule: str, column_sql: str, value_sql: str, text_sql: str, where: str) -> str:
    message = f"'row ' || {_ROWREF} || ': ' || {text_sql} || ' (rule {rule}, class {_CLASS_MARK})'"
    return (f"select source_row_key, {column_sql} as column_name, {value_sql} as value, {message} as message "
            f"from {{batch}} where {where}")


_CLASS_MARK = "@class@"  # stands for the rule's evidence class in its message until the class is known


def _with_class(rule: Rule, strict_inferred: bool) -> Rule:
    cls = rule.evidence_class or class_of(rule.evidence)
    return replace(rule, evidence_class=cls, severity=severity_for(cls, strict_inferred),
                   query=rule.query.replace(_CLASS_MARK, cls))


def _text(s: str) -> str:
    return lit(s)


class _Columns:
    """Case-insensitive view of the staging columns (catalogue names may differ in case)."""

    def __init__(self, names: Iterable[str]):
        self._by_lower = {n.lower(): n for n in names}

    def has(self, name: str) -> bool:
        return name.lower() in self._by_lower

    def name(self, name: str) -> str:
        return self._by_lower[name.lower()]

    def q(self, name: str) -> str:
        return ident(self.name(name))


def accepted_values(catalog: Catalog, mt: MappingType, field_name: str, ids: Iterable[str] | None = None
              ) -> tuple[list[str], list[str]]:
    """(ids, lower-cased unique names) accepted for a field, optionally restricted to ``ids``."""
    values = catalog.values(mt.name, field_name) or []
    counts: dict[str, int] = {}
    for v in values:
        counts[v.name.strip().lower()] = counts.get(v.name.strip().lower(), 0) + 1
    keep = None if ids is None else {str(i) for i in ids}
    out_ids = sorted({v.id for v in values} if keep is None else keep)
    # A name counts when no other item has the same name and it is not another item's id (ambiguous).
    names = sorted({v.name.strip().lower() for v in values
                    if v.name.strip() and counts[v.name.strip().lower()] == 1
                    and not any(o.id == v.name.strip() and o is not v for o in values)
                    and (keep is None or v.id in keep)})
    return out_ids, names


def _matches(col: str, ids: list[str], names: list[str]) -> str:
    parts = []
    if ids:
        parts.append(f"trim({col}) in {lit_list(ids)}")
    if names:
        parts.append(f"lower(trim({col})) in {lit_list(names)}")
    return "(" + (" or ".join(parts) if parts else "1 = 0") + ")"


def class_of(evidence: str) -> str:
    """The evidence class of a rule resting on a catalogue fact with this tag: confirmed, client-observed and live
    facts are VAN's word (``van-stated``); our own bookkeeping (a trackable row key) cannot be valid without it
    (``impossible``); anything else is ``inferred``."""
    if evidence == OWN:
        return IMPOSSIBLE
    return VAN_STATED if evidence in ENFORCEABLE_TAGS else INFERRED


def severity_for(evidence_or_class: str, strict_inferred: bool = False) -> str:
    """Evidence decides: a rule of class ``inferred`` (an inferred or unknown fact) warns unless the user asks for
    ``strict_inferred_rules``; ``van-stated`` and ``impossible`` rules reject. Takes a class or an evidence tag."""
    cls = evidence_or_class if evidence_or_class in (VAN_STATED, IMPOSSIBLE, INFERRED) else class_of(evidence_or_class)
    return REJECT if strict_inferred or cls != INFERRED else WARN


VALUES_SHOWN = 5  # allowed values named in a reject message; the command lists all


def values_hint(catalog: Catalog, mt: MappingType, field_name: str, ids: Iterable[str] | None = None) -> str:
    """``allowed: 1 'Phone', 2 'Walk', ... (12 in all: vanbulk catalog values ActivistCode ContactTypeID)``."""
    values = catalog.values(mt.name, field_name) or []
    if ids is not None:
        keep = {str(i) for i in ids}
        values = [v for v in values if v.id in keep] or [type("V", (), {"id": i, "name": ""})() for i in sorted(keep)]
    shown = ", ".join(f"{v.id} '{v.name}'" if v.name else v.id for v in values[:VALUES_SHOWN])
    more = (f", ... ({len(values)} in all: vanbulk catalog values {mt.name} {field_name})"
            if len(values) > VALUES_SHOWN else f" (vanbulk catalog values {mt.name} {field_name})")
    return f"allowed: {shown or '(none)'}{more}"


def inferred_rules(catalog: Catalog, mapping_types: Iterable[str] | None = None) -> list[tuple[str, Rule]]:
    """(mapping type, rule) for every rule that only warns by default: what ``strict_inferred_rules`` adds."""
    out = []
    for name in mapping_types or catalog.names:
        mt = catalog.get(name)
        out += [(mt.name, r) for r in build_rules(catalog, mt) if r.severity == WARN]
    return out


def build_rules(catalog: Catalog, mt: MappingType, *, strict_inferred: bool = False) -> list[Rule]:
    """Every SQL rule for one mapping type, in a stable order (the suite file order), each with the evidence
    tag of the fact it rests on and the severity that tag gives (``severity_for``)."""
    return [_with_class(r, strict_inferred) for r in _build_rules(catalog, mt)]


def _build_rules(catalog: Catalog, mt: MappingType) -> list[Rule]:
    cols = _Columns(mt.staging_columns)
    rules: list[Rule] = []
    key = ident("source_row_key")

    # The row key carries rejects and VAN's results back to the source row: blank or duplicated keys
    # would make a row untrackable (and a duplicate would be anti-joined together with its twin).
    rules.append(Rule(
        "row_key", "source_row_key", ROW, "source_row_key is set and unique",
        _query("row_key", lit("source_row_key"), key,
               _text("source_row_key is blank, not unique, or has leading/trailing whitespace (it must be the "
                     "source's key exactly), so the row cannot be tracked"),
               f"{is_blank(key)} or {has_surrounding_whitespace(key)} or {key} in (select source_row_key "
               f"from {{batch}} group by source_row_key having count(*) > 1)")))

    # Required: isRequired fields, and the resource key columns that are not fields (e.g. VanID for
    # ActivistCode): each row of such a view names an existing record, so a blank key cannot be applied.
    field_names = {f.name.lower() for f in mt.fields}
    required = [f.name for f in mt.required_fields] + [k for k in mt.key_columns if k.lower() not in field_names]
    always = {k.lower(): why for k, why in mt.always_required.items()}
    required += [k for k in mt.always_required if k.lower() not in {r.lower() for r in required}]
    for name in required:
        if not cols.has(name):
            continue  # not column-mappable: the submit step supplies a static value
        c, cname = cols.q(name), cols.name(name)
        ev = mt.evidence("required", name) if name.lower() in field_names else mt.evidence("keyFormat", name)
        why = f" ({always[name.lower()].split(':')[0]})" if name.lower() in always else ""
        rules.append(Rule("required", cname, ROW, f"{cname} is required{why}",
                          _query("required", lit(cname), c, _text(f"required column {cname} is blank{why}"),
                                 is_blank(c)),
                          evidence=ev, evidence_class=IMPOSSIBLE if name.lower() in always else ""))

    for f in mt.fields:
        if not cols.has(f.name):
            continue
        child, cname = cols.q(f.name), cols.name(f.name)
        for p in f.parents:
            if not cols.has(p.parent_field):
                continue
            parent, pname = cols.q(p.parent_field), cols.name(p.parent_field)
            rules.append(Rule(
                "parent_required", cname, ROW, f"{cname} set requires {pname} set",
                _query("parent_required", lit(cname), child,
                       _text(f"column {cname} is set but its prerequisite {pname} is blank"),
                       f"{is_set(child)} and {is_blank(parent)}"), variant=pname,
                evidence=mt.evidence("parents", f.name)))
            if p.limited_to_parent_values is not None:
                ids, names = accepted_values(catalog, mt, pname, p.limited_to_parent_values)
                ids = sorted(set(ids) | set(p.limited_to_parent_values))
                allowed = ", ".join(ids) or "(none)"
                rules.append(Rule(
                    "parent_value", cname, ROW, f"{cname} set requires {pname} in {allowed}",
                    _query("parent_value", lit(cname), child,
                           f"{_text(f'column {cname} is set but its parent {pname} is ')} || {_shown(parent)} || "
                           f"{_text(f', not one of {allowed}')}",
                           f"{is_set(child)} and {is_set(parent)} and not {_matches(parent, ids, names)}"),
                    variant=pname, evidence=mt.evidence("parents", f.name)))

    for f in mt.fields:
        if not (f.has_predefined_values and cols.has(f.name)):
            continue
        values = catalog.values(mt.name, f.name)
        if values is None:
            continue  # account-specific list not in the catalogue: VAN checks it
        c, cname = cols.q(f.name), cols.name(f.name)
        ids, names = accepted_values(catalog, mt, f.name)
        rules.append(Rule(
            "predefined_value", cname, ROW, f"{cname} is one of {len(ids)} predefined values",
            _query("predefined_value", lit(cname), c,
                   f"{_text(f'column {cname} value ')} || {_shown(c)} || "
                   f"{_text(' is not an allowed id or unique name; ' + values_hint(catalog, mt, f.name))}",
                   f"{is_set(c)} and not {_matches(c, ids, names)}"), evidence=mt.evidence("values", f.name)))
        # Value-level parents: a value may need another field to hold one of allowedParentValues.
        by_parent: dict[str, list[str]] = {}
        for v in values:
            for vp in v.parents or ():
                pfield = vp.get("parentFieldName")
                if not pfield:
                    continue
                allowed = [str(a.get("id", a.get("name"))) if isinstance(a, dict) else str(a)
                           for a in (vp.get("allowedParentValues") or [])]
                if not cols.has(pfield):
                    continue
                parent = cols.q(pfield)
                pids, pnames = accepted_values(catalog, mt, cols.name(pfield), allowed)
                pids = sorted(set(pids) | set(allowed))
                vids, vnames = [v.id], ([v.name.strip().lower()] if v.name.strip().lower() in names else [])
                by_parent.setdefault(cols.name(pfield), []).append(
                    f"({_matches(c, vids, vnames)} and ({is_blank(parent)} or not {_matches(parent, pids, pnames)}))")
        for pname, conds in sorted(by_parent.items()):
            # Value-level parents (allowedParentValues) are the same VAN rule seen from the value side.
            rules.append(Rule(
                "parent_value", cname, ROW, f"values of {cname} allowed only with listed {pname} values",
                _query("parent_value", lit(cname), c,
                       f"{_text(f'column {cname} value ')} || {_shown(c)} || "
                       f"{_text(f' is not allowed with {pname} = ')} || {_shown(cols.q(pname))}",
                       f"{is_set(c)} and (" + " or ".join(conds) + ")"), variant=f"values:{pname}",
                evidence=mt.evidence("values", f.name)))

    # Resource key columns (VanID, ContributionID) name a VAN record: a positive integer id, always.
    formats = {**mt.field_formats, **{k: "id" for k in mt.key_columns}}
    for fname, fmt in formats.items():
        if fmt.lower() not in FORMATS:
            raise PreflightConfigError(
                f"{mt.name}.{fname}: unknown field format {fmt!r}; known: {', '.join(sorted(FORMATS))}")
        if not cols.has(fname) or fmt.lower() in ("text", "string"):
            continue
        try:
            fdef = mt.field(fname)
        except CatalogError:
            fdef = None  # a key column (e.g. VanID) with a format
        c, cname = cols.q(fname), cols.name(fname)
        exempt = ""
        if fdef is not None and fdef.has_predefined_values and catalog.values(mt.name, fname) is not None:
            # An accepted id or unique name of the list is never a format error (a name is not an integer).
            exempt = f" and not {_matches(c, *accepted_values(catalog, mt, fname))}"
        # An email without a dotted domain is no address under any reading: the email check is that minimum.
        # A predefined-value field takes unique names too, so a non-number there is not impossible.
        impossible = None if fname in mt.key_columns or (fdef is not None and fdef.has_predefined_values) \
            else _IMPOSSIBLE.get(fmt.lower())
        if impossible is not None:
            rules.append(Rule(
                "impossible_value", cname, ROW, f"{cname} {impossible[1]}",
                _query("impossible_value", lit(cname), c,
                       f"{_text(f'column {cname} value ')} || {_shown(c)} || {_text(' ' + impossible[1])}",
                       # a canonical value is never impossible: the cheap check first spares the costly one
                       # on nearly every row (DuckDB evaluates a conjunction left to right on the rows left)
                       f"{is_set(c)} and not {valid_format(fmt, c)} and {impossible[0](c)}"),
                evidence_class=IMPOSSIBLE))
        rules.append(Rule(
            "format", cname, ROW, f"{cname} is {format_label(fmt)}",
            _query("format", lit(cname), c,
                   f"{_text(f'column {cname} value ')} || {_shown(c)} || {_text(f' is not {format_label(fmt)}')}",
                   f"{is_set(c)} and not {valid_format(fmt, c)}{exempt}"
                   + (f" and not {impossible[0](c)}" if impossible is not None else "")),
            evidence=mt.evidence("keyFormat" if fname in mt.key_columns else "format", fname),
            evidence_class=IMPOSSIBLE if fmt.lower() == "email" else ""))

    stated_lengths = {k.lower(): v for k, v in mt.stated_max_lengths.items()}
    for fname, n in mt.max_lengths.items():
        if not cols.has(fname):
            continue
        c, cname = cols.q(fname), cols.name(fname)
        rules.append(Rule(
            "max_length", cname, ROW, f"{cname} is at most {int(n)} characters",
            _query("max_length", lit(cname), c,
                   f"{_text(f'column {cname} is ')} || cast(length({c}) as varchar) || "
                   f"{_text(f' characters long, more than the maximum {int(n)}')}",
                   f"{is_set(c)} and length({c}) > {int(n)}"), evidence=mt.evidence("maxLength", fname),
            # a limit some source states (EG, the account): longer cannot be valid; a limit we guessed warns
            evidence_class=IMPOSSIBLE if stated_lengths.get(fname.lower()) == n
            and mt.evidence("maxLength", fname) not in ENFORCEABLE_TAGS else ""))

    for req in mt.row_requirements:
        groups = [list(g) for g in req.get("anyOf", [])]
        if not groups:
            continue
        label = " | ".join("+".join(g) for g in groups)
        satisfied = " or ".join(
            "(" + " and ".join(is_set(cols.q(f)) if cols.has(f) else "1 = 0" for f in g) + ")" for g in groups)
        why = req.get("text") or f"needs one of {label}"
        rules.append(Rule(
            "row_requirement", label, ROW, why,
            _query("row_requirement", lit(label), "cast(null as varchar)",
                   _text(f"columns {label}: none of these combinations is set ({why})"),
                   f"not ({satisfied})"), evidence=mt.evidence("rowRequirement", req.get("rule", ""))))

    groups = disclosure_groups(mt)
    if len(groups) >= 2:
        any_set = {cat: "(" + " or ".join(is_set(ident(c)) for c in cs) + ")" for cat, cs in groups.items()}
        disclosure_cols = [c for cs in groups.values() for c in cs]
        set_cols = ("concat_ws(', ', " + ", ".join(
            f"case when {is_set(ident(c))} then {lit(c)} end" for c in disclosure_cols) + ")")
        cats = " and ".join(sorted(groups))
        n_cats_in_row = " + ".join(f"(case when {s} then 1 else 0 end)" for s in any_set.values())
        rules.append(Rule(
            "disclosure_row_both", "disclosure", ROW, f"a row carries disclosure fields of one category only ({cats})",
            _query("disclosure_row_both", set_cols, "cast(null as varchar)",
                   f"{_text('columns ')} || {set_cols} || {_text(f' mix {cats} disclosure fields in one row')}",
                   f"{n_cats_in_row} >= 2"), evidence=mt.evidence("disclosure"), evidence_class=VAN_STATED))
        # Without a split, the rows of the category most rows carry stay; rows of any other category
        # are rejected (they need a job of their own). Ties go to the category named first.
        counts = " union all ".join(
            f"select {lit(cat)} as cat, (select count(*) from {{batch}} where {cond}) as n"
            for cat, cond in any_set.items())
        keep = f"(select cat from ({counts}) c order by n desc, cat limit 1)"
        row_cat = "case " + " ".join(f"when {cond} then {lit(cat)}" for cat, cond in any_set.items()) + " end"
        rules.append(Rule(
            "disclosure_mixed", "disclosure", ROW,
            f"one file carries {' or '.join(sorted(groups))} disclosure fields, never both: rows of the "
            "category fewer rows carry are rejected (or the view is split, with split_disclosure)",
            _query("disclosure_mixed", set_cols, "cast(null as varchar)",
                   f"{_text('columns ')} || {set_cols} || {_text(' are ')} || {row_cat} || "
                   f"{_text(' disclosure fields, but most rows of this view carry ')} || {keep} || "
                   f"{_text(' ones; VAN takes each category in its own job (set split_disclosure to send both)')}",
                   f"({n_cats_in_row}) = 1 and {row_cat} <> {keep}"), evidence=mt.evidence("disclosure"),
            # VAN states the rule (seed text: Organizations or Individuals, never both, in one file)
            evidence_class=VAN_STATED))

    # Control characters: one condition over all the columns (one translate per row, not one per column); the
    # column is named only for the few failing rows.
    texts = [c for c in mt.staging_columns if c != "source_row_key"]
    if texts:
        joined = " || ".join(f"coalesce({ident(c)}, '')" for c in texts)
        which = "case " + " ".join(f"when {has_control_chars(ident(c))} then {lit(c)}" for c in texts) + " end"
        rules.append(Rule(
            "control_characters", "values", ROW, "no value holds a control character",
            _query("control_characters", which, "cast(null as varchar)",
                   f"{_text('column ')} || {which} || {_text(' holds a control character (not tab, LF or CR)')}",
                   has_control_chars(f"({joined})")), evidence_class=IMPOSSIBLE))
    return rules


# format -> (SQL condition of a value impossible under any reading, what the message says)
_IMPOSSIBLE = {
    "date": (impossible_date, "is not a real calendar date in any format VAN may accept"),
    "datetime": (impossible_date, "is not a real calendar date in any format VAN may accept"),
    "phone": (impossible_phone, "is not a phone number (it holds letters)"),
    "integer": (impossible_number, "is not a number"),
    "decimal": (impossible_number, "is not a number"),
    "number": (impossible_number, "is not a number"),
    "amount": (impossible_number, "is not a number"),
    "currency": (impossible_number, "is not a number"),
    "money": (impossible_number, "is not a number"),
}


def build_static_rules(catalog: Catalog, mt: MappingType, statics: Mapping[str, Any], *,
                       strict_inferred: bool = False) -> list[Rule]:
    """Rules that depend on the run's static values (fields VAN takes as ``staticValue``, not a column).

    A child column whose parent is static is allowed only when the static value is one of
    ``limitedToParentValues``; with any other static value every row that sets the child is rejected.
    These rules depend on the run, not the catalogue, so they are SQL-only (not in the GX suites)."""
    cols = _Columns(mt.staging_columns)
    given = {k.lower(): v for k, v in statics.items()}
    rules: list[Rule] = []
    for f in mt.fields:
        if not cols.has(f.name):
            continue
        child, cname = cols.q(f.name), cols.name(f.name)
        for p in f.parents:
            if cols.has(p.parent_field) or p.limited_to_parent_values is None:
                continue
            value = given.get(p.parent_field.lower())
            if value is None:
                continue  # unknown static: the submit step refuses to send a required field without it
            ids, names = accepted_values(catalog, mt, p.parent_field, p.limited_to_parent_values)
            ids = sorted(set(ids) | set(p.limited_to_parent_values))
            v = str(value).strip()
            if v in ids or v.lower() in names:
                continue
            allowed = ", ".join(ids) or "(none)"
            rules.append(Rule(
                "parent_value", cname, ROW, f"{cname} set requires static {p.parent_field} in {allowed}",
                _query("parent_value", lit(cname), child,
                       _text(f"column {cname} is set but its parent {p.parent_field} is the static value "
                             f"'{v}', not one of {allowed}"),
                       is_set(child)), variant=f"static:{p.parent_field}", in_suite=False,
                evidence=mt.evidence("parents", f.name)))
    return [_with_class(r, strict_inferred) for r in rules]


def disclosure_groups(mt: MappingType) -> dict[str, list[str]]:
    """Category -> staging columns tagged with it (only columns the view carries), categories sorted."""
    cols = _Columns(mt.staging_columns)
    out: dict[str, list[str]] = {}
    for fname, cat in mt.disclosure_category.items():
        if cols.has(fname):
            out.setdefault(str(cat), []).append(cols.name(fname))
    order = {c: i for i, c in enumerate(mt.staging_columns)}
    return {cat: sorted(cs, key=order.__getitem__) for cat, cs in sorted(out.items())}


def structural_checks(mt: MappingType) -> list[StructuralCheck]:
    return [
        StructuralCheck("columns_match_catalog", "expect_table_columns_to_match_ordered_list",
                        {"column_list": list(mt.staging_columns)},
                        "the view's columns are exactly the catalogue's staging columns, in order"),
        StructuralCheck("column_count", "expect_table_column_count_to_be_between",
                        {"min_value": 1, "max_value": MAX_COLUMNS},
                        f"a bulk import file has at most {MAX_COLUMNS} columns"),
    ]
