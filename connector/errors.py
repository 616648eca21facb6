"""Every error vanbulk raises, under one root (httpx's habit: the tree is drawn here).

::

    VanbulkError                      a user-facing failure: the CLI prints its message in one line
    ├── ConfigError (ValueError)      a setting or the dbt profile is missing or invalid
    ├── CatalogError (ValueError)     the mapping-type catalogue (connector.catalog; PreflightConfigError)
    ├── WarehouseError (RuntimeError) the warehouse cannot be reached or a statement failed
    └── ConnectorError (RuntimeError) the runtime: VAN, hosting, export, ledger, run lock
        ├── VanError                  VAN answered with an error (or could not be reached)
        │   ├── VanAuthError, VanPermissionError, VanValidationError, VanNotFound, SubmitAmbiguous
        │   └── retriable: VanRateLimited, VanServerError, VanConnectionError ⊃ VanConnectError
        ├── BulkImportJobFailed, PollTimeout, ExportError, HostingError
        └── (elsewhere) LedgerStateError, RowClaimConflict, RunLocked

VAN errors are split once into retriable and fatal (Meltano's habit): the HTTP client decides at a single
choke point (``van_client._raise_for_response``) and everything above only reads ``retriable``.
Messages are redacted at construction, so an exception can be logged or stored as-is. This module imports
only ``connector.redaction``: the catalogue (which the simulator shares) can import it.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from connector.redaction import redact

__all__ = [
    "BulkImportJobFailed",
    "ConfigError",
    "ConnectorError",
    "CatalogError",
    "ExportError",
    "HostingError",
    "PollTimeout",
    "SubmitAmbiguous",
    "VanAuthError",
    "VanConnectError",
    "VanConnectionError",
    "VanError",
    "VanNotFound",
    "VanPermissionError",
    "VanRateLimited",
    "VanServerError",
    "VanValidationError",
    "VanbulkError",
    "WarehouseError",
]


class VanbulkError(Exception):
    """Root of every error vanbulk raises on purpose; its message is redacted and fit for one CLI line."""

    def __init__(self, message: str = ""):
        super().__init__(redact(str(message)))


class ConfigError(VanbulkError, ValueError):
    """A setting is missing or invalid."""


class CatalogError(VanbulkError, ValueError):
    """The mapping-type catalogue is missing, malformed, or has no such mapping type."""


class WarehouseError(VanbulkError, RuntimeError):
    """The warehouse cannot be reached or a statement failed."""


class ConnectorError(VanbulkError, RuntimeError):
    """Base of every error raised by the connector runtime."""


class VanError(ConnectorError):
    """VAN answered with an error (or could not be reached)."""

    retriable = False

    def __init__(self, message: str, status_code: int | None = None,
                 errors: Sequence[Mapping[str, Any]] | None = None):
        self.status_code = status_code
        self.base_message = message
        # VAN's own error objects: code, text, properties, referenceCode, hint, resourceUrl
        self.errors = [dict(e) for e in (errors or []) if isinstance(e, Mapping)]
        detail = "; ".join(_fmt_error(e) for e in self.errors)
        super().__init__(f"{message}{': ' + detail if detail else ''}")

    @property
    def reference_codes(self) -> list[str]:
        return [str(e["referenceCode"]) for e in self.errors if e.get("referenceCode")]


def _fmt_error(e: Mapping[str, Any]) -> str:
    parts = [str(e.get("code") or "ERROR"), str(e.get("text") or "")]
    if e.get("properties"):
        parts.append(f"at {', '.join(map(str, e['properties']))}")
    if e.get("referenceCode"):
        parts.append(f"(referenceCode {e['referenceCode']})")
    return " ".join(p for p in parts if p)


class VanAuthError(VanError):
    """401: wrong application name, key or database mode."""


class VanPermissionError(VanError):
    """403: the key lacks a permission (e.g. a mapping type not enabled by VAN support)."""


class VanValidationError(VanError):
    """400: VAN rejected the request; ``errors`` carries VAN's list."""


class VanNotFound(VanError):
    """404."""


class VanRateLimited(VanError):
    """429: throttled; ``retry_after`` seconds when VAN said so."""

    retriable = True

    def __init__(self, message: str, status_code: int | None = 429, errors=None,
                 retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message, status_code, errors)


class VanServerError(VanError):
    """5xx."""

    retriable = True


class VanConnectionError(VanError):
    """Connection refused, reset or timed out."""

    retriable = True


class VanConnectError(VanConnectionError):
    """The connection could not be made: the request never reached VAN (a POST created nothing)."""


class SubmitAmbiguous(VanError):
    """A POST may or may not have created a job (timeout or 5xx after the body was sent).

    Never retried automatically: bulk import jobs cannot be deleted, so a blind retry risks a double import.
    """


class BulkImportJobFailed(VanError):
    """The job reached ``Failed`` (or ``Error``)."""

    def __init__(self, job_id: int, errors: Sequence[Mapping[str, Any]] | None = None):
        self.job_id = job_id
        super().__init__(f"bulk import job {job_id} failed", None, errors)


class PollTimeout(ConnectorError):
    """No terminal status within ``poll_timeout_seconds``; the job keeps running at VAN, resume later."""

    def __init__(self, job_ids: Sequence[int], waited: float):
        self.job_ids = list(job_ids)
        super().__init__(f"jobs {self.job_ids} not finished after {waited:.0f}s; "
                         "run `vanbulk status` or `vanbulk run --resume` later")


class ExportError(ConnectorError):
    """A view cannot be exported within VAN's file limits."""


class HostingError(ConnectorError):
    """The export could not be hosted at a URL VAN can fetch."""
