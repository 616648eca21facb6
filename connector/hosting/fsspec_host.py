"""Object-store hosting through fsspec (s3fs, gcsfs): upload, presigned URL of limited lifetime, delete.

S3: SigV4 presigned GET (tested against moto's server). GCS: V4 signed GET, signed locally with the service
account's private key (tested against gcp-storage-emulator, which does not check signatures: the tests verify
the signature themselves; tests/connector/test_hosting_gcs.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import fsspec

from connector.errors import HostingError
from connector.hosting.base import Host, HostedFile
from connector.redaction import redact

logger = logging.getLogger(__name__)

_EXTRA = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}  # protocol -> the vanbulk extra that installs it
GCS_MAX_TTL_SECONDS = 7 * 24 * 3600  # V4 signed URLs cannot outlive 7 days
GCS_CREDENTIALS_HINT = ("gs:// hosting signs its URLs with a service-account private key: set "
                        "GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON key file")


def _is_gcs(protocol: str) -> bool:
    return protocol in ("gs", "gcs")


class FsspecHost(Host):
    def __init__(self, target: str, ttl_seconds: int = 3600, storage_options: dict | None = None):
        protocol, rest = target.split("://", 1)
        self.protocol = protocol
        self.name = protocol
        self.prefix = rest.strip("/")
        if not self.prefix:
            raise HostingError(f"hosting {target!r} needs a bucket")
        self.ttl_seconds = int(ttl_seconds)
        if _is_gcs(protocol) and not 0 < self.ttl_seconds <= GCS_MAX_TTL_SECONDS:
            raise HostingError(f"url_ttl_seconds={self.ttl_seconds}: GCS signed URLs last 1 to "
                               f"{GCS_MAX_TTL_SECONDS} seconds (7 days)")
        options = dict(storage_options or {})
        if protocol == "s3":
            # s3fs signs SigV2 URLs unless told otherwise; SigV4 is what AWS and VAN's fetch expect.
            cfg = dict(options.pop("config_kwargs", {}) or {})
            cfg.setdefault("signature_version", "s3v4")
            options["config_kwargs"] = cfg
        try:
            self.fs = fsspec.filesystem(protocol, **options)
        except (ImportError, ValueError) as exc:
            raise HostingError(f"hosting {protocol}://: {exc} (install vanbulk[{_EXTRA.get(protocol, protocol)}])"
                               ) from exc

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key.lstrip('/')}"

    def sign(self, full: str) -> str:
        """A GET URL for ``full`` (bucket/key) valid for ``ttl_seconds``. Signing needs no object, so ``put``
        signs before uploading: credentials that cannot sign leave nothing behind in the bucket."""
        if not _is_gcs(self.protocol):
            return self.fs.sign(full, expiration=self.ttl_seconds)
        try:
            # gcsfs passes these to google-cloud-storage's Blob.generate_signed_url, whose default is V2.
            return self.fs.sign(full, expiration=self.ttl_seconds, version="v4", method="GET")
        except Exception as exc:
            # No credentials at all: google.auth's DefaultCredentialsError. Credentials that cannot sign (a user
            # login, a bare token): AttributeError "you need a private key to sign credentials...".
            if type(exc).__name__ != "DefaultCredentialsError" and "private key" not in str(exc):
                raise
            creds = getattr(getattr(self.fs, "credentials", None), "credentials", None)
            found = "none found" if creds is None else f"{type(creds).__module__}.{type(creds).__qualname__} cannot sign"
            raise HostingError(f"{GCS_CREDENTIALS_HINT} (credentials: {found})") from None

    def put(self, path: Path, key: str) -> HostedFile:
        full = self._full(key)
        try:
            url = self.sign(full)
            self.fs.put_file(str(path), full)
        except HostingError:
            raise
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
