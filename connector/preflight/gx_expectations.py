"""``VanbulkRowRule``: GX's ``UnexpectedRowsExpectation`` that runs its query once.

GX's own expectation resolves two metrics from the same ``unexpected_rows_query``: the row count and up to
200 of the rows; each is a query of its own, so every rule ran twice. The verdict and Data Docs need the
count only (the failing rows the pages show come from ``van_preflight_rejects``, which holds all of them), so
this subclass depends on the count alone. Everything else (query validation, ``{batch}`` substitution,
renderers) is GX's. Importing this module registers the type ``vanbulk_row_rule`` with GX; the generated
suites use it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Tuple

from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

__all__ = ["EXPECTATION_TYPE", "VanbulkRowRule"]

EXPECTATION_TYPE = "vanbulk_row_rule"


class VanbulkRowRule(UnexpectedRowsExpectation):
    """One pre-flight rule: fails when its query over ``{batch}`` returns rows (counted with one query)."""

    metric_dependencies: ClassVar[Tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict:
        n = metrics["unexpected_rows_query.row_count"]
        return {"success": n == 0, "result": {"observed_value": n}}


assert VanbulkRowRule.expectation_type == EXPECTATION_TYPE, VanbulkRowRule.expectation_type
