"""The job worker: fetch the zip at sourceUrl, read the file, validate and apply each row, write results.

A job's effects (contacts, records, applied rows, result links, final status) are committed in one
transaction, so a crash or restart never applies a row twice: unfinished jobs simply run again.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import logging
import operator
import queue
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from connector.catalog import Catalog

from .auth import Context
from .config import INVALID_ROW_ABSENT, ApiKey, SimulatorConfig
from .errors import ApiError, job_error
from .results import FIXED_COLUMNS, write_result_files
from .store import Store
from .validation import BoundMapping, JobSpec, normalise_value, validate_job

log = logging.getLogger(__name__)


class JobFailure(Exception):
    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(slots=True)
class RowOutcome:
    number: int  # BulkUploadDataID: 1-based data row number
    cells: list[str]
    absent: bool = False  # failed validation: not in the result file
    messages: dict[int, str] = field(default_factory=dict)  # mapping position -> message (else Processed)
    values: dict[int, dict[str, str]] = field(default_factory=dict)  # mapping position -> field -> value
    skipped: set[int] = field(default_factory=set)  # mapping positions with no values in this row
    key: int | None = None
    key_text: str = ""
    create: bool = False

    @property
    def failed(self) -> bool:
        return self.absent or bool(self.messages)


def fetch_source(url: str, config: SimulatorConfig) -> bytes:
    """GET the zip (presigned S3/GCS URLs are plain GETs) without reading more than the size limit."""
    try:
        with httpx.stream("GET", url, timeout=config.fetch_timeout_seconds, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise JobFailure("SOURCE_FILE_UNAVAILABLE",
                                 f"The source file could not be downloaded from sourceUrl (HTTP {resp.status_code}).")
            buf = bytearray()
            for chunk in resp.iter_bytes():
                buf.extend(chunk)
                if len(buf) > config.max_zip_bytes:
                    raise JobFailure("FILE_TOO_LARGE",
                                     f"The zipped file exceeds the maximum of {config.max_zip_bytes // 1_000_000} MB.")
            return bytes(buf)
    except httpx.HTTPError as exc:
        raise JobFailure("SOURCE_FILE_UNAVAILABLE",
                         f"The source file could not be downloaded from sourceUrl ({type(exc).__name__}).") from None


def read_rows(data: bytes, spec: JobSpec) -> list[list[str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise JobFailure("INVALID_ZIP", "The file at sourceUrl is not a valid zip archive.") from None
    names = archive.namelist()
    wanted = spec.file_name.lower()
    entry = next((n for n in names if n == spec.file_name), None) or \
        next((n for n in names if n.lower() == wanted or n.rsplit("/", 1)[-1].lower() == wanted), None)
    if entry is None:
        raise JobFailure("FILE_NOT_FOUND_IN_ZIP", f"The file '{spec.file_name}' was not found in the zip archive.")
    try:
        raw = archive.read(entry)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
        raise JobFailure("INVALID_ZIP", f"The zip entry '{entry}' could not be read ({exc}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter, quotechar='"', strict=False,
                        quoting=csv.QUOTE_MINIMAL if spec.has_quotes else csv.QUOTE_NONE)
    try:
        rows = [r for r in reader if r and not (len(r) == 1 and r[0] == "" and len(spec.columns) > 1)]
    except csv.Error as exc:
        raise JobFailure("INVALID_FILE", f"The file could not be parsed: {exc}.") from None
    if spec.has_header and rows:
        rows = rows[1:]
    for i, r in enumerate(rows, 1):
        if len(r) != len(spec.columns):
            raise JobFailure("COLUMN_COUNT_MISMATCH",
                             f"Row {i} has {len(r)} columns but the job declares {len(spec.columns)}.")
    return rows


class _JobCatalog:
    """The catalogue as one job reads it: each field's predefined values looked up once (a lookup by name
    scans every mapping type: it was most of the per-row cost), and every (field, raw value) checked once
    (``normalise_value`` depends on nothing else). Speed only: the answers are the catalogue's."""

    _MAX_MEMO = 200_000  # distinct values remembered per job; beyond that, checked each time

    def __init__(self, catalog: Catalog):
        self._catalog = catalog
        self._values: dict[tuple[str, str], Any] = {}
        self._checked: dict[tuple[str, str, str], tuple[str | None, str | None]] = {}

    def values(self, mapping_type: str, field_name: str):
        key = (mapping_type, field_name.lower())
        if key not in self._values:
            self._values[key] = self._catalog.values(mapping_type, field_name)
        return self._values[key]

    def normalise(self, mt, f, raw: str) -> tuple[str | None, str | None]:
        key = (mt.name, f.name, raw)
        hit = self._checked.get(key)
        if hit is None:
            hit = normalise_value(self, mt, f, raw)
            if len(self._checked) < self._MAX_MEMO:
                self._checked[key] = hit
        return hit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


