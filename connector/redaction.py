"""Keep secrets out of logs, exceptions, tables and files.

Covers what VAN support and users asked for: API keys, Basic/Bearer Authorization headers, and the
query strings of presigned or result URLs (their signatures grant access).
"""

from __future__ import annotations

import logging
import re
from typing import Iterable

REDACTED = "***"

_KEY_RE = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\|[01]\b")
_AUTH_RE = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer)\s+[A-Za-z0-9+/=._-]+")
_URL_QUERY_RE = re.compile(r"(https?://[^\s?'\"<>]+)\?[^\s'\"<>]*")
_AWS_SIG_RE = re.compile(r"(?i)(X-Amz-Signature|X-Amz-Credential|Signature|AWSAccessKeyId|X-Goog-Signature|sig|token)=[^&\s'\"]+")

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (e.g. the configured API key) so it is scrubbed wherever it appears."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)
        if "|" in value:
            _extra_secrets.add(value.rsplit("|", 1)[0])


def strip_query(url: str) -> str:
    """A URL safe to store: scheme, host and path, no query string."""
    return url.split("?", 1)[0].split("#", 1)[0]


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    s = str(text)
    for secret in sorted({*_extra_secrets, *(x for x in secrets if x)}, key=len, reverse=True):
        s = s.replace(secret, REDACTED)
    s = _KEY_RE.sub(REDACTED, s)
    s = _AUTH_RE.sub(lambda m: f"{m.group(1)}{m.group(2)} {REDACTED}", s)
    s = _URL_QUERY_RE.sub(lambda m: f"{m.group(1)}?{REDACTED}", s)
    s = _AWS_SIG_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", s)
    return s


class RedactingFilter(logging.Filter):
    """Attach to handlers so no record leaves the process with a secret in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True
