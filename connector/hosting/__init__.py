"""Host an export at a URL VAN can fetch, for a limited time, and remove it when the job ends.

``open_host(settings)`` picks the backend from ``settings.hosting``:

* ``local`` - a stdlib HTTP server in a background thread serving a directory under ``state_dir``, with
  HMAC-signed expiring links (the embedded default; reachable by the simulator, not by the real VAN
  unless ``hosting_public_url`` points at a tunnel or proxy).
* ``s3://bucket/prefix`` - s3fs, presigned SigV4 GET URLs (tested against moto's S3 server).
* ``gs://bucket/prefix`` - gcsfs, V4 signed GET URLs from a service-account key (tested against
  gcp-storage-emulator, which checks no signature: the test verifies it; tests/connector/test_hosting_gcs.py).

Every backend returns a ``HostedFile`` whose ``storage_uri`` carries no query string (safe to store);
only ``url`` (given to VAN, never logged or stored) carries the signature.
"""

from __future__ import annotations

from connector.hosting.base import Host, HostedFile
from connector.hosting.fsspec_host import FsspecHost
from connector.hosting.local import LocalFileHost

__all__ = ["FsspecHost", "Host", "HostedFile", "LocalFileHost", "open_host"]


def open_host(settings, storage_options: dict | None = None) -> Host:
    target = (settings.hosting or "local").strip()
    if target == "local":
        return LocalFileHost(settings.state_dir / "hosted", public_url=settings.hosting_public_url,
                             ttl_seconds=settings.url_ttl_seconds)
    if "://" in target:
        return FsspecHost(target, ttl_seconds=settings.url_ttl_seconds, storage_options=storage_options)
    raise ValueError(f"hosting must be 'local', 's3://bucket/prefix' or 'gs://bucket/prefix', got {target!r}")
