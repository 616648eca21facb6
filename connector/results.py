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

__all__ = ["ResultFile", "categorize", "download_results", "parse_results"]


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
