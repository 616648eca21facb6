"""connector/preflight/datadocs.py: the rejected rows a run's pages show are read in one statement per table for the
whole run: each mapping type's total and its first ``ROW_LIMIT`` rows in the page's order, none of another run's."""

from __future__ import annotations

from connector.preflight.datadocs import ROW_LIMIT, _rows
from connector.warehouse import Warehouse
from tests.helpers.statements import counting_statements


def test_each_pages_rows_and_total_from_one_statement(tmp_path):
    with Warehouse(f"duckdb:///{tmp_path}/d.duckdb") as wh:
        wh.execute("create table r (run_id varchar, mapping_type varchar, source_row_key varchar, rule varchar, "
                   "column_name varchar, value varchar, message varchar)")
        rows = [("run-1", "Email", f"em-{i:03d}", "format", "Email", "x", "bad") for i in range(ROW_LIMIT + 10)]
        rows += [("run-1", "Phones", "ph-2", "b_rule", "Phone", "1", "m"), ("run-1", "Phones", "ph-1", "a_rule", "Phone",
                 "2", "m"), ("run-0", "Phones", "ph-0", "a_rule", "Phone", "3", "another run")]
        wh.execute("insert into r values (:a, :b, :c, :d, :e, :f, :g)",
                   [dict(zip("abcdefg", r)) for r in rows])
        with wh.connect() as conn, counting_statements() as sent:
            found = _rows(conn, "r", "run-1", ["Email", "Phones", "Jobs"])
    assert len(sent) == 1
    total, shown = found["Email"]
    assert total == ROW_LIMIT + 10 and [r[0] for r in shown] == [f"em-{i:03d}" for i in range(ROW_LIMIT)]
    assert found["Phones"] == (2, [("ph-1", "a_rule", "Phone", "2", "m"), ("ph-2", "b_rule", "Phone", "1", "m")])
    assert found["Jobs"] == (0, [])
