"""Run the generated suites with Great Expectations (an in-memory context; the suites are the generated
files under ``expectations/``), SQL pushdown, Data Docs written to ``expectations/gx/uncommitted/data_docs``.

One data source per engine (``vanbulk_duckdb`` / ``vanbulk_postgresql``) whose connection string is the
config variable ``${VANBULK_GX_CONNECTION}`` (never written anywhere); one table asset + validation
definition per staging view (``preflight__<view>``) reading the batch table the SQL pass left
(rejects.write_findings); one checkpoint per run (``vanbulk_preflight``, run name = our run id); Data Docs
built once for the run's results.

DuckDB goes through the ``duckdb_gx`` dialect (connector/warehouse/gx_dialect.py): without it GX reads
empty results on DuckDB.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from connector.preflight.suites import mapping_type_of_suite, suite_name, write_suites  # noqa: E402
from connector.warehouse import Warehouse  # noqa: E402
from connector.warehouse.engines import Engine  # noqa: E402
from connector.warehouse.gx_dialect import (dispose_pools, forget_columns, gx_url, known_columns,  # noqa: E402
                                            register)

log = logging.getLogger(__name__)

CONNECTION_VAR = "VANBULK_GX_CONNECTION"
CHECKPOINT = "vanbulk_preflight"

__all__ = ["ExpectationOutcome", "GxRun", "gx_root", "run_checkpoint"]


@dataclass
class ExpectationOutcome:
    key: str  # Rule.key / StructuralCheck.key, from the expectation's meta
    rule: str
    column: str
    level: str
    success: bool
    observed: Any  # row count for unexpected-rows expectations, the observed value otherwise
    exception: str | None = None


@dataclass
class GxRun:
    success: bool
    outcomes: dict[str, list[ExpectationOutcome]] = field(default_factory=dict)  # mapping type -> outcomes
    data_docs_path: str | None = None
    pages: dict[str, str] = field(default_factory=dict)  # mapping type -> this run's validation page (file)


def gx_root(settings) -> Path:
    return Path(getattr(settings, "gx_dir", None) or Path(settings.project_dir) / "expectations")


DRY_RUN_SITE = "dry_run_site"


def docs_site(root: Path, dry_run: bool = False) -> Path:
    """Where Data Docs are written (the place GX's file context used): ``<root>/gx/uncommitted/data_docs/local_site``;
    a dry run's beside it in ``dry_run_site``, so it never replaces the last real run's pages."""
    return Path(root) / "gx" / "uncommitted" / "data_docs" / (DRY_RUN_SITE if dry_run else "local_site")


def _context(root: Path, catalog, mapping_types: list[str], ops=None, dry_run: bool = False):
    """An in-memory GX context whose Data Docs site is on disk, holding this run's suites.

    Why not the file context in ``expectations/``: it re-reads and re-substitutes great_expectations.yml on
    nearly every call and rewrites it for each asset added (bench/bench_preflight.py: most of GX's fixed
    cost for the 21 demo views). The suites GX runs are the generated ones, identical to the committed files."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
    )

    import connector.preflight.gx_expectations  # noqa: F401  (registers vanbulk_row_rule with GX)
    from connector.preflight.suites import suite_dict

    site = docs_site(root, dry_run)
    site.mkdir(parents=True, exist_ok=True)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={"local_site": {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}},
        analytics_enabled=False)
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    from connector.preflight.gx_expectations import register_rule_sets

    suites = [ctx.suites.add(ExpectationSuite(**suite_dict(catalog, catalog.get(name), _compiler(ops))))
              for name in mapping_types]
    register_rule_sets(suites)  # each view's rules counted in one statement (gx_expectations.py)
    return ctx


def _compiler(ops):
    """The engine's compile step for GX's rule queries, ``{batch}`` kept for GX; None where it is the identity."""
    if ops is None or type(ops).compile_portable is Engine.compile_portable:
        return None
    mark = "vanbulk_gx_batch_marker"
    return lambda q: ops.compile_portable(q.replace("{batch}", mark)).replace(mark, "{batch}")


def run_checkpoint(warehouse: Warehouse, catalog, settings, run_id: str,
                   targets: Iterable[tuple[str, ...]], dry_run: bool = False) -> GxRun:
    """Validate each target with its mapping type's suite in one checkpoint run. A target is (mapping type,
    staging view) or (mapping type, staging view, table, schema): the table GX reads for that view (the
    batch table the SQL pass wrote, see rejects.write_findings)."""
    targets = list(targets)
    root = gx_root(settings)
    if not targets:
        return GxRun(success=True)
    register()
    # Suites follow the catalogue in use (packaged + overlays); unchanged files are not rewritten. A mapping
    # type read from the account (live metadata) is checked with its own suite, in memory only: the files
    # stay the packaged catalogue's, so a run never rewrites expectations/ with one account's metadata.
    packaged = [t[0] for t in targets if not catalog.get(t[0]).live]
    if packaged:
        write_suites(catalog, root, packaged)
    url = warehouse.engine.url.render_as_string(hide_password=False)
    os.environ[CONNECTION_VAR] = gx_url(url)
    _remember_columns(warehouse, settings, targets)  # read by GX's config substitution, never written to disk
    with warnings.catch_warnings():
        # One generic SQL data source for every engine, and the staging schema named per asset: deliberate.
        warnings.filterwarnings("ignore", message=".*schema_name. is deprecated.*")
        warnings.filterwarnings("ignore", message=".*more specific [A-Za-z]*Datasource.*")
        return _run(_context(root, catalog, [t[0] for t in targets], warehouse.ops, dry_run), warehouse, settings,
                    run_id, targets)


