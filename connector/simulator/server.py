"""HTTP routing over stdlib ``ThreadingHTTPServer`` and the ``SimulatorServer`` that ties the parts together."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from connector.catalog import Catalog, load_catalog

from .auth import Context, authenticate
from .config import FaultRule, Faults, SimulatorConfig
from .errors import ApiError, error, invalid, not_found
from .faults import FaultState
from .processing import Processor
from .results import dotnet_timestamp
from .store import Store, StoreView
from .validation import validate_job

log = logging.getLogger("connector.simulator")

FAULT_ERRORS = {
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please retry later."),
    500: ("INTERNAL_SERVER_ERROR", "An unexpected error occurred."),
    502: ("BAD_GATEWAY", "The server received an invalid response from an upstream server."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please retry later."),
    504: ("GATEWAY_TIMEOUT", "The upstream server did not respond in time."),
}
MAX_BODY = 5 * 1024 * 1024


class _Dropped(Exception):
    """A fault rule closed the connection; the handler must not write a response."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: "SimulatorServer"

    def handle_error(self, request, client_address):  # injected drops and client hang-ups are not errors
        log.debug("connection from %s ended abruptly", client_address[0])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "VAN-Simulator/1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK adds ~40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # Never log headers: they carry the Authorization secret.
    def log_message(self, fmt: str, *args: Any) -> None:
        # Result-file tokens act as URL signatures: keep them out of logs too.
        log.debug("%s %s", self.address_string(), re.sub(r"(/resultFiles/)[^/\s]+", r"\1***", fmt % args))

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ----------------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
              raw: bytes | None = None, content_type: str = "application/json; charset=utf-8") -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode("utf-8"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, [error("REQUEST_TOO_LARGE", "The request body is too large.")])
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped()

    def _dispatch(self, method: str) -> None:
        sim = self.server.sim
        parts = urlsplit(self.path)
        path = re.sub(r"/{2,}", "/", parts.path).rstrip("/") or "/"
        query = parse_qsl(parts.query, keep_blank_values=True)
        try:
            rule = None if path.startswith("/_sim") else sim.faults.match(method, path)
            if rule is not None:
                self._apply_fault(rule)
            try:
                status, body, headers = self._route(method, path, query)
            finally:
                if rule is not None and rule.kind == "hold":  # handled: the test may look at its effect
                    sim.faults.note_held_answered()
            self._send(status, body, headers)
        except _Dropped:
            return
        except _Raw as r:
            self._send(r.status, raw=r.data, content_type=r.content_type, headers=r.headers)
        except ApiError as exc:
            self._send(exc.status, exc.body, exc.headers)
        except Exception:
            log.exception("simulator error on %s %s", method, path)
            self._send(500, {"errors": [error("INTERNAL_SERVER_ERROR", "An unexpected error occurred.")]})

    def _apply_fault(self, rule: FaultRule) -> None:
        if rule.kind == "drop":
            self._drop()
        if rule.kind == "slow":
            time.sleep(rule.delay_seconds)
            return
        if rule.kind == "hold":
            self.server.sim.faults.hold()
            return
        self._read_body()  # keep the connection usable for the client's retry
        code, text = FAULT_ERRORS.get(rule.status, ("ERROR", HTTPStatus(rule.status).phrase))
        headers = {}
        if rule.retry_after is not None:
            ra = rule.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        raise ApiError(rule.status, [error(code, text)], headers)

    def _origin(self) -> str:
        """Links (nextPageLink, result files) use the host the client called, as a real server's would."""
        host = self.headers.get("Host")
        return f"http://{host}" if host and re.fullmatch(r"[\w.\-\[\]:]+", host) else self.server.sim.root_url

    def _context(self) -> Context:
        sim = self.server.sim
        return authenticate(self.headers.get("Authorization"), sim.config, sim.catalog)

    # -- routes ------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: list[tuple[str, str]]):
        sim = self.server.sim
        segs = path.strip("/").split("/")
        low = [s.lower() for s in segs]
        if low[0] == "_sim":
            return self._admin(method, segs[1:], query)
        if low[0] == "resultfiles" and len(segs) == 3:
            if method != "GET":
                raise _method_not_allowed()
            return self._result_file(segs[1])
        if low[0] != "v4" or len(segs) < 2:
            raise not_found()
        if low[1] == "bulkimportjobs":
            ctx = self._context()
            if len(segs) == 2:
                if method != "POST":
                    raise _method_not_allowed()
                return self._post_job(ctx)
            if len(segs) == 3 and low[2] == "resources":
                if method != "GET":
                    raise _method_not_allowed()
                return 200, ctx.resources(), None
            if len(segs) == 3:
                if method != "GET":
                    raise _method_not_allowed()
                return self._get_job(ctx, segs[2])
            raise not_found()
        if low[1] == "bulkimportmappingtypes":
            ctx = self._context()
            if method != "GET":
                raise _method_not_allowed()
            if len(segs) == 2:
                items = [mt.to_api() for mt in ctx.visible_mapping_types()]
                return 200, self._page(items, query, path), None
            mt = ctx.find_mapping_type(segs[2])
            if mt is None:
                raise not_found()
            if not ctx.may_use(mt):
                raise ApiError(403, [error("FORBIDDEN", f"The API key does not have permission to use the "
                                                        f"mapping type '{mt.name}'.")])
            if len(segs) == 3:
                return 200, mt.to_api(), None
            if len(segs) == 5 and low[4] == "values":
                fd = next((f for f in mt.fields if f.name.lower() == low[3]), None)
                if fd is None:
                    raise not_found()
                env = sim.catalog.values_envelope(mt.name, fd.name)
                items = list(env.get("items", [])) if env else []
                return 200, self._page(items, query, path), None
            raise not_found()
        raise not_found()

    def _page(self, items: list, query: list[tuple[str, str]], path: str) -> dict:
        """VAN's envelope; ``nextPageLink`` carries the whole query, as VAN's does."""
        cfg = self.server.sim.config
        q = {k.lower(): v for k, v in query}
        top, skip = cfg.page_size_default, 0
        errors = []
        if "$top" in q:
            if not q["$top"].strip().isdigit():
                errors.append(invalid("$top must be a non-negative integer.", "$top"))
            else:
                top = min(int(q["$top"]), cfg.page_size_max)
        if "$skip" in q:
            if not q["$skip"].strip().isdigit():
                errors.append(invalid("$skip must be a non-negative integer.", "$skip"))
            else:
                skip = int(q["$skip"])
        if errors:
            raise ApiError(400, errors)
        page = items[skip: skip + top]
        next_link = None
        if skip + top < len(items) and top > 0:
            rest = [(k, v) for k, v in query if k.lower() not in ("$top", "$skip")]
            next_link = f"{self._origin()}{path}?" + urlencode(
                [*rest, ("$top", str(top)), ("$skip", str(skip + top))], safe="$")
        return {"items": page, "nextPageLink": next_link, "count": len(items)}

    def _post_job(self, ctx: Context):
        sim = self.server.sim
        body_bytes = self._read_body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if sim.config.require_json_content_type and ctype != "application/json":
            raise ApiError(415, [error("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.")])
        try:
            body = json.loads(body_bytes.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError(400, [invalid("The request body is not valid JSON.", "")]) from None
        spec = validate_job(body, ctx, sim.config)
        job_id = sim._store.next_ids("job", 1, sim.config.first_job_id)
        sim._store.insert_job(job_id, ctx.key_id, ctx.database_mode, body, spec.resource_type, spec.result_kb,
                              spec.webhook_url, sim.faults.take_fail_job(), sim.faults.poll_not_found)
        log.info("simulator accepted job %s (%s, %d mapping(s))", job_id, spec.resource_type, len(spec.mappings))
        sim._processor.submit(job_id)
        return sim.config.post_status, {"jobId": job_id}, None

    def _get_job(self, ctx: Context, job_text: str):
        sim = self.server.sim
        if not job_text.isdigit():
            raise not_found()
        row = sim._store.job_row(int(job_text))
        if row is None or row["api_key"].lower() != ctx.key_id.lower():
            raise not_found()
        if sim._store.take_poll_not_found(row["id"]):
            raise not_found()
        files = []
        if row["status"] in ("Completed", "CompletedWithErrors"):
            files = [{"url": sim.result_url(f["token"], f["file_name"], self._origin()),
                      "dateExpired": dotnet_timestamp(f["expires_at"], sim.config.timestamp_utc_offset_minutes)}
                     for f in sim._store.result_files(row["id"])]
        return 200, {
            "id": row["id"], "status": row["status"], "resourceType": row["resource_type"],
            "webhookUrl": row["webhook_url"], "resultFileSizeLimitKb": row["result_kb"],
            "errors": json.loads(row["errors"]), "resultFiles": files,
        }, None

    def _result_file(self, token: str):
        sim = self.server.sim
        f = sim._store.result_file(token)
        if f is None:
            raise not_found()
        if f["expires_at"] <= time.time():
            status = sim.config.expired_result_status
            raise ApiError(status, [error("EXPIRED" if status != 404 else "NOT_FOUND",
                                          "The result file link has expired." if status != 404
                                          else "The specified resource cannot be found.")])
        raise _Raw(200, Path(f["path"]).read_bytes(), "text/csv; charset=utf-8",
                   {"Content-Disposition": f'attachment; filename="{f["file_name"]}"'})

    # -- admin (/_sim/) ---------------------------------------------------------------------------
    def _admin(self, method: str, segs: list[str], query):
        sim = self.server.sim
        token = sim.config.admin_token
        if token and self.headers.get("X-Sim-Admin-Token") != token:
            raise ApiError(401, [error("UNAUTHORIZED", "Admin token required.")])
        name = segs[0].lower() if segs else ""
        if name == "health" and method == "GET":
            return 200, {"status": "ok", "baseUrl": sim.base_url}, None
        if name == "faults":
            if method == "GET":
                return 200, sim.faults.snapshot(), None
            if method == "PUT":
                try:
                    sim.set_faults(Faults.from_dict(json.loads(self._read_body() or b"{}")))
                except (ValueError, TypeError) as exc:
                    raise ApiError(400, [invalid(f"Invalid faults: {exc}", "")]) from None
                return 200, sim.faults.snapshot(), None
        if name == "contacts":
            if method == "GET":
                return 200, sim.store.contacts(), None
            if method == "POST":
                try:
                    contacts = json.loads(self._read_body() or b"[]")
                    sim.add_contacts(contacts)
                except (ValueError, TypeError, StopIteration, KeyError) as exc:
                    raise ApiError(400, [invalid(f"Invalid contacts: {exc}", "")]) from None
                return 200, {"count": len(contacts)}, None
        if name == "applied" and method == "GET":
            q = dict(query)
            return 200, sim.store.applied(q.get("mappingType"), int(q["jobId"]) if q.get("jobId") else None), None
        if name == "jobs" and method == "GET":
            return 200, sim.store.jobs(), None
        if name == "expire-results" and method == "POST":
            return 200, {"expired": sim.expire_result_urls()}, None
        raise not_found()


class _Raw(Exception):
    def __init__(self, status: int, data: bytes, content_type: str, headers: dict[str, str]):
        self.status, self.data, self.content_type, self.headers = status, data, content_type, headers


def _method_not_allowed() -> ApiError:
    return ApiError(405, [error("METHOD_NOT_ALLOWED", "The requested resource does not support this HTTP method.")])


class SimulatorServer:
    """A running simulator: real HTTP on a background thread, state in ``state_dir``."""

    def __init__(self, state_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 config: SimulatorConfig | None = None, catalog: Catalog | None = None):
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.config = config or SimulatorConfig()
        # The account this simulator plays: what evidence supports, plus the inferred rules asked for.
        self.catalog = (catalog or load_catalog(self.config.catalog_dirs)).enforced_world(self.config.enforce_inferred)
        self.faults = FaultState(self.config.faults)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._processor: Processor | None = None
        self._released = threading.Event()
        self._released.set()
        self._processing_released = threading.Event()
        self._processing_released.set()

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> "SimulatorServer":
        if self._httpd is not None:
            return self
        self._store = Store(self.state_dir)
        self._store.seed_contacts(self.config.seed_contacts)
        self._store.seed_records(self.config.seed_records)
        self._store.seed_records(_catalogue_records(self.catalog))
        self._httpd = _HTTPServer((self.host, self.port), Handler)
        self._httpd.sim = self
        self.port = self._httpd.server_address[1]
        self._processor = Processor(self._store, self.catalog, lambda: self.config, self.faults, self._released,
                                    self._processing_released)
        self._processor.start()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="van-sim-http", daemon=True)
        self._thread.start()
        log.info("VAN simulator listening on %s (state %s)", self.base_url, self.state_dir)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._processor is not None:
            self._processor.stop()
        self._httpd = None

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until stopped (used by the command line)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    # -- holds (tests) -----------------------------------------------------------------------------------
    def hold_jobs(self) -> None:
        """Every job (submitted or still to come) stays ``Pending`` until ``release_jobs``: a test holds a
        scenario at a known point instead of relying on simulated processing time."""
        self._released.clear()

    def release_jobs(self) -> None:
        self._released.set()

    def hold_processing(self) -> None:
        """Every job, once it has fetched and read its file, stays ``InProgress`` until ``release_processing``."""
        self._processing_released.clear()

    def release_processing(self) -> None:
        self._processing_released.set()

    @property
    def jobs_read(self) -> int:
        """Jobs that have fetched and read their file so far."""
        return self._processor.jobs_read if self._processor is not None else 0

    def release_held(self) -> None:
        """Let requests held by a ``hold`` fault rule go on."""
        self.faults.release_held()

    def wait_held_answered(self, n: int = 1, timeout: float = 120.0) -> bool:
        """Wait until ``n`` held requests in all were handled (a held POST's job exists)."""
        return self.faults.wait_held_answered(n, timeout)

    # -- public helpers ----------------------------------------------------------------------------
    @property
    def root_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v4/"

    @property
    def store(self) -> StoreView:
        if self._store is None:
            raise RuntimeError("the simulator is not started")
        return StoreView(self._store)

    def result_url(self, token: str, file_name: str, origin: str | None = None) -> str:
        return f"{origin or self.root_url}/resultFiles/{token}/{file_name}"

    def set_faults(self, faults: Faults | dict | None = None, **kwargs: Any) -> None:
        """Replace fault injection: ``set_faults(Faults(...))``, a dict, or keywords of ``Faults``."""
        if faults is None:
            faults = Faults.from_dict(kwargs)
        elif isinstance(faults, dict):
            faults = Faults.from_dict(faults)
        self.faults.set(faults)

    def expire_result_urls(self, job_id: int | None = None) -> int:
        return self._store.expire_result_files(job_id) if self._store else 0

    def add_contacts(self, contacts: list[dict[str, Any]]) -> None:
        self._store.seed_contacts(contacts)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        """Records other than contacts that exist before any job (same shape as ``seed_records``)."""
        self._store.seed_records(records)


def _catalogue_records(catalog: Catalog) -> list[dict[str, Any]]:
    """Records this VAN already holds because its own metadata lists them: a predefined value of a field
    that is a resource's key column (e.g. the ActivistCodeID values served by /values are the account's
    activist codes, which the ActivistCodes resource can update)."""
    keys = {info.get("keyColumn"): rt for rt in catalog.resources
            if (info := catalog.resource_info(rt)).get("keyColumn") not in (None, "VanID")}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for mt in catalog:
        for fd in mt.fields:
            if fd.name in keys and fd.has_predefined_values:
                for v in catalog.values(mt.name, fd.name) or []:
                    if v.id.isdigit():
                        out[(fd.name, int(v.id))] = {"keyType": fd.name, "pk": int(v.id), "resource": keys[fd.name],
                                                     "fields": {"Name": v.name}}
    return list(out.values())
