"""``vanbulk validate``: pre-flight checks of the staging views (no VAN calls), Data Docs path printed.

Also maintains the generated GX suites: ``--regenerate-suites`` rewrites them from the catalogue,
``--check-suites`` exits 1 when the files under expectations/ drift from it.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

import click

from connector.cli import main, output
from connector.config import load_settings, merge_static_values
from connector.errors import ConfigError


@main.command("validate")
@click.option("-s", "--select", "select", multiple=True,
              help="Mapping types (API or display name, or staging view); repeatable. "
                   "Default: every mapping type whose staging view exists.")
@click.option("--project-dir", envvar="VANBULK_PROJECT_DIR", type=click.Path(file_okay=False),
              help="Directory holding vanbulk.yml and expectations/ (default: current).")
@click.option("--run-id", help="Run id for van_preflight_rejects (default: validate-<UTC time>-<random>).")
@click.option("--policy", type=click.Choice(["send_passing", "block"]), help="Overrides preflight_policy.")
@click.option("--split-disclosure/--no-split-disclosure", default=None,
              help="Split a view mixing Individual and Organization disclosure fields into two jobs.")
@click.option("--static", "statics", multiple=True, metavar="MT.FIELD=VALUE",
              help="Static value the job will send (as for `vanbulk run`), e.g. "
                   "ApplyContactCustomFields.CustomFieldGroupID=501; repeatable.")
@click.option("--no-gx", is_flag=True, help="SQL rules and rejects only: skip the GX checkpoint and Data Docs.")
@click.option("--strict", is_flag=True, help="Exit 1 when any row is rejected (default: only when blocked).")
@click.option("--rows", "show_rows", type=click.IntRange(min=0), default=0, metavar="N",
              help="Also print up to N rejected rows per mapping type (row key, rule, column, value, message).")
@click.option("--regenerate-suites", is_flag=True, help="Rewrite the GX suites from the catalogue and exit.")
@click.option("--check-suites", is_flag=True, help="Exit 1 if the GX suites drift from the catalogue.")
def validate(select, project_dir, run_id, policy, split_disclosure, statics, no_gx, strict, show_rows,
             regenerate_suites, check_suites) -> None:
    """Run the pre-flight checks and write failing rows to van_preflight_rejects."""
    from connector.catalog import load_catalog
    from connector.preflight.runner import gx_root
    from connector.preflight.suites import drifted_suites, write_suites

    try:
        settings = load_settings(project_dir, preflight_policy=policy, split_disclosure=split_disclosure)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    catalog = load_catalog()
    root = gx_root(settings)
    if regenerate_suites or check_suites:
        if regenerate_suites:
            for path in write_suites(catalog, root, prune=True):
                click.echo(f"wrote {path}")
        problems = drifted_suites(catalog, root)
        for name, why in sorted(problems.items()):
            click.echo(f"drift: {name}: {why}", err=True)
        if not problems:
            click.echo(f"{len(catalog)} suites in {root} match the catalogue")
        sys.exit(1 if problems else 0)

    from connector.preflight import run_preflight
    from connector.warehouse import Warehouse

    warehouse = Warehouse(settings.warehouse_url)
    if select:
        from connector.run.selection import resolve_mapping_types

        try:
            names, _ = resolve_mapping_types(catalog, list(select), settings.database_mode)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    else:
        names = [mt.name for mt in catalog if warehouse.relation_exists(mt.staging_view, settings.staging_schema)]
        if not names:
            click.echo(f"no staging views in schema {settings.staging_schema}: run dbt first", err=True)
            sys.exit(1)
    run_id = run_id or f"validate-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    static_values: dict[str, dict[str, str]] = {}
    for item in statics:
        target, sep, value = item.partition("=")
        mt_name, dot, field_name = target.rpartition(".")
        if not (sep and dot and mt_name and field_name):
            raise click.BadParameter(f"{item!r}: expected MappingType.Field=VALUE", param_hint="--static")
        static_values.setdefault(catalog.get(mt_name).name, {})[field_name] = value
    # vanbulk.yml's static_values, overridden per field by --static (as in `vanbulk run`)
    static_values = merge_static_values(settings.static_values, static_values)
    available, metadata_blocks = None, None
    if not settings.simulated:  # with a key, the same permission check as `vanbulk run`
        from connector.errors import VanError
        from connector.van_client import VanClient

        from types import SimpleNamespace

        from connector.live_metadata import live_catalog
        from connector.redaction import strip_query

        try:
            with VanClient.from_settings(settings) as client:
                client.check_reachable()
                available = {m.get("name") for m in client.list_mapping_types() if isinstance(m, dict)}
                # the account's own metadata wins, as in `vanbulk run` (cached in the state folder)
                listed = {n.lower() for n in available if n}
                live = live_catalog(SimpleNamespace(settings=settings, api_target=strip_query(settings.api_base_url),
                                                    client=client, catalog=catalog, warehouse=warehouse),
                                    [n for n in names if n.lower() in listed])
        except VanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        catalog, metadata_blocks = live.catalog, live.blocks
        output(live.summary(), "live_metadata", fetched=live.fetched, cached=live.cached)
    from connector.events import Events
    from connector.run.progress import run_preflight_stage

    # a live bar per mapping type on a terminal; the report below is the one summary
    report = run_preflight_stage(Events(), run_preflight, warehouse, catalog, names, run_id, settings, done_line=False,
                                 gx=not no_gx, static_values=static_values, available_mapping_types=available,
                                 metadata_blocks=metadata_blocks)
    from connector.preflight.checked import release

    release(warehouse, report.checked_relations)  # validate sends nothing: its copy of the views goes now
    blocked = bool(report.blocked)
    if show_rows:
        _print_rows(warehouse, report, run_id, show_rows)
    output(report.summary(), "validate_summary", run_id=run_id, rows_rejected=report.rows_rejected,
           blocked=report.blocked)
    sys.exit(1 if blocked or (strict and report.rows_rejected) else 0)


def _print_rows(warehouse, report, run_id: str, limit: int) -> None:
    """The first ``limit`` rejected rows of each mapping type, then its first ``limit`` warned rows (bounded: a view
    can fail millions), each with the query listing all of them."""
    for name, res in report.results.items():
        for kind, rel, total in (("reject", report.rejects_relation, res.rows_rejected),
                                 ("warning", report.warnings_relation, res.rows_warned)):
            if not total or not rel:
                continue
            where = f"where run_id = '{run_id}' and mapping_type = '{name}'"
            found = warehouse.fetchall(
                f"select source_row_key, rule, column_name, value, message from {rel} where run_id = :r and "
                f"mapping_type = :m order by source_row_key, rule, column_name limit {int(limit)}",
                {"r": run_id, "m": name})
            for key, rule, column, value, message in found:
                output(f"{name}: {'' if kind == 'reject' else 'warning (sent): '}{message}", kind, mapping_type=name,
                       source_row_key=key, rule=rule, column=column, value=value)
            total_rows = warehouse.scalar(f"select count(*) from {rel} {where}")
            if total_rows > len(found):
                output(f"{name}: {total_rows - len(found)} more {kind}(s): select * from {rel} {where}",
                       f"{kind}_more", mapping_type=name, more=total_rows - len(found))
