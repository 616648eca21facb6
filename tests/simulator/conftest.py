"""Outside-client helpers: plain httpx against the simulator, zips served by a tiny stdlib HTTP server."""

from __future__ import annotations

import csv
import io
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

APP = "vanbulk-demo"
KEY = "00000000-0000-4000-8000-000000000000"


class FileServer:
    """Serves bytes registered under a path; counts GETs so tests can see what VAN fetched."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        files, hits = self.files, self.hits

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                hits[path] = hits.get(path, 0) + 1
                data = files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def put(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url(path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def make_zip(name: str, text: str, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        z.writestr(name, text)
    return buf.getvalue()


def csv_text(rows: list[list[str]], delimiter: str = ",", quote_all: bool = False) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    return buf.getvalue()


def job_body(columns, mapping_types, source_url, *, file_name="data.csv", resource="Contacts",
             has_header=True, include=None, **file_extra):
    action = {"actionType": "loadMappedFile", "resourceType": resource, "resultFileSizeKbLimit": 5000,
              "mappingTypes": mapping_types}
    if include is not None:
        action["columnsToIncludeInResultsFile"] = [{"name": n} for n in include]
    return {
        "description": "test job",
        "file": {"fileName": file_name, "hasHeader": has_header, "hasQuotes": False, "sourceUrl": source_url,
                 "columns": [{"name": c} for c in columns], "columnDelimiter": "Csv", **file_extra},
        "actions": [action],
    }


def wait_job(client: httpx.Client, job_id: int, timeout: float = 10.0, seen: list | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"bulkImportJobs/{job_id}")
        if r.status_code == 200:
            job = r.json()
            if seen is not None and (not seen or seen[-1] != job["status"]):
                seen.append(job["status"])
            if job["status"] in ("Completed", "CompletedWithErrors", "Failed"):
                return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not finish: {r.status_code} {r.text}")
        time.sleep(0.02)


def read_results(job: dict) -> list[dict]:
    rows = []
    for f in job["resultFiles"]:
        r = httpx.get(f["url"])
        assert r.status_code == 200, r.text
        rows.extend(csv.DictReader(io.StringIO(r.text)))
    return rows


def result_header(url: str) -> list[str]:
    return next(csv.reader(io.StringIO(httpx.get(url).text)))


@pytest.fixture
def files():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def client(simulator):
    with httpx.Client(base_url=simulator.base_url, auth=(APP, KEY + "|1"), timeout=10) as c:
        yield c


@pytest.fixture
def run(client, files):
    """POST a job for a CSV (served zipped) and wait for it; returns the finished job."""

    def _run(columns, rows, mapping_types, *, header=True, resource="Contacts", include=None, expect=200,
             **extra):
        text = csv_text(([columns] if header else []) + rows)
        url = files.put(f"/f{len(files.files)}.zip", make_zip("data.csv", text))
        body = job_body(columns, mapping_types, url, resource=resource, include=include, has_header=header, **extra)
        r = client.post("bulkImportJobs", json=body)
        assert r.status_code == expect, r.text
        return wait_job(client, r.json()["jobId"])

    return _run
