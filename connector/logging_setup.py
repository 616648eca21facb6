"""Logging in dbt's manner: human text by default, ``--log-format json`` for one JSON object per line.
Every handler carries the redaction filter, so no secret leaves the process through a log line."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import datetime, timezone

from connector.redaction import RedactingFilter, redact

INVOCATION_ID = str(uuid.uuid4())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "invocation_id": INVOCATION_ID,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        data = getattr(record, "data", None)
        if data is not None:
            payload["data"] = json.loads(redact(json.dumps(data, default=str)))
        return json.dumps(payload)


def configure(level: str = "INFO", log_format: str = "text") -> None:
    root = logging.getLogger("connector")
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.propagate = False