def _remember_columns(warehouse: Warehouse, settings, targets: list[tuple[str, ...]]) -> None:
    """The validated tables' columns, one catalogue query per schema for the run, for GX's reflection (its dialects
    answer from them: connector/warehouse/gx_dialect.py). Engines whose GX dialect reflects otherwise: nothing."""
    if warehouse.dialect not in ("duckdb", "postgresql"):
        return
    by_schema: dict[str, list[str]] = {}
    for _mt, view, *where in targets:
        table, schema = where if where else (view, settings.staging_schema)
        by_schema.setdefault(schema, []).append(table)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    with warehouse.connect() as conn:
        for schema, tables in by_schema.items():
            for table, column, data_type in conn.execute(sa.text(
                    "select table_name, column_name, data_type from information_schema.columns "
                    "where table_schema = :s and table_name in :t order by table_name, ordinal_position"
                    ).bindparams(sa.bindparam("t", expanding=True)), {"s": schema, "t": tables}):
                found.setdefault((schema, table), []).append((column, data_type))
    known_columns(found)


def _run(ctx, warehouse: Warehouse, settings, run_id: str, targets: list[tuple[str, ...]]) -> GxRun:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    ds = ctx.data_sources.add_sql(name=f"vanbulk_{warehouse.dialect}",
                                            connection_string="${" + CONNECTION_VAR + "}")
    vds = []
    try:
        for mt_name, view, *where in targets:
            table, schema = where if where else (view, settings.staging_schema)
            asset = ds.add_table_asset(name=view, table_name=table, schema_name=schema)
            batch = asset.add_batch_definition_whole_table("whole_view")
            suite = ctx.suites.get(suite_name(mt_name))
            vds.append(ctx.validation_definitions.add(
                gx.ValidationDefinition(name=f"preflight__{view}", data=batch, suite=suite)))
        checkpoint = ctx.checkpoints.add(gx.Checkpoint(
            name=CHECKPOINT, validation_definitions=vds,
            actions=[],  # Data Docs built once below: the per-result action re-renders the site 21 times
            result_format={"result_format": "BASIC", "partial_unexpected_count": 20}))
        result = checkpoint.run(run_id=RunIdentifier(run_name=run_id))
    finally:
        # Release the warehouse: GX's pooled connections would keep the DuckDB file locked.
        dispose_pools()
        forget_columns()
        from connector.preflight.gx_expectations import clear_rule_sets

        clear_rule_sets()
        try:
            ds.get_engine().dispose()
        except Exception:  # pragma: no cover - best effort
            log.debug("could not dispose the GX engine", exc_info=True)

    outcomes: dict[str, list[ExpectationOutcome]] = {}
    for vr in result.run_results.values():
        mt_name = mapping_type_of_suite(vr.suite_name) or vr.suite_name
        rows = outcomes.setdefault(mt_name, [])
        for r in vr.results:
            meta = r.expectation_config.meta or {}
            exc = r.exception_info or {}
            raised = exc.get("raised_exception") if isinstance(exc, dict) else False
            rows.append(ExpectationOutcome(
                key=meta.get("key", ""), rule=meta.get("rule", r.expectation_config.type), column=meta.get("column", "*"),
                level=meta.get("level", "row"), success=bool(r.success),
                observed=(r.result or {}).get("observed_value"),
                exception=exc.get("exception_message") if raised else None))
    docs, pages = None, {}
    try:
        ctx.build_data_docs(resource_identifiers=list(result.run_results.keys()))
        sites = ctx.get_docs_sites_urls()
        if sites and sites[0].get("site_url"):
            docs = sites[0]["site_url"].removeprefix("file://")
        for vri, vr in result.run_results.items():
            page = ctx.get_docs_sites_urls(resource_identifier=vri)
            if page and page[0].get("site_url"):
                mt_name = mapping_type_of_suite(vr.suite_name) or vr.suite_name
                pages[mt_name] = page[0]["site_url"].removeprefix("file://")
    except Exception as exc:  # pragma: no cover - docs are a convenience, not a verdict
        log.warning("could not locate Data Docs: %s", exc)
    return GxRun(success=bool(result.success), outcomes=outcomes, data_docs_path=docs, pages=pages)
