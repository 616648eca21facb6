"""vanbulk: warehouse -> NGP VAN / EveryAction Bulk Import, with pre-flight checks and per-row results.

The public Python API (for orchestrators) is re-exported here and locked by tests/connector/test_public_api.py.
Names resolve lazily so ``import connector.catalog`` (used by the simulator and dbt helpers) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BulkImportJobFailed",
    "CheckResult",
    "PollTimeout",
    "RunSummary",
    "Settings",
    "SubmitAmbiguous",
    "VanAuthError",
    "VanClient",
    "VanError",
    "VanNotFound",
    "VanPermissionError",
    "VanRateLimited",
    "VanServerError",
    "VanValidationError",
    "debug",
    "load_settings",
    "refresh_catalog",
    "results",
    "retry_failed",
    "run",
    "status",
]

_WHERE = {
    "Settings": "connector.config", "load_settings": "connector.config",
    "VanClient": "connector.van_client", "RunSummary": "connector.run.summary",
    **{n: "connector.api" for n in ("CheckResult", "debug", "refresh_catalog", "results", "retry_failed", "run",
                                    "status")},
    **{n: "connector.errors" for n in ("BulkImportJobFailed", "PollTimeout", "SubmitAmbiguous", "VanAuthError",
                                       "VanError", "VanNotFound", "VanPermissionError", "VanRateLimited",
                                       "VanServerError", "VanValidationError")},
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'connector' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