def evaluate_rows(rows: list[list[str]], spec: JobSpec, catalog: Catalog, store: Store,
                  config: SimulatorConfig) -> list[RowOutcome]:
    """Validate every row against the catalogue and decide what each mapping does with it."""
    catalog = catalog if isinstance(catalog, _JobCatalog) else _JobCatalog(catalog)
    key_col = spec.key_source[1] if spec.key_source else None
    if key_col is not None:
        candidates = {int(r[key_col].strip()) for r in rows if r[key_col].strip().isdigit()}
        existing = store.existing_keys(spec.key_type, candidates)
    else:
        existing = set()
    not_found = config.not_found_messages.get(spec.key_type) or \
        config.not_found_default.format(key_type=spec.key_type)
    outcomes: list[RowOutcome] = []
    # What a mapping makes of a row depends only on the row's cells in that mapping's columns and on whether
    # the row has a key (row requirements): rows alike in those are evaluated once (speed only).
    mapped = [(bm, _cells_of([b.column for b in bm.fields if b.column is not None])) for bm in spec.mappings]
    seen: dict[tuple, tuple[bool, tuple[dict[str, str], str | None]]] = {}
    for number, cells in enumerate(rows, 1):
        out = RowOutcome(number, cells)
        invalid_messages: dict[int, str] = {}
        has_key = key_col is not None and bool(cells[key_col].strip())
        evaluated = []
        any_blank = False
        for bm, cells_of in mapped:
            memo_key = (bm.position, has_key, cells_of(cells))
            hit = seen.get(memo_key)
            if hit is None:
                hit = (_all_blank(bm, cells), _mapping_values(bm, cells, catalog, spec))
                if len(seen) < _JobCatalog._MAX_MEMO:
                    seen[memo_key] = hit
            evaluated.append((bm, hit))
            any_blank = any_blank or (hit[0] and not bm.creates_records)
        if any_blank:
            blank = {bm.position for bm, (is_blank, _) in evaluated if not bm.creates_records and is_blank}
            if len(blank) < len(spec.mappings):
                # A mapping with nothing in this row is skipped, as long as the row has something else to apply.
                out.skipped = blank
        for bm, (_, (values, message)) in evaluated:
            if bm.position in out.skipped:
                continue
            out.values[bm.position] = values
            if message:
                invalid_messages[bm.position] = message
        key_text = cells[key_col].strip() if key_col is not None else ""
        out.key_text = key_text
        if key_text and not key_text.isdigit():
            for bm in spec.mappings:
                invalid_messages.setdefault(bm.position, f"Invalid {spec.key_type}")
        elif not key_text and key_col is not None and spec.creator is None:
            for bm in spec.mappings:
                invalid_messages.setdefault(bm.position, f"{spec.key_column} is required")
        if invalid_messages:
            if config.invalid_rows == INVALID_ROW_ABSENT:
                out.absent = True
                outcomes.append(out)
                continue
            out.messages.update(invalid_messages)
        if key_text.isdigit():
            out.key = int(key_text)
            if out.key not in existing:
                for bm in spec.mappings:
                    out.messages.setdefault(bm.position, not_found)
        elif spec.creator is not None:
            out.create = spec.creator.position not in out.messages
        outcomes.append(out)
    return outcomes


def _cells_of(columns: list[int]) -> Callable[[list[str]], Any]:
    """The cells of ``columns`` (a hashable value), fast."""
    if not columns:
        return lambda cells: ()
    return operator.itemgetter(*columns)


def _all_blank(bm: BoundMapping, cells: list[str]) -> bool:
    columns = [b.column for b in bm.fields if b.column is not None]
    return bool(columns) and all(not cells[c].strip() for c in columns)


