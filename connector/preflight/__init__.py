"""Pre-flight validation: rules generated from the catalogue, run as SQL in the warehouse and as GX suites.

``run_preflight(warehouse, catalog, mapping_types, run_id, settings, available_mapping_types=None)``
writes failing rows to ``van_preflight_rejects`` and returns a :class:`PreflightReport`. See
docs/preflight.md for the rules and the choices behind them.
"""

from connector.preflight.check import run_preflight
from connector.preflight.report import MappingTypeResult, PreflightReport, RuleOutcome
from connector.preflight.rules import PreflightConfigError, Rule, build_rules

__all__ = ["MappingTypeResult", "PreflightConfigError", "PreflightReport", "Rule", "RuleOutcome", "build_rules",
           "run_preflight"]
