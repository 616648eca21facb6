"""``VanbulkRowRule``: GX's ``UnexpectedRowsExpectation`` whose counts for one view come from one query.

GX's own expectation resolves two metrics per rule from its ``unexpected_rows_query``: the row count and up to
200 of the rows, each a query of its own; with 35 rules a view that was 70 queries (on BigQuery each is billed).
The verdict and Data Docs need the count only (the failing rows the pages show come from
``van_preflight_rejects``, which holds all of them). So every rule of a suite that the pre-flight runner
registered (``register_rule_sets``: expectation id -> the suite's rule queries) depends on one shared metric,
``vanbulk_rule_counts.all``, which counts every rule's rows over the batch in **one** statement (one scalar
subquery per rule); GX resolves a metric once per batch and value, so a view costs one query for all its rules.
A rule not registered (GX used outside the runner) falls back to GX's own per-rule count. Everything else (query
validation, ``{batch}`` substitution, renderers) is GX's. Importing this module registers the expectation type
``vanbulk_row_rule`` and the metric with GX.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence, Tuple

import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)
from great_expectations.expectations.expectation import get_metric_kwargs
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metric_provider import (
    QueryMetricProvider,
)
from great_expectations.validator.metric_configuration import MetricConfiguration

__all__ = ["EXPECTATION_TYPE", "RULE_COUNTS", "VanbulkRowRule", "register_rule_sets", "clear_rule_sets"]

EXPECTATION_TYPE = "vanbulk_row_rule"
RULE_COUNTS = "vanbulk_rule_counts.all"
PER_RULE_COUNT = "unexpected_rows_query.row_count"

_RULE_SETS: dict[str, tuple[str, ...]] = {}  # expectation id -> every rule query of its suite, in suite order


def register_rule_sets(suites: Sequence[Any]) -> None:
    """Before a checkpoint: each ``vanbulk_row_rule`` of these suites (as added to the GX context, which gives
    the expectations their ids) is counted with its suite's other rules in one statement."""
    for suite in suites:
        rules = [e for e in suite.expectations if isinstance(e, VanbulkRowRule)]
        queries = tuple(e.unexpected_rows_query for e in rules)
        for e in rules:
            _RULE_SETS[str(e.id)] = queries


def clear_rule_sets() -> None:
    _RULE_SETS.clear()


class VanbulkRuleCounts(QueryMetricProvider):
    """``{query: rows it returns over the batch}`` for a suite's rule queries, in one statement."""

    metric_name = RULE_COUNTS
    value_keys = ("vanbulk_rule_queries",)

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict,
                    metric_value_kwargs: dict, metrics: dict, runtime_configuration: dict) -> dict[str, int]:
        batch_selectable, _, _ = execution_engine.get_compute_domain(metric_domain_kwargs,
                                                                     domain_type=MetricDomainTypes.TABLE)
        queries = list(metric_value_kwargs["vanbulk_rule_queries"])
        parts = []
        for i, query in enumerate(queries):
            sub = cls._get_substituted_batch_subquery_from_query_and_batch_selectable(
                query=query, batch_selectable=batch_selectable, execution_engine=execution_engine)
            parts.append(f"(select count(*) from ({sub}) as vanbulk_rule_{i}) as n{i}")
        row = execution_engine.execute_query(sa.text("select " + ", ".join(parts))).fetchone()
        return {q: int(n) for q, n in zip(queries, row)}


class VanbulkRowRule(UnexpectedRowsExpectation):
    """One pre-flight rule: fails when its query over ``{batch}`` returns rows (counted with its suite's rules)."""

    metric_dependencies: ClassVar[Tuple[str, ...]] = ()  # chosen per rule in get_validation_dependencies

    def get_validation_dependencies(self, execution_engine=None, runtime_configuration=None):
        deps = super().get_validation_dependencies(execution_engine=execution_engine,
                                                   runtime_configuration=runtime_configuration)
        kwargs = get_metric_kwargs(metric_name=PER_RULE_COUNT, configuration=self.configuration,
                                   runtime_configuration=runtime_configuration)
        queries = _RULE_SETS.get(str(self.id))
        if queries and self.unexpected_rows_query in queries:
            config = MetricConfiguration(metric_name=RULE_COUNTS, metric_domain_kwargs=kwargs["metric_domain_kwargs"],
                                         metric_value_kwargs={"vanbulk_rule_queries": queries})
            deps.set_metric_configuration(metric_name=RULE_COUNTS, metric_configuration=config)
        else:
            deps.set_metric_configuration(metric_name=PER_RULE_COUNT, metric_configuration=MetricConfiguration(
                metric_name=PER_RULE_COUNT, metric_domain_kwargs=kwargs["metric_domain_kwargs"],
                metric_value_kwargs=kwargs["metric_value_kwargs"]))
        return deps

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine: Any = None) -> dict:
        if RULE_COUNTS in metrics:
            n = metrics[RULE_COUNTS].get(self.unexpected_rows_query)
        else:
            n = metrics[PER_RULE_COUNT]
        return {"success": n == 0, "result": {"observed_value": n}}


assert VanbulkRowRule.expectation_type == EXPECTATION_TYPE, VanbulkRowRule.expectation_type
