"""Issue 21 #2: what pre-flight checked is exactly what is sent. On PostgreSQL, another connection changes the
input between pre-flight and export (a pre-flight wrapper the test controls: the change lands after the checks
returned, before the plan and the export read anything): the changed version is either checked or not sent,
and the simulator never receives an unchecked value. Checked from the simulator's own state and the ledger."""

from __future__ import annotations

import functools

import pytest

from connector.ledger.sync import row_hash_sql
from connector.preflight import run_preflight
from connector.preflight.checked import checked_table
from connector.run import run
from connector.simulator.store import Store
from connector.warehouse import Warehouse
from tests.connector.test_accounting import FAST, fetch, make_view, pg_settings, rel  # noqa: F401  (fixture)

NO_GX = functools.partial(run_preflight, gx=False)
ROWS = [{"source_row_key": f"em-{i}", "VanID": str(100000 + i), "Email": f"p{i}@example.org", "EmailTypeId": "1"}
        for i in (1, 2, 3)]


def _src(s) -> str:
    return f'"{s.staging_schema}_src"."stg_van__email"'


def changed_after_checks(s, statements: list[str]):
    """Pre-flight as the run calls it; then ``statements`` from a connection of their own (not the run's)."""

    def preflight(*args, **kwargs):
        report = NO_GX(*args, **kwargs)
        with Warehouse(s.warehouse_url) as other:
            for sql in statements:
                other.execute(sql)
        return report

    return preflight


@pytest.mark.postgres
def test_a_row_changed_after_the_checks_is_not_sent_unchecked(pg_settings):  # noqa: F811 (the fixture)
    s = pg_settings
    make_view(s.warehouse_url, "Email", ROWS, schema=s.staging_schema)
    src = _src(s)
    summary = run(s, ["Email"], skip_dbt=True, simulator_config=FAST, preflight=changed_after_checks(s, [
        # em-1 passed with type 1; now 9, which pre-flight rejects; em-2 gets another valid value
        f"update {src} set \"EmailTypeId\" = '9' where source_row_key = 'em-1'",
        f"update {src} set \"Email\" = 'changed@example.org' where source_row_key = 'em-2'",
        # a row that did not exist when the checks ran
        (f"insert into {src} (source_row_key, \"VanID\", \"Email\", \"EmailTypeId\") "
         f"values ('em-9', '100009', 'late@example.org', '9')")]))
    em = summary.mapping_types["Email"]
    assert (em.rows_checked, em.rejected, em.sent, em.processed) == (3, 0, 3, 3), summary.render()

    applied = {str(r["primaryKey"]): r["fields"] for r in Store(s.state_dir / "simulator").applied("Email")}
    sent = {k: {f.lower(): v for f, v in fields.items()} for k, fields in applied.items()}
    # VAN got exactly the checked versions: no type 9, not the changed address, not the late row
    assert sorted(sent) == ["100001", "100002", "100003"], applied
    assert {str(v["emailtypeid"]) for v in sent.values()} == {"1"}, applied
    assert sent["100002"]["email"] == "p2@example.org", applied

    # the plan's row hash is the hash of the version sent (the checked one), not of the view's current one
    cols = ["VanID", "source_row_key", "Email", "EmailTypeId", "EmailSubscriptionStatusId"]
    with Warehouse(s.warehouse_url) as wh:
        checked = " union all ".join(
            "select " + ", ".join(f"cast({_lit(r.get(c))} as text) as {wh.quote(c)}" for c in cols) for r in ROWS)
        want = dict(wh.fetchall(f"select v.source_row_key, {row_hash_sql(cols, wh.ops, 'v')} from ({checked}) v"))
        now = dict(wh.fetchall(f"select v.source_row_key, {row_hash_sql(cols, wh.ops, 'v')} from {src} v"))
    planned = dict(fetch(s, f"select source_row_key, row_hash from {rel(s, 'van_bulk_plan_rows')} "
                            "where run_id = :r", r=summary.run_id))
    assert planned == want and planned["em-2"] != now["em-2"]

    # a copy the first run had left behind (as when it is killed) goes with the next run
    left = f'"{s.results_schema}"."{checked_table(summary.run_id, "stg_van__email")}"'
    with Warehouse(s.warehouse_url) as wh:
        wh.execute(f"create table {left} as select * from {src}")

    # the next run checks the changed versions: type 9 rejected, the new address sent, the late row rejected
    again = run(s, ["Email"], skip_dbt=True, simulator_config=FAST, preflight=NO_GX)
    rejected = {k for (k,) in fetch(s, f"select distinct source_row_key from {rel(s, 'van_preflight_rejects')} "
                                       "where run_id = :r", r=again.run_id)}
    assert rejected == {"em-1", "em-9"}, again.render()
    applied = Store(s.state_dir / "simulator").applied("Email")
    assert not [r for r in applied if str({k.lower(): v for k, v in r["fields"].items()}.get("emailtypeid")) == "9"]
    assert [str(r["primaryKey"]) for r in applied[3:]] == ["100002"], applied
    # the runs' copies of the checked rows are gone (its own, and the one left behind)
    assert not fetch(s, "select table_name from information_schema.tables where table_schema = :schema "
                        "and table_name like 'van_checked__%'", schema=s.results_schema)


def _lit(v) -> str:
    return "null" if v is None else "'" + str(v).replace("'", "''") + "'"
