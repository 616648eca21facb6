"""Object-store hosting through fsspec (s3fs, gcsfs): upload, presigned URL of limited lifetime, delete."""

from __future__ import annotations

import logging
from pathlib import Path

import fsspec

from connector.errors import HostingError
from connector.hosting.base import Host, HostedFile
from connector.redaction import redact

logger = logging.getLogger(__name__)


class FsspecHost(Host):
    def __init__(self, target: str, ttl_seconds: int = 3600, storage_options: dict | None = None):
        protocol, rest = target.split("://", 1)
        self.protocol = protocol
        self.name = protocol
        self.prefix = rest.strip("/")
        if not self.prefix:
            raise HostingError(f"hosting {target!r} needs a bucket")
        self.ttl_seconds = int(ttl_seconds)
        options = dict(storage_options or {})
        if protocol == "s3":
            # s3fs signs SigV2 URLs unless told otherwise; SigV4 is what AWS and VAN's fetch expect.
            cfg = dict(options.pop("config_kwargs", {}) or {})
            cfg.setdefault("signature_version", "s3v4")
            options["config_kwargs"] = cfg
        try:
            self.fs = fsspec.filesystem(protocol, **options)
        except (ImportError, ValueError) as exc:
            raise HostingError(f"hosting {protocol}://: {exc} (install vanbulk[{protocol[:3]}])") from exc

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key.lstrip('/')}"

    def put(self, path: Path, key: str) -> HostedFile:
        full = self._full(key)
        try:
            self.fs.put_file(str(path), full)
            url = self.fs.sign(full, expiration=self.ttl_seconds)
        except Exception as exc:  # noqa: BLE001 - any backend error is a hosting error
            raise HostingError(f"cannot host {key} at {self.protocol}://{full}: {redact(exc)}") from None
        return HostedFile(key=key, url=url, storage_uri=f"{self.protocol}://{full}")

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._full(key))
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        self.fs.invalidate_cache()
        return self.fs.exists(self._full(key))
