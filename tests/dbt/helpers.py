from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa

from connector import dbtgen
from connector.catalog import load_catalog

DEMO_DIR = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "demo"


def view_columns(engine: sa.Engine, schema: str = "van_staging") -> dict[str, list[tuple[str, str]]]:
    q = sa.text("select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = :s order by table_name, ordinal_position")
    out: dict[str, list[tuple[str, str]]] = {}
    with engine.connect() as c:
        for table, column, dtype in c.execute(q, {"s": schema}):
            out.setdefault(table, []).append((column, dtype.lower()))
    return out


def views(engine: sa.Engine, schema: str = "van_staging") -> set[str]:
    q = sa.text("select table_name from information_schema.tables where table_schema = :s and table_type = 'VIEW'")
    with engine.connect() as c:
        return {r[0] for r in c.execute(q, {"s": schema})}


def assert_no_column_drift(engine: sa.Engine) -> None:
    """Every view's columns are exactly the catalogue's staging_columns, in order, all text."""
    catalog = load_catalog()
    actual = view_columns(engine)
    problems = []
    for mt in catalog:
        got = [c for c, _ in actual.get(mt.staging_view, [])]
        if got != mt.staging_columns:
            problems.append(f"{mt.staging_view}: expected {mt.staging_columns}, got {got}")
        types = {t for _, t in actual.get(mt.staging_view, [])}
        if not types <= {"varchar", "text", "character varying"}:
            problems.append(f"{mt.staging_view}: non-text columns {types}")
    assert not problems, "\n".join(problems)


def demo_rows(mt) -> list[dict[str, str]]:
    with open(DEMO_DIR / f"demo_{dbtgen.slug(mt)}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def assert_preflight_tests_left_to_preflight(settings, sync_build) -> None:
    """`vanbulk run`'s build (``sync_build``) runs none of the staging views' generated tests (pre-flight checks
    the same rules row by row); run on their own, as an analyst's `dbt build` runs them, every one passes and
    only the fixed value sets warn (the demo's deliberately bad values)."""
    from connector.dbt_runner import PREFLIGHT_TESTS, run_dbt

    ran = [r["unique_id"] for r in sync_build.results if r["unique_id"].startswith("test.")]
    assert not [t for t in ran if "source_row_key" in t or "accepted_values" in t], ran
    tested = run_dbt(settings, ["test", "--select", PREFLIGHT_TESTS], check=False)
    assert tested.success and not tested.failed_nodes, tested.stdout[-3000:]
    assert all(n.startswith("test.vanbulk.accepted_values_") for n in tested.warned_nodes), tested.warned_nodes
    ids = [r["unique_id"] for r in tested.results]
    assert len([i for i in ids if "source_row_key" in i]) == 2 * len(list(load_catalog())), ids
    assert any("accepted_values" in i for i in ids)
