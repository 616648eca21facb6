"""The GX checkpoint run with another selection than the previous run's (`vanbulk run -s X` after a full
run): the file context keeps no reference to assets this run did not add, so GX loads and runs."""

from __future__ import annotations

from connector.catalog import load_catalog
from connector.preflight import run_preflight


def test_a_different_selection_after_an_earlier_run(env):
    cat = load_catalog()
    code = cat.allowed_value_ids("ActivistCode", "ActivistCodeID")[0]
    for name, given in (("ActivistCode", {"source_row_key": "ac-1", "VanID": "100001", "ActivistCodeID": code}),
                        ("Email", {"source_row_key": "em-1", "VanID": "100001", "Email": "a@example.org"})):
        cols = cat.get(name).staging_columns
        env.make_view(cat, name, [tuple(given.get(c) for c in cols)])
    both = run_preflight(env.warehouse, cat, ["ActivistCode", "Email"], "run-both", env.settings)
    assert not both.results["ActivistCode"].blocked and not both.results["Email"].blocked
    only_email = run_preflight(env.warehouse, cat, ["Email"], "run-email", env.settings)
    assert list(only_email.results) == ["Email"] and not only_email.results["Email"].blocked
    only_ac = run_preflight(env.warehouse, cat, ["ActivistCode"], "run-ac", env.settings)
    assert only_ac.results["ActivistCode"].rows_checked == 1 and only_ac.data_docs_path