def _mapping_values(bm: BoundMapping, cells: list[str], catalog: Catalog,
                    spec: JobSpec) -> tuple[dict[str, str], str | None]:
    """The values one mapping takes from a row (translation, predefined ids, formats) or its first error."""
    mt = bm.mapping_type
    values: dict[str, str] = {}
    for b in bm.fields:
        if b.static is not None:
            values[b.field.name] = b.static
            continue
        raw = cells[b.column].strip()
        if b.translate and raw.lower() in b.translate:
            raw = b.translate[raw.lower()].strip()
        if not raw:
            continue
        value, message = (catalog.normalise(mt, b.field, raw) if isinstance(catalog, _JobCatalog)
                          else normalise_value(catalog, mt, b.field, raw))
        if message:
            return values, message
        values[b.field.name] = value
    for b in bm.fields:
        fd = b.field
        if fd.name not in values:
            continue
        for parent in fd.parents:
            pv = next((v for k, v in values.items() if k.lower() == parent.parent_field.lower()), None)
            if pv is None:
                return values, f"{fd.name} requires {parent.parent_field}"
            if parent.limited_to_parent_values is not None and \
                    pv.lower() not in {v.lower() for v in parent.limited_to_parent_values}:
                return values, f"{fd.name} is not allowed when {parent.parent_field} is {pv}"
        if fd.has_predefined_values:
            for item in catalog.values(mt.name, fd.name) or []:
                if item.id == values[fd.name] and item.parents:
                    for vp in item.parents:
                        pname = vp.get("parentFieldName", "")
                        allowed = {str(a.get("id", a.get("name"))).lower() if isinstance(a, dict) else str(a).lower()
                                   for a in vp.get("allowedParentValues") or []}
                        pv = next((v for k, v in values.items() if k.lower() == pname.lower()), None)
                        if pv is None or (allowed and pv.lower() not in allowed):
                            return values, f"{fd.name} value {values[fd.name]} is not allowed for this {pname}"
    for fd in mt.required_fields:
        if fd.name not in values:
            return values, f"{fd.name} is required"
    for name in mt.always_required:  # e.g. a contribution's Amount: required whatever the metadata says
        if bm.bound(name) is not None and not any(k.lower() == name.lower() for k in values):
            return values, f"{name} is required"
    for rule in mt.row_requirements:
        groups = rule.get("anyOf") or []
        present = {k.lower() for k in values}
        if spec.key_source is not None and cells[spec.key_source[1]].strip():
            present.add(spec.key_column.lower())
        if groups and not any(all(g.lower() in present for g in group) for group in groups):
            return values, rule.get("text") or f"{mt.name} row requirement '{rule.get('rule')}' not met"
    return values, None


_gc_lock = threading.Lock()
_gc_jobs = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _cyclic_gc_paused():
    """A job allocates a few small objects per row (lists, dicts, outcomes), none in a cycle; Python's cyclic
    collector kept traversing them as they piled up: two thirds of the evaluation time of a 300k-row job.
    Paused while any job works (process-wide, so counted across worker threads), then back as it was."""
    global _gc_jobs, _gc_was_enabled
    with _gc_lock:
        if _gc_jobs == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_jobs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_jobs -= 1
            if _gc_jobs == 0 and _gc_was_enabled:
                gc.enable()


WAITING_JOBS_PER_SLOT = 4  # threads per processing slot: a job sleeping through its simulated time holds none


