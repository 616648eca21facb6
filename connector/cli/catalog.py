"""``vanbulk catalog ...``: the mapping-type catalogue."""

from __future__ import annotations

import json

import click

from connector.cli import main


@main.group("catalog")
def catalog() -> None:
    """The mapping-type catalogue (packaged, overlaid by VANBULK_CATALOG_DIR)."""


@catalog.command("refresh")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory to write (then set VANBULK_CATALOG_DIR to it).")
@click.option("--mapping-type", "names", multiple=True, help="Only these mapping types (repeatable).")
@click.option("--project-dir", envvar="VANBULK_PROJECT_DIR", type=click.Path(file_okay=False))
def refresh(out_dir, names, project_dir):
    """Write live metadata from VAN (GET /bulkImportMappingTypes, /values, /resources) in catalogue format."""
    from connector.api import refresh_catalog
    from connector.cli import output
    from connector.cli.jobs import _fail, _settings
    from connector.errors import VanbulkError

    try:
        written = refresh_catalog(_settings(project_dir), out_dir, names=list(names) or None)
    except VanbulkError as exc:
        _fail(exc)
    output(f"wrote {len(written)} mapping type(s) to {out_dir}; use them with VANBULK_CATALOG_DIR={out_dir}", "result",
           written=written)


@catalog.command("diff")
@click.option("--mapping-type", "names", multiple=True, help="Only these mapping types (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: mapping type -> differences.")
@click.option("--project-dir", envvar="VANBULK_PROJECT_DIR", type=click.Path(file_okay=False))
def diff(names, as_json, project_dir):
    """Show how the account's live metadata differs from the packaged catalogue, per field and value."""

    from connector.api import catalog_diff
    from connector.cli import output
    from connector.cli.jobs import _fail, _settings
    from connector.errors import VanbulkError

    try:
        found = catalog_diff(_settings(project_dir), names=list(names) or None)
    except VanbulkError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for name, lines in found.items():
        for line in lines:
            output(line, "catalog_diff", mapping_type=name)


@catalog.command("inferred-rules")
@click.option("--mapping-type", "names", multiple=True, help="Only these mapping types (repeatable).")
def inferred_rules_cmd(names):
    """List the pre-flight rules that rest on inferred or unknown facts: they warn unless
    strict_inferred_rules is set (and the simulator enforces them only when told to)."""
    from connector.catalog import load_catalog
    from connector.preflight.rules import inferred_rules

    cat = load_catalog()
    try:
        found = inferred_rules(cat, [cat.get(n).name for n in names] or None)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    from connector.cli import output

    for mt, rule in found:
        output(f"{mt:<28} {rule.key:<50} {rule.evidence}", "inferred_rule", mapping_type=mt, rule=rule.key,
               evidence=rule.evidence)
    output(f"{len(found)} rule(s) warn by default; strict_inferred_rules: true makes them reject", "result",
           count=len(found))


@catalog.command("values")
@click.argument("mapping_type")
@click.argument("field_name")
def values_cmd(mapping_type, field_name):
    """List the values a predefined-value field accepts (id and name), e.g.
    `vanbulk catalog values ActivistCode ActivistCodeID`. A run against VAN refreshes the account's own lists
    (`vanbulk catalog diff`); this lists the catalogue in use (packaged + VANBULK_CATALOG_DIR)."""
    from connector.catalog import CatalogError, load_catalog
    from connector.cli import output

    cat = load_catalog()
    try:
        mt = cat.get(mapping_type)
        field = mt.field(field_name)
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None
    values = cat.values(mt.name, field.name)
    if values is None:
        raise click.UsageError(f"{mt.name}.{field.name} has no predefined value list in the catalogue"
                               + (" (account-specific: `vanbulk catalog refresh` brings the account's)"
                                  if field.has_predefined_values else ""))
    for v in values:
        output(f"{v.id:<12} {v.name}", "value", mapping_type=mt.name, field=field.name, id=v.id, name=v.name)
    output(f"{len(values)} value(s) for {mt.name}.{field.name}: give the id (or a name no other value has)",
           "result", count=len(values))


@catalog.command("render-dbt")
@click.option("--dbt-project-dir", type=click.Path(file_okay=False), default=None,
              help="dbt project to write into (default: the packaged dbt_project/).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the generated files differ from the catalogue.")
def render_dbt(dbt_project_dir, check):
    """Generate the staging views, their YAML, sources, exposures and seed configs from the catalogue."""
    from connector import dbtgen

    project = dbt_project_dir or dbtgen.DEFAULT_PROJECT_DIR
    if check:
        drifted = dbtgen.check(project)
        for rel in drifted:
            click.echo(f"out of date: {rel}")
        if drifted:
            raise SystemExit(1)
        click.echo("dbt files match the catalogue")
        return
    changed = dbtgen.write(project)
    for rel in changed:
        click.echo(f"wrote {rel}")
    click.echo(f"{len(changed)} file(s) changed in {project}")
