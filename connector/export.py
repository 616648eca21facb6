"""Export a query to zipped CSV chunks in VAN's format, streaming with bounded memory.

Format: a header row (``hasHeader: true``; VAN skips it and names columns from ``file.columns``), every
value quoted (``hasQuotes: true``; Parsons moved to QUOTE_ALL after quoting bugs), NULL as an empty
field (VAN leaves the stored value unchanged), UTF-8, CRLF. Column order is exactly ``columns``.

Chunks roll over before ``max_zipped_bytes`` (measured on the zip as it is written, with a safety
margin for what deflate still buffers) or ``max_rows_per_chunk``. Each chunk records the sha256 of its
CSV bytes (the idempotency key of the job ledger) and writes the ``source_row_key`` of every row it
carries to a side file (JSON lines), so the ledger can record which rows a job sent without holding them in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from connector.errors import ExportError

logger = logging.getLogger(__name__)

VAN_MAX_COLUMNS = 50
VAN_MAX_ZIPPED_BYTES = 100 * 1024 * 1024
ROW_KEY = "source_row_key"
MAX_CSV_BYTES = 1_500_000_000  # below zip's 2 GiB non-zip64 entry limit

__all__ = ["Chunk", "export_query", "export_rows", "ordered_sql"]


@dataclass
class Chunk:
    chunk_no: int  # 1-based
    zip_path: Path
    file_name: str  # the CSV entry inside the zip (= file.fileName)
    columns: list[str]
    row_count: int
    csv_bytes: int
    zipped_bytes: int
    sha256: str  # of the CSV bytes
    keys_path: Path  # one JSON string per line: keys round-trip whatever they contain (CR, LF, tabs)

    def row_keys(self) -> Iterator[str]:
        with open(self.keys_path, encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)


class _HashingWriter(io.RawIOBase):
    """Text sink for csv.writer: hashes and forwards encoded bytes to the zip entry."""

    def __init__(self, target):
        self.target = target
        self.sha = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self.target.write(b)
        self.count += len(b)
        return len(b)


def ordered_sql(sql: str, columns: Sequence[str], quote: Callable[[str], str]) -> str:
    """Project exactly ``columns`` in order, sorted by row key so equal data gives equal files (and hashes)."""
    cols = ", ".join(quote(c) for c in columns)
    return f"select {cols} from ({sql}) as q order by {quote(ROW_KEY)}"


def export_query(warehouse, sql: str, columns: Sequence[str], out_dir: Path, base_name: str, *,
                 max_zipped_bytes: int, max_rows_per_chunk: int, batch_size: int = 10_000,
                 on_progress: Callable[[int], None] | None = None) -> list[Chunk]:
    """Export ``sql`` (whose columns must include ``columns``) through ``Warehouse.stream``."""
    stream = warehouse.stream(ordered_sql(sql, columns, warehouse.quote), batch_size=batch_size)

    def rows() -> Iterator[tuple]:
        for cols, batch in stream:
            if [c.lower() for c in cols] != [c.lower() for c in columns]:
                raise ExportError(f"query returned columns {cols}, expected {list(columns)}")
            yield from batch

    return export_rows(rows(), columns, out_dir, base_name, max_zipped_bytes=max_zipped_bytes,
                       max_rows_per_chunk=max_rows_per_chunk, on_progress=on_progress)


def export_rows(rows: Iterable[Sequence], columns: Sequence[str], out_dir: Path, base_name: str, *,
                max_zipped_bytes: int, max_rows_per_chunk: int,
                on_progress: Callable[[int], None] | None = None) -> list[Chunk]:
    columns = list(columns)
    if len(columns) > VAN_MAX_COLUMNS:
        raise ExportError(f"{base_name}: {len(columns)} columns; VAN accepts at most {VAN_MAX_COLUMNS}")
    if len({c.lower() for c in columns}) != len(columns):
        raise ExportError(f"{base_name}: duplicate column names {columns}")
    if ROW_KEY not in columns:
        raise ExportError(f"{base_name}: the file must carry {ROW_KEY}")
    if not 0 < max_zipped_bytes <= VAN_MAX_ZIPPED_BYTES:
        raise ExportError(f"max_zipped_bytes must be between 1 and {VAN_MAX_ZIPPED_BYTES}")
    key_idx = columns.index(ROW_KEY)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Deflate holds back up to one block (~16K symbols, tens of KB compressed) before it reaches the file,
    # plus the text buffer: roll over that much early. The size is checked again when the chunk closes.
    margin = min(256 * 1024, max_zipped_bytes // 3)

    chunks: list[Chunk] = []
    state: dict = {}
    total = 0

    def open_chunk() -> None:
        no = len(chunks) + 1
        stem = f"{base_name}-{no:04d}"
        zpath = out_dir / f"{stem}.zip"
        fh = open(zpath, "wb")
        zf = zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True)
        # Fixed timestamp: equal data gives byte-equal zips. ZipInfo defaults to STORED: ask for deflate.
        info = zipfile.ZipInfo(f"{stem}.csv", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        entry = zf.open(info, "w")  # plain zip (no zip64 extras): chunks stay under MAX_CSV_BYTES
        hw = _HashingWriter(entry)
        text = io.TextIOWrapper(hw, encoding="utf-8", newline="")
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(columns)
        keys = open(out_dir / f"{stem}.keys", "w", encoding="utf-8")
        state.update(no=no, stem=stem, zpath=zpath, fh=fh, zf=zf, entry=entry, hw=hw, text=text,
                     writer=writer, keys=keys, rows=0)

    def close_chunk() -> None:
        state["text"].flush()
        state["text"].detach()  # leaves the zip entry open for close() below
        state["entry"].close()
        state["zf"].close()
        state["fh"].close()
        state["keys"].close()
        zipped = state["zpath"].stat().st_size
        if zipped > max_zipped_bytes:
            raise ExportError(f"{state['stem']}: zipped size {zipped} exceeds {max_zipped_bytes} bytes; "
                              "raise max_zipped_bytes or lower max_rows_per_chunk")
        chunks.append(Chunk(state["no"], state["zpath"], f"{state['stem']}.csv", columns, state["rows"],
                            state["hw"].count, zipped, state["hw"].sha.hexdigest(),
                            out_dir / f"{state['stem']}.keys"))
        state.clear()

    try:
        for row in rows:
            if not state:
                open_chunk()
            key = row[key_idx]
            if key is None or key == "":
                raise ExportError(f"{base_name}: a row has no {ROW_KEY}")
            state["writer"].writerow(["" if v is None else v for v in row])
            state["keys"].write(json.dumps(str(key)) + "\n")
            state["rows"] += 1
            total += 1
            if on_progress and total % 50_000 == 0:
                on_progress(total)
            if state["rows"] >= max_rows_per_chunk or (state["rows"] % 256 == 0 and (
                    state["fh"].tell() + margin >= max_zipped_bytes or state["hw"].count >= MAX_CSV_BYTES)):
                close_chunk()
        if state:
            close_chunk()
    except BaseException:
        for key in ("text", "entry", "zf", "fh", "keys"):
            try:
                if key in state:
                    state[key].close()
            except Exception:  # noqa: BLE001 - best effort while unwinding
                pass
        raise
    logger.info("exported %d rows of %s into %d chunk(s)", total, base_name, len(chunks))
    return chunks
