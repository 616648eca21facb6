"""Download every result file of a finished job, keep it raw, parse it into per-row outcomes.

VAN's result CSV (documented layout): ``BulkUploadDataID, ULFileID, PrimaryKey, PrimaryKeyType``, the
``columnsToIncludeInResultsFile`` columns (our ``source_row_key``), then one ``<MappingType>_<n>`` column per
mapping in the job whose cell is ``Processed`` or a message. Links expire after 24 hours, so files are
fetched the moment the job is terminal and kept under ``state_dir/results/<jobId>/`` (all of them: large
outputs are split across several files). Rows VAN rejected outright are absent: the ledger's anti-join
against the rows each job carried records them as ``not_in_results``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from connector.export import ROW_KEY
from connector.redaction import strip_query

logger = logging.getLogger(__name__)

FIXED = ("BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType")
PROCESSED = "processed"

# Free-text VAN messages -> a small category set for dashboards (first match wins).
_CATEGORIES = [
    ("ignored", re.compile(r"\bignored\b", re.I)),
    ("permission", re.compile(r"permission|not authori[sz]ed|not allowed", re.I)),
    ("not_found", re.compile(r"not found|does not exist|unknown|no such|invalid (van ?id|id)\b", re.I)),
    ("duplicate", re.compile(r"duplicate|already", re.I)),
    ("required", re.compile(r"required|missing|must be (supplied|provided)", re.I)),
    ("invalid_value", re.compile(r"invalid|not valid|must be|format|too long|exceed", re.I)),
]

__all__ = ["ResultFile", "ResultFiles", "categorize", "download_results", "parse_results", "result_rows_sql",
           "results_insert_sql"]


@dataclass
class ResultFile:
    file_no: int
    path: Path
    url: str  # without query string: safe to store
    date_expired: str | None


def categorize(message: str | None) -> str | None:
    if not message:
        return None
    for name, rx in _CATEGORIES:
        if rx.search(message):
            return name
    return "other"


def download_results(client, job: Mapping[str, Any], dest_dir: Path) -> list[ResultFile]:
    """Fetch every ``resultFiles[].url`` into ``dest_dir`` (overwriting an earlier partial fetch)."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out: list[ResultFile] = []
    for i, rf in enumerate(job.get("resultFiles") or [], start=1):
        url = rf.get("url") if isinstance(rf, Mapping) else str(rf)
        if not url:
            continue
        path = dest_dir / f"result-{i:03d}.csv"
        with open(path, "wb") as f:
            client.download(url, f)
        out.append(ResultFile(i, path, strip_query(url), rf.get("dateExpired") if isinstance(rf, Mapping) else None))
    logger.info("job %s: %d result file(s) saved under %s", job.get("id"), len(out), dest_dir)
    return out


def _mapping_columns(header: Sequence[str], mapping_types: Sequence[str]) -> dict[str, list[str]]:
    """Result columns per mapping type: ``<Name>_<n>``; unclaimed extra columns go to a lone mapping type."""
    cols: dict[str, list[str]] = {mt: [] for mt in mapping_types}
    known = {c.lower() for c in FIXED} | {ROW_KEY.lower()}
    for h in header:
        if h.lower() in known:
            continue
        for mt in sorted(mapping_types, key=len, reverse=True):  # longest name first: Phones vs Phone...
            if re.fullmatch(rf"{re.escape(mt)}_\d+", h, re.I):
                cols[mt].append(h)
                break
        else:
            if len(mapping_types) == 1:
                cols[mapping_types[0]].append(h)
            else:
                logger.warning("result column %r matches none of %s; ignored", h, list(mapping_types))
    return cols


