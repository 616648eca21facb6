"""Test helpers: a hand-made staging schema and a pass-through pre-flight, so connector tests run
without dbt and Great Expectations (those have their own tests; the end-to-end test uses them all)."""

from __future__ import annotations

from connector.catalog import load_catalog
from connector.preflight.report import MappingTypeResult, PreflightReport
from connector.warehouse import Warehouse

ACTIVIST_ROWS = [  # source_row_key, VanID, ActivistCodeID (None: the first valid id)
    ("ac-1", "100001", None), ("ac-2", "100002", None), ("ac-3", "100003", None),
    ("ac-4", "999999", None),  # no such contact: VAN answers with a message in the result file
    ("ac-5", "100004", "987654321"),  # not a valid code: VAN drops the row (absent from results)
]
CONTACT_ROWS = [  # source_row_key, VanID, FirstName, LastName, Email
    ("c-1", "100001", "Ada", "Lovelace", "ada@example.org"),
    ("c-2", None, "Mary", "Somerville", "mary@example.org"),
    ("c-3", None, "Emmy", "Noether", None),
]


def make_staging(url: str, schema: str = "van_staging", activist_code_id: str | None = None,
                 activist_rows=None, contact_rows=None, table_schema: str | None = None) -> None:
    """Tables under ``<schema>_src`` and views named as the contract says, all text columns (any engine)."""
    cat = load_catalog()
    ac_id = activist_code_id or cat.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    wh = Warehouse(url)
    src = table_schema or f"{schema}_src"
    ac_rows = [(k, v, code or ac_id) for k, v, code in (activist_rows or ACTIVIST_ROWS)]
    with wh.begin() as c:
        import sqlalchemy as sa

        for s in (schema, src):
            c.execute(sa.text(wh.ops.create_schema_sql(s)))
    for mt_name, rows in (("ActivistCode", ac_rows), ("CreateOrUpdateContact", contact_rows or CONTACT_ROWS)):
        mt = cat.get(mt_name)
        cols = mt.staging_columns
        given = {"ActivistCode": ["source_row_key", "VanID", "ActivistCodeID"],
                 "CreateOrUpdateContact": ["source_row_key", "VanID", "FirstName", "LastName", "Email"]}[mt_name]
        table = f"{mt.staging_view}_t"
        view, tab = wh.relation(mt.staging_view, schema), wh.relation(table, src)
        wh.execute(f'drop view if exists {view}')
        wh.execute(f'drop table if exists {tab}')
        wh.execute(f'create table {tab} ({", ".join(f"{wh.quote(c)} {wh.ops.text_type}" for c in cols)})')
        wh.insert_rows(table, given, rows, schema=src)
        wh.execute(f'create view {view} as select {", ".join(wh.quote(c) for c in cols)} from {tab}')
    wh.dispose()


def passthrough_preflight(warehouse, catalog, mapping_types, run_id, settings, available_mapping_types=None,
                          static_values=None, metadata_blocks=None):
    report = PreflightReport(run_id)
    for name in mapping_types:
        mt = catalog.get(name)
        rel = warehouse.relation(mt.staging_view, settings.staging_schema)
        n = warehouse.scalar(f"select count(*) from {rel}")
        report.results[name] = MappingTypeResult(name, rel, rows_checked=n, passing_rows_sql=f"select * from {rel}")
    return report