class Processor:
    """Runs jobs on worker threads; status changes are written to the store as they happen. At most
    ``worker_threads`` jobs do work (fetch, read, evaluate, apply) at once; the simulated pending and processing
    time holds no slot, so jobs in their waits overlap as they would at VAN (22 demo jobs waited in line
    behind two workers' sleeps: 17 s)."""

    def __init__(self, store: Store, catalog: Catalog, get_config: Callable[[], SimulatorConfig], faults: Any,
                 released: threading.Event | None = None, processing_released: threading.Event | None = None):
        self.store = store
        # Cleared: a job that has fetched and read its file waits there, InProgress, before it applies a row
        # (SimulatorServer.hold_processing): a client killed then finds its jobs at VAN, mid-way.
        self._processing_released = processing_released or threading.Event()
        if processing_released is None:
            self._processing_released.set()
        self.jobs_read = 0  # jobs whose file was fetched and read (a test waits for them)
        self._count_lock = threading.Lock()
        # Cleared: every job waits ``Pending`` before it starts (SimulatorServer.hold_jobs), so a test holds a
        # scenario at a known point instead of guessing with simulated time.
        self._released = released or threading.Event()
        if released is None:
            self._released.set()
        self.catalog = catalog
        self.get_config = get_config
        self.faults = faults
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max(1, get_config().worker_threads))

    def start(self) -> None:
        for jid in self.store.unfinished_jobs():  # jobs interrupted by a restart run again
            self.store.set_status(jid, "Pending")
            self._queue.put(jid)
        for i in range(max(1, self.get_config().worker_threads) * WAITING_JOBS_PER_SLOT):
            t = threading.Thread(target=self._loop, name=f"van-sim-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()

    def submit(self, job_id: int) -> None:
        self._queue.put(job_id)

    def _loop(self) -> None:
        while True:
            jid = self._queue.get()
            if jid is None or self._stopping.is_set():
                return
            try:
                self.run(jid)
            except _Stopped:
                return
            except Exception as exc:  # a bug must not kill the worker; the job fails visibly instead
                log.exception("simulator job %s crashed", jid)
                self.store.fail_job(jid, [job_error("INTERNAL_ERROR", f"Internal error: {type(exc).__name__}")])

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped()

    def run(self, job_id: int) -> None:
        config = self.get_config()
        row = self.store.job_row(job_id)
        if row is None:
            return
        request = json.loads(row["request"])
        key = next((k for k in config.api_keys if k.key.lower() == row["api_key"].lower()), None) \
            or ApiKey(row["api_key"], permissions=tuple(self.catalog.names))
        ctx = Context(key, row["database_mode"], self.catalog)
        self._wait_for(self._released)  # held: stays Pending until released (or the simulator stops)
        self._sleep(config.pending_seconds)
        self.store.set_status(job_id, "InProgress")
        with self._slots:
            found = self._read_and_evaluate(job_id, request, ctx, row, config)
        if found is None:
            return
        with self._count_lock:
            self.jobs_read += 1
        self._wait_for(self._processing_released)  # held: read, nothing applied yet
        spec, rows, outcomes = found
        # Simulated processing time; the status turns InProgressWithErrors when the first bad row is "reached".
        total = max(config.min_processing_seconds, len(rows) / 1000 * config.seconds_per_1000_rows)
        first_bad = next((i for i, o in enumerate(outcomes) if o.failed), None)
        if first_bad is not None:
            before = total * first_bad / max(1, len(outcomes))
            self._sleep(before)
            self.store.set_status(job_id, "InProgressWithErrors")
            self._sleep(total - before)
        else:
            self._sleep(total)
        with self._slots, _cyclic_gc_paused():
            self._commit(job_id, spec, outcomes, config)

    def _wait_for(self, event: threading.Event) -> None:
        """Until a test's hold is released; ``_Stopped`` when the simulator stops meanwhile."""
        while not event.is_set():
            if self._stopping.wait(0.05):
                raise _Stopped()
            event.wait(0.05)

    def _read_and_evaluate(self, job_id: int, request: dict, ctx: Context, row, config: SimulatorConfig):
        """(spec, rows, outcomes); None when the job failed (recorded as such)."""
        try:
            try:
                spec = validate_job(request, ctx, config)
            except ApiError as exc:
                raise JobFailure("INVALID_JOB", "; ".join(e["text"] for e in exc.errors)) from None
            if row["force_fail"]:
                raise JobFailure("JOB_FAILED", "The job failed during processing.")
            if spec.disclosure_conflict:
                raise JobFailure("DISCLOSURE_FIELD_CONFLICT",
                                 "Disclosure fields for Individuals and Organizations cannot be loaded in the "
                                 "same file; split them into separate jobs.")
            if self.faults.take_fetch_error():
                raise JobFailure("SOURCE_FILE_UNAVAILABLE",
                                 "The source file could not be downloaded from sourceUrl (ConnectError).")
            data = fetch_source(spec.source_url, config)
            with _cyclic_gc_paused():  # not while sleeping: the embedded simulator shares the process
                rows = read_rows(data, spec)
                return spec, rows, evaluate_rows(rows, spec, self.catalog, self.store, config)
        except JobFailure as failure:
            log.info("simulator job %s failed: %s", job_id, failure.code)
            self.store.fail_job(job_id, [job_error(failure.code, failure.text)])
            return None

    def _commit(self, job_id: int, spec: JobSpec, outcomes: list[RowOutcome], config: SimulatorConfig) -> None:
        ul_file = self.store.next_ids("ul_file", 1, config.first_ul_file_id)
        first_instance = self.store.next_ids("mapping_instance", len(spec.mappings), config.first_mapping_instance_id)
        instances = {bm.position: first_instance + i for i, bm in enumerate(spec.mappings)}
        creates = [o for o in outcomes if o.create and not o.absent]
        if creates:
            first_pk = self.store.next_ids(f"key:{spec.key_type}", len(creates), config.first_record_id)
            for i, o in enumerate(creates):
                o.key = first_pk + i
        result_mappings = [bm for bm in spec.mappings
                           if config.result_column_per_mapping or not bm.creates_records]
        header = [*FIXED_COLUMNS, *(spec.columns[i] for i in spec.include_columns),
                  *(f"{bm.mapping_type.name}_{instances[bm.position]}" for bm in result_mappings)]

        ul_text, included = str(ul_file), list(spec.include_columns)
        positions = [bm.position for bm in result_mappings]

        def result_rows():
            for o in outcomes:
                if o.absent:
                    continue
                pk = "" if o.key is None else str(o.key)
                cells = o.cells
                row = [str(o.number), ul_text, pk, spec.key_type]
                row += [cells[i] for i in included]
                if not o.messages and not o.skipped:  # the common row: every mapping Processed
                    row += ["Processed"] * len(positions)
                else:
                    row += [o.messages.get(p, config.skipped_mapping_result if p in o.skipped else "Processed")
                            for p in positions]
                yield row

        paths = write_result_files(self.store.results_dir / str(job_id), job_id, header, result_rows(),
                                   spec.result_kb * config.result_kb_unit)
        ttl = self.faults.result_ttl(config)
        failed = sum(1 for o in outcomes if o.failed)
        status = "CompletedWithErrors" if failed else "Completed"
        with self.store.transaction() as c:
            if c.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()["status"] in ("Completed", "CompletedWithErrors", "Failed"):
                return  # already finished (never apply twice)
            applied = []
            dumped: dict[int, str] = {}
            for o in outcomes:
                if o.absent or o.key is None:
                    continue
                for bm in spec.mappings:
                    if bm.position in o.messages or bm.position in o.skipped:
                        continue
                    values = o.values.get(bm.position, {})
                    text = dumped.get(id(values))
                    if text is None:  # rows alike share their values dict (evaluate_rows): encoded once
                        text = dumped[id(values)] = json.dumps(values)
                    applied.append((job_id, bm.mapping_type.name, instances[bm.position], spec.resource_type,
                                    o.key, spec.key_type, o.number, text))
                    if bm.creates_records:
                        stored = {k: v for k, v in values.items() if k.lower() != spec.key_column.lower()}
                        _merge_record(c, spec, o.key, stored, job_id, o.create)
            c.executemany("INSERT INTO applied (job_id, mapping_type, mapping_instance, resource, primary_key,"
                          " primary_key_type, row_number, fields) VALUES (?,?,?,?,?,?,?,?)", applied)
            expires = time.time() + ttl
            for seq, path in enumerate(paths, 1):
                token = secrets.token_urlsafe(24)
                c.execute("INSERT INTO result_files VALUES (?,?,?,?,?,?)",
                          (token, job_id, seq, str(path), path.name, expires))
            c.execute("UPDATE jobs SET status=?, finished_at=?, ul_file_id=?, row_count=?, rows_failed=? WHERE id=?",
                      (status, time.time(), ul_file, len(outcomes), failed, job_id))


def _merge_record(c, spec: JobSpec, pk: int, values: dict[str, str], job_id: int, create: bool) -> None:
    """Insert or update a record; blank cells never erase stored values (they are simply not in ``values``)."""
    if spec.key_type == "VanID":
        row = c.execute("SELECT fields FROM contacts WHERE van_id=?", (pk,)).fetchone()
        if row is None:
            c.execute("INSERT INTO contacts (van_id, fields, created_job, updated_job) VALUES (?,?,?,?)",
                      (pk, json.dumps(values), job_id, job_id))
        else:
            merged = {**json.loads(row["fields"]), **values}
            c.execute("UPDATE contacts SET fields=?, updated_job=? WHERE van_id=?", (json.dumps(merged), job_id, pk))
        return
    row = c.execute("SELECT fields FROM records WHERE key_type=? AND pk=?", (spec.key_type, pk)).fetchone()
    if row is None:
        c.execute("INSERT INTO records VALUES (?,?,?,?,?,?)",
                  (spec.key_type, pk, spec.resource_type, json.dumps(values), job_id, job_id))
    else:
        merged = {**json.loads(row["fields"]), **values}
        c.execute("UPDATE records SET fields=?, updated_job=? WHERE key_type=? AND pk=?",
                  (json.dumps(merged), job_id, spec.key_type, pk))


class _Stopped(Exception):
    """The server is stopping; the job stays unfinished and runs again on the next start."""