def parse_results(files: Sequence[ResultFile], mapping_types: Sequence[str], *, job_key: str,
                  van_job_id: int | None, run_id: str | None, loaded_at) -> Iterator[dict[str, Any]]:
    """One dict per (result row, mapping type), shaped as ``van_bulk_row_results``."""
    seen: set[tuple[str, str]] = set()
    for rf in files:
        with open(rf.path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                continue
            index = {h.lower(): i for i, h in enumerate(header)}
            if ROW_KEY.lower() not in index:
                raise ValueError(f"result file {rf.url} has no {ROW_KEY} column (columnsToIncludeInResultsFile)")
            by_mt = _mapping_columns(header, mapping_types)
            pos = {h: i for i, h in enumerate(header)}

            def cell(row: list[str], name: str) -> str | None:
                i = index.get(name.lower())
                return row[i] if i is not None and i < len(row) and row[i] != "" else None

            for row in reader:
                if not row:
                    continue
                key = cell(row, ROW_KEY)
                if key is None:
                    continue
                for mt in mapping_types:
                    if (mt, key) in seen:
                        continue
                    seen.add((mt, key))
                    messages = {c: (row[pos[c]] if pos[c] < len(row) else "") for c in by_mt[mt]}
                    if messages:
                        bad = [m for m in messages.values() if m.strip().lower() != PROCESSED]
                    else:  # no result column for this mapping (VAN omits some): the row being there is success
                        bad = [] if cell(row, "PrimaryKey") else ["no PrimaryKey in result row"]
                    first = next((m or "(blank result cell)" for m in bad), None)
                    yield {
                        "job_key": job_key, "van_job_id": van_job_id, "run_id": run_id, "mapping_type": mt,
                        "source_row_key": key,
                        "bulk_upload_data_id": _int(cell(row, "BulkUploadDataID")),
                        "ul_file_id": cell(row, "ULFileID"), "primary_key": cell(row, "PrimaryKey"),
                        "primary_key_type": cell(row, "PrimaryKeyType"),
                        "mapping_messages_json": json.dumps(messages) if messages else None,
                        "row_status": "failed" if bad else PROCESSED,
                        "first_error_message": first, "error_category": categorize(first) if bad else None,
                        "result_file_no": rf.file_no, "loaded_at": loaded_at,
                    }


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


# -- the engine reads the result files itself (DuckDB read_csv, PostgreSQL COPY FROM) ----------------------

@dataclass
class ResultFiles:
    """A job's downloaded result files, for ``Ledger.load_results``: DuckDB and PostgreSQL read them in
    bulk with ``result_rows_sql`` (same rows and values as ``parse_results``); other engines get the rows
    from ``parse_results``."""

    files: Sequence[ResultFile]
    mapping_types: Sequence[str]
    loaded_at: Any

    def parse(self, **consts: Any) -> Iterator[dict[str, Any]]:
        return parse_results(self.files, self.mapping_types, **consts)


def read_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f), None) or []


def category_sql(ops, message: str) -> str:
    """``categorize`` as a SQL expression (engine ``ops``) over a non-null message."""
    return "case " + " ".join(f"when {ops.matches_icase(message, rx.pattern)} then {ops.literal(name)}"
                              for name, rx in _CATEGORIES) + " else 'other' end"


