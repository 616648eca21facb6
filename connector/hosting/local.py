"""Local HTTP file host: ``ThreadingHTTPServer`` in a daemon thread, links signed with HMAC and an expiry.

URL shape: ``{base}/files/{key}?expires={unix}&sig={hmac_sha256(key|expires)}``. Expired or tampered links
get 403, unknown keys 404, so link expiry is testable (moto does not check it for S3).
The signing secret is random per process: links die with the host, like presigned URLs would expire.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from connector.errors import HostingError
from connector.hosting.base import Host, HostedFile

logger = logging.getLogger(__name__)


class LocalFileHost(Host):
    name = "local"

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, public_url: str | None = None,
                 ttl_seconds: int = 3600, clock: Callable[[], float] = time.time):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ttl_seconds = int(ttl_seconds)
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self.downloads: list[str] = []  # keys served (for tests and debug output)
        self._served = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        # (serve_forever checks for shutdown every poll_interval: its default 0.5 s was up to 0.5 s at every run's end)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vanbulk-file-host", daemon=True)
        self._thread.start()
        bound_host, bound_port = self._server.server_address[:2]
        self.base_url = (public_url or f"http://{bound_host}:{bound_port}").rstrip("/")
        logger.info("local file host serving %s at %s", self.root, self.base_url)

    # -- signing ---------------------------------------------------------------------------------
    def _sig(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}|{expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, key: str, ttl_seconds: int | None = None) -> str:
        expires = int(self._clock()) + int(self.ttl_seconds if ttl_seconds is None else ttl_seconds)
        return f"{self.base_url}/files/{quote(key)}?expires={expires}&sig={self._sig(key, expires)}"

    def _check(self, key: str, query: dict[str, list[str]]) -> int:
        try:
            expires = int(query["expires"][0])
            sig = query["sig"][0]
        except (KeyError, ValueError, IndexError):
            return 403
        if not hmac.compare_digest(sig, self._sig(key, expires)):
            return 403
        if self._clock() > expires:
            return 403
        return 200

    # -- Host ------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise HostingError(f"key {key!r} escapes the hosting directory")
        return p

    def put(self, path: Path, key: str) -> HostedFile:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        return HostedFile(key=key, url=self.sign(key), storage_uri=f"{self.base_url}/files/{quote(key)}")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def wait_until_fetched(self, keys: list[str], timeout: float) -> list[str]:
        """A run that does not wait for its jobs still has to serve their files until VAN has read them: this
        host dies with the process (deleted files are not waited for)."""
        deadline = time.monotonic() + timeout
        with self._served:
            while True:
                left = [k for k in keys if k not in self.downloads and self.exists(k)]
                remaining = deadline - time.monotonic()
                if not left or remaining <= 0:
                    return left
                self._served.wait(min(remaining, 0.5))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- HTTP ------------------------------------------------------------------------------------
    def _handler(self):
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - stdlib name
                parts = urlsplit(self.path)
                if not parts.path.startswith("/files/"):
                    return self._send(404)
                key = unquote(parts.path[len("/files/"):])
                status = host._check(key, parse_qs(parts.query))
                if status != 200:
                    return self._send(status)
                try:
                    path = host._path(key)
                except HostingError:
                    return self._send(404)
                if not path.is_file():
                    return self._send(404)
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, self.wfile, 1 << 16)
                with host._served:
                    host.downloads.append(key)
                    host._served.notify_all()

            def _send(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt, *args):  # the query string holds the signature: keep it out
                logger.debug("file host: %s %s", self.command, urlsplit(self.path).path)

        return Handler
