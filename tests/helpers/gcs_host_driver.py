"""Runs vanbulk's GCS host inside the GCS test venv (tests/fixtures/gcs.py) and reports what happened as JSON.

gcsfs cannot be installed next to dbt-bigquery (see tests/fixtures/emulators/gcs-requirements.txt), so the tests
drive the real ``connector.hosting`` code here, in the venv that has gcsfs, and assert on the result outside.

stdin: {"hosting": "gs://bucket/prefix", "ttl": 900, "storage_options": {...}, "steps": [...]}, each step one of
{"op": "put", "path": ..., "key": ...}, {"op": "exists", "key": ...}, {"op": "delete", "key": ...}.
``storage_options["token"] == {"oauth_access_token": "..."}`` stands for credentials that carry a bearer token
and no private key (a user login). stdout: one JSON list, a result per step; a step that raises records
{"error": <class name>, "message": <str>} and ends the run.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace


def main() -> int:
    request = json.load(sys.stdin)
    from connector.hosting import open_host

    options = dict(request.get("storage_options") or {})
    token = options.get("token")
    if isinstance(token, dict) and "oauth_access_token" in token:
        import google.oauth2.credentials

        options["token"] = google.oauth2.credentials.Credentials(token["oauth_access_token"])
    settings = SimpleNamespace(hosting=request["hosting"], url_ttl_seconds=request["ttl"], state_dir=None,
                               hosting_public_url=None)
    results: list = []
    try:
        host = open_host(settings, storage_options=options)
        results.append({"host": type(host).__name__, "fs": type(host.fs).__name__})
        for step in request["steps"]:
            if step["op"] == "put":
                hosted = host.put(step["path"], step["key"])
                results.append({"key": hosted.key, "url": hosted.url, "storage_uri": hosted.storage_uri})
            elif step["op"] == "exists":
                results.append(host.exists(step["key"]))
            elif step["op"] == "delete":
                results.append(host.delete(step["key"]))
            else:
                raise ValueError(f"unknown op {step['op']!r}")
    except Exception as exc:  # reported to the test, which decides
        results.append({"error": type(exc).__name__, "message": str(exc)})
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