def result_rows_sql(header: Sequence[str], mapping_types: Sequence[str], *, source: str, file_no: int,
                    ops) -> str:
    """One result file's rows as ``van_bulk_row_results`` columns (the job's own values as the parameters
    ``:job_key``, ``:van_job_id``, ``:run_id``, ``:loaded_at``) over ``source``, a relation whose text
    columns ``c0``, ``c1``, ... hold the file's columns in order. Plus ``_rank`` (file, row) for keeping
    the first of a repeated key. The same rules as ``parse_results``."""
    index = {h.lower(): i for i, h in enumerate(header)}
    if ROW_KEY.lower() not in index:
        raise ValueError(f"result file {file_no} has no {ROW_KEY} column (columnsToIncludeInResultsFile)")
    pos = {h: i for i, h in enumerate(header)}
    text = ops.text_type

    def cell(name: str) -> str:  # a named cell, '' as NULL
        i = index.get(name.lower())
        return f"nullif(c{i}, '')" if i is not None else f"cast(null as {text})"

    number = cell("BulkUploadDataID")
    as_int = ops.try_bigint(number)
    by_mt = _mapping_columns(header, mapping_types)
    selects = []
    for mt in mapping_types:
        cells = [f"coalesce(c{pos[c]}, '')" for c in by_mt[mt]]
        if cells:
            bad = [f"lower(trim({c})) <> '{PROCESSED}'" for c in cells]
            status = f"case when {' or '.join(bad)} then 'failed' else '{PROCESSED}' end"
            first = "case " + " ".join(f"when {b} then case when {c} = '' then '(blank result cell)' else {c} end"
                                       for b, c in zip(bad, cells)) + " end"
            # to_json only for cells other than the common exact "Processed" (a constant: 2x faster on DuckDB)
            messages = " || ', ' || ".join(
                f"{ops.literal(json.dumps(name) + ': ')} || case when {c} = 'Processed' then '\"Processed\"' "
                f"else {ops.json_text(c)} end" for name, c in zip(by_mt[mt], cells))
            messages = f"'{{' || {messages} || '}}'"
        else:  # no result column for this mapping (VAN omits some): the row being there is success
            status = f"case when {cell('PrimaryKey')} is null then 'failed' else '{PROCESSED}' end"
            first = f"case when {cell('PrimaryKey')} is null then 'no PrimaryKey in result row' end"
            messages = f"cast(null as {text})"
        selects.append(
            f"select {ops.literal(mt)} as mapping_type, {cell(ROW_KEY)} as source_row_key, {as_int} as bulk_upload_data_id, "
            f"{cell('ULFileID')} as ul_file_id, {cell('PrimaryKey')} as primary_key, "
            f"{cell('PrimaryKeyType')} as primary_key_type, {messages} as mapping_messages_json, "
            f"{status} as row_status, {first} as first_error_message, {file_no} as result_file_no, "
            f"{file_no} * 10000000000 + coalesce({as_int}, 0) as _rank from {source} "
            f"where {cell(ROW_KEY)} is not null")
    return " union all ".join(selects)


def results_insert_sql(per_file: Sequence[str], table: str, job_rows: str, ops, *, dedup: bool) -> str:
    """INSERT, for every (key, mapping type) the job carried (``job_rows``), of its result row from the files
    (``result_rows_sql``), or a ``not_in_results`` row (parameter ``:absent`` as the message) when the files
    have none (VAN dropped it in validation). Result rows the job did not carry are left out. ``dedup``:
    a (mapping type, key) repeated in the files keeps its first row (needed only when one is repeated)."""
    union = " union all ".join(f"({s})" for s in per_file)
    if dedup:
        union = (f"select * from (select x.*, row_number() over (partition by mapping_type, source_row_key "
                 f"order by _rank) as _n from ({union}) x) y where _n = 1")
    cat = category_sql(ops, "f.first_error_message")
    return (
        f"insert into {table} (job_key, van_job_id, run_id, mapping_type, source_row_key, bulk_upload_data_id, "
        f"ul_file_id, primary_key, primary_key_type, mapping_messages_json, row_status, first_error_message, "
        f"error_category, result_file_no, loaded_at) "
        f"select :job_key, cast(:van_job_id as bigint), :run_id, s.mapping_type, s.source_row_key, "
        f"f.bulk_upload_data_id, f.ul_file_id, f.primary_key, f.primary_key_type, f.mapping_messages_json, "
        f"coalesce(f.row_status, 'not_in_results'), "
        f"case when f.row_status is null then :absent else f.first_error_message end, "
        f"case when f.row_status is null then 'not_in_results' when f.row_status = 'failed' then {cat} end, "
        f"f.result_file_no, :loaded_at "
        f"from (select mapping_type, source_row_key from {job_rows} where job_key = :job_key) s "
        f"left join ({union}) f on f.mapping_type = s.mapping_type and f.source_row_key = s.source_row_key")
