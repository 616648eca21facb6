"""VAN's error body: ``{"errors": [{"code", "text", "properties"?, "referenceCode"?}]}``."""

from __future__ import annotations

import secrets
from typing import Any

NOT_FOUND_TEXT = "The specified resource cannot be found."


def error(code: str, text: str, properties: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"code": code, "text": text}
    if properties is not None:
        e["properties"] = properties
    e.update({k: v for k, v in extra.items() if v is not None})
    return e


def invalid(text: str, *properties: str) -> dict[str, Any]:
    return error("INVALID_PARAMETER", text, list(properties))


def job_error(code: str, text: str) -> dict[str, Any]:
    """A job-level processing error; referenceCode is what a user would quote to support."""
    return {"code": code, "text": text, "referenceCode": secrets.token_hex(4).upper()}


class ApiError(Exception):
    """Raised by handlers; the server renders it as VAN's error body with ``status``."""

    def __init__(self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None):
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors
        self.headers = headers or {}

    @property
    def body(self) -> dict[str, Any]:
        return {"errors": self.errors}


def not_found() -> ApiError:
    return ApiError(404, [error("NOT_FOUND", NOT_FOUND_TEXT)])
