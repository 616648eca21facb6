"""A small VAN Bulk Import client on httpx.

* Basic auth: application name / key + ``|`` + database mode.
* Explicit timeouts; retries with exponential backoff and full jitter on 429, 5xx and connection errors,
  honouring ``Retry-After``. The sleep and the random source are injectable so tests run instantly.
* ``POST /bulkImportJobs`` is retried only when the request provably never reached VAN (connect errors)
  or VAN said 429 (rejected before processing): anything else is raised as ``SubmitAmbiguous``.
* List endpoints accept a bare JSON array or the ``{items, nextPageLink, count}`` envelope.
* Tests inject ``transport`` (``httpx.MockTransport``); nothing is monkeypatched.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import httpx

from connector.errors import (
    SubmitAmbiguous,
    VanAuthError,
    VanConnectError,
    VanConnectionError,
    VanError,
    VanNotFound,
    VanPermissionError,
    VanRateLimited,
    VanServerError,
    VanValidationError,
)
from connector.redaction import RedactingFilter, redact, strip_query

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO, signed query strings included: scrub at the source logger.
for _name in ("httpx", "httpcore"):
    if not any(isinstance(f, RedactingFilter) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(RedactingFilter())

USER_AGENT = "vanbulk"
RETRY_STATUS = {429, 500, 502, 503, 504}


class VanClient:
    def __init__(self, base_url: str, application_name: str, api_password: str, *,
                 timeout: float = 60.0, max_retries: int = 6, backoff_base: float = 1.0,
                 backoff_max: float = 120.0, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._secret = api_password
        self._http = httpx.Client(
            base_url=base_url,
            auth=httpx.BasicAuth(application_name, api_password),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=True,
        )
        # Result files live on another host at VAN (signed blob URLs): never send our credentials there.
        self._plain = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
                                   headers={"User-Agent": USER_AGENT}, transport=transport,
                                   follow_redirects=True)

    @classmethod
    def from_settings(cls, settings, **kwargs: Any) -> "VanClient":
        return cls(settings.api_base_url, settings.application_name, settings.api_password,
                   timeout=settings.http_timeout_seconds, max_retries=settings.http_max_retries, **kwargs)

    # -- endpoints -------------------------------------------------------------------------------
    def check_reachable(self) -> list[str]:
        """First contact of a run: one try, no backoff, so a wrong URL fails in seconds, naming it. Returns the
        resource types (the call also proves the credentials: 401 names the settings to check)."""
        saved, self.max_retries = self.max_retries, 0
        try:
            return self.get_resources()
        except VanConnectError as exc:
            raise VanConnectError(f"cannot reach VAN at {strip_query(self.base_url)}: {exc.base_message}; check "
                                  "VAN_API_BASE_URL (and the network)") from None
        except VanError as exc:
            if not exc.retriable:
                raise
        finally:
            self.max_retries = saved
        return self.get_resources()  # VAN answered 5xx / 429: the usual retries and backoff

    def get_resources(self) -> list[str]:
        return [str(x) for x in self._get_list("bulkImportJobs/resources")]

    def list_mapping_types(self) -> list[dict[str, Any]]:
        return self._get_list("bulkImportMappingTypes")

    def get_mapping_type(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"bulkImportMappingTypes/{name}").json()

    def get_field_values(self, mapping_type: str, field_name: str) -> list[dict[str, Any]]:
        return self._get_list(f"bulkImportMappingTypes/{mapping_type}/{field_name}/values")

    def create_job(self, payload: Mapping[str, Any]) -> int:
        resp = self._request("POST", "bulkImportJobs", json=dict(payload), idempotent=False)
        body = resp.json()
        job_id = body.get("jobId") if isinstance(body, Mapping) else None
        if job_id is None:
            raise SubmitAmbiguous("VAN accepted the job but returned no jobId", resp.status_code)
        return int(job_id)

    def get_job(self, job_id: int, not_found_retries: int = 0) -> dict[str, Any]:
        """The job object. VAN may 404 a job right after POST: ``not_found_retries`` waits that out."""
        for attempt in range(not_found_retries + 1):
            try:
                return self._request("GET", f"bulkImportJobs/{int(job_id)}").json()
            except VanNotFound:
                if attempt >= not_found_retries:
                    raise
                delay = self._backoff(attempt)
                logger.info("job %s not visible yet; retrying in %.1fs", job_id, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def download(self, url: str, dest) -> int:
        """Stream ``url`` to the open binary file ``dest``; returns bytes written. Retries like GETs."""
        same_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        client = self._http if same_host else self._plain
        for attempt in range(self.max_retries + 1):
            try:
                dest.seek(0)
                dest.truncate()
                written = 0
                with client.stream("GET", url) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        _raise_for_response(resp)
                    for chunk in resp.iter_bytes(1 << 16):
                        dest.write(chunk)
                        written += len(chunk)
                return written
            except (VanRateLimited, VanServerError, VanConnectionError) as exc:
                if attempt >= self.max_retries:
                    raise
                self._sleep(self._delay_for(exc, attempt))
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise VanConnectionError(f"download of {strip_query(url)} failed: {type(exc).__name__}") from None
                self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    # -- plumbing --------------------------------------------------------------------------------
    def _get_list(self, path: str) -> list[Any]:
        return list(self._iter_pages(path))

    def _iter_pages(self, path: str) -> Iterator[Any]:
        url: str | None = path
        seen: set[str] = set()
        while url:
            body = self._request("GET", url).json()
            if isinstance(body, list):  # bare array (resources; some deployments for lists)
                yield from body
                return
            if not isinstance(body, Mapping) or "items" not in body:
                raise VanError(f"unexpected list response from {path}")
            yield from body.get("items") or []
            nxt = body.get("nextPageLink")
            if not nxt or nxt in seen:
                return
            seen.add(nxt)
            url = nxt if nxt.startswith(("http://", "https://")) else urljoin(self.base_url, nxt.lstrip("/"))

    def _request(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._http.request(method, url, **kwargs)
            except httpx.ConnectError as exc:
                # Never reached VAN: safe to retry even a POST.
                err: VanError = VanConnectError(f"{method} {_path(url)}: cannot connect ({type(exc).__name__})")
            except httpx.TransportError as exc:
                if not idempotent:
                    raise SubmitAmbiguous(
                        f"{method} {_path(url)}: {type(exc).__name__} after the request was sent; "
                        "VAN may or may not have created the job") from None
                err = VanConnectionError(f"{method} {_path(url)}: {type(exc).__name__}")
            else:
                if resp.status_code < 400:
                    return resp
                try:
                    _raise_for_response(resp)
                except VanServerError as exc:
                    if not idempotent:
                        raise SubmitAmbiguous(exc.base_message, exc.status_code, exc.errors) from None
                    err = exc
                except VanRateLimited as exc:
                    err = exc
            if attempt >= self.max_retries:
                raise err
            delay = self._delay_for(err, attempt)
            logger.warning("%s; retry %d/%d in %.1fs", err, attempt + 1, self.max_retries, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        # Exponential backoff with full jitter (AWS architecture blog): spreads retries of many workers.
        cap = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return self._rng.uniform(cap / 2, cap)

    def _delay_for(self, err: VanError, attempt: int) -> float:
        retry_after = getattr(err, "retry_after", None)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.backoff_max * 10)
        return self._backoff(attempt)

    def close(self) -> None:
        self._http.close()
        self._plain.close()

    def __enter__(self) -> "VanClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VanClient(base_url={strip_query(self.base_url)!r})"


def _path(url: str) -> str:
    return redact(strip_query(str(url)))


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:  # HTTP-date form
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _raise_for_response(resp: httpx.Response) -> None:
    """The one place where an HTTP status becomes a typed error."""
    errors: list[Any] = []
    try:
        body = resp.json()
        if isinstance(body, Mapping):
            errors = body.get("errors") or []
    except ValueError:
        pass
    code = resp.status_code
    where = f"{resp.request.method} {_path(str(resp.request.url))} -> HTTP {code}"
    if code == 400:
        raise VanValidationError(where, code, errors)
    if code == 401:
        raise VanAuthError(f"{where} (check VAN_APPLICATION_NAME, VAN_API_KEY and the database mode)", code, errors)
    if code == 403:
        raise VanPermissionError(f"{where} (the key lacks a permission; VAN support can enable it)", code, errors)
    if code == 404:
        raise VanNotFound(where, code, errors)
    if code == 429:
        raise VanRateLimited(where, code, errors, retry_after=_retry_after(resp))
    if code >= 500:
        err = VanServerError(where, code, errors)
        ra = _retry_after(resp)
        if ra is not None:
            err.retry_after = ra  # 503 may carry Retry-After too
        raise err
    raise VanError(where, code, errors)
