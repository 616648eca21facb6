"""``vanbulk catalog ...``: the mapping-type catalogue."""

from __future__ import annotations

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
    from connector.errors import ConnectorError

    try:
        written = refresh_catalog(_settings(project_dir), out_dir, names=list(names) or None)
    except ConnectorError as exc:
        _fail(exc)
    output(f"wrote {len(written)} mapping type(s) to {out_dir}; use them with VANBULK_CATALOG_DIR={out_dir}", "result",
           written=written)


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
