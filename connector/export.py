"""Export a query to zipped CSV chunks in VAN's format, streaming with bounded memory.

Format: a header row (``hasHeader: true``; VAN skips it and names columns from ``file.columns``), every
value quoted (``hasQuotes: true``; Parsons moved to QUOTE_ALL after quoting bugs), NULL as an empty
field (VAN leaves the stored value unchanged), UTF-8, CRLF. Column order is exactly ``columns``.

Chunks roll over at ``max_rows_per_chunk`` or before ``max_zipped_bytes``, known exactly before each piece
is added (``connector.zip_writer``). Each chunk records the sha256 of its CSV bytes (the idempotency key of
the job ledger) and keeps its CSV beside the zip until it is submitted, so the ledger's engine reads which
rows the job carries (their ``source_row_key``) from exactly the bytes VAN gets, without Python in between.

Speed: DuckDB and PostgreSQL format the CSV themselves (``connector.engine_csv``; values cast to text,
NULL as '', so the bytes equal what Python's csv module writes for the same strings), the stream is cut
into pieces of whole rows (``connector.csv_rows``), pieces are deflated on a few threads while the engine
goes on writing, and hashed as they are written. Memory is bounded by the window of pieces in flight.
A row without a key is refused: the rows are sorted by key with NULLs last, so an empty key can only be the
first row and a NULL one only the last (both are written as an empty field).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import io
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from connector.csv_rows import RowBlock, frame_rows
from connector.engine_csv import DUCKDB_MEMORY_LIMIT, engine_csv, rows_sql, supports_engine_csv
from connector.errors import ExportError
from connector.warehouse import WarehouseError
from connector.zip_writer import ZipEntryWriter, deflate_piece

logger = logging.getLogger(__name__)

VAN_MAX_COLUMNS = 50
VAN_MAX_ZIPPED_BYTES = 100 * 1024 * 1024
ROW_KEY = "source_row_key"
MAX_CSV_BYTES = 1_500_000_000  # below zip's 2 GiB non-zip64 entry limit
PIECE_BYTES = 4 << 20  # CSV bytes deflated as one piece (one task for the deflate threads)

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
    csv_path: Path  # the CSV inside the zip, uncompressed (header first): the ledger reads the job's rows from it

    def row_keys(self) -> Iterator[str]:
        idx = self.columns.index(ROW_KEY)
        with open(self.csv_path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader, None)
            for row in reader:
                yield row[idx]


def ordered_sql(sql: str, columns: Sequence[str], quote: Callable[[str], str]) -> str:
    """Project exactly ``columns`` in order, sorted by row key so equal data gives equal files (and hashes)."""
    cols = ", ".join(quote(c) for c in columns)
    return f"select {cols} from ({sql}) as q order by {quote(ROW_KEY)}"


def export_query(warehouse, sql: str, columns: Sequence[str], out_dir: Path, base_name: str, *,
                 max_zipped_bytes: int, max_rows_per_chunk: int, batch_size: int = 10_000,
                 on_progress: Callable[[int], None] | None = None) -> list[Chunk]:
    """Export ``sql`` (whose columns must include ``columns``). DuckDB and PostgreSQL write the CSV
    themselves (``connector.engine_csv``); other engines stream rows through ``Warehouse.stream``."""
    columns = _checked_columns(columns, base_name, max_zipped_bytes)
    if not supports_engine_csv(warehouse.ops):
        stream = warehouse.stream(ordered_sql(sql, columns, warehouse.quote), batch_size=batch_size)

        def rows() -> Iterator[tuple]:
            for cols, batch in stream:
                if [c.lower() for c in cols] != [c.lower() for c in columns]:
                    raise ExportError(f"query returned columns {cols}, expected {list(columns)}")
                yield from batch

        return export_rows(rows(), columns, out_dir, base_name, max_zipped_bytes=max_zipped_bytes,
                           max_rows_per_chunk=max_rows_per_chunk, on_progress=on_progress)
    try:
        return _export_engine(warehouse, sql, columns, Path(out_dir), base_name, max_zipped_bytes=max_zipped_bytes,
                              max_rows_per_chunk=max_rows_per_chunk, on_progress=on_progress)
    except WarehouseError as exc:
        if not warehouse.ops.is_out_of_memory(exc):
            raise
        logger.warning("export of %s ran out of DuckDB's export memory limit (%s); again without it",
                       base_name, DUCKDB_MEMORY_LIMIT)
        return _export_engine(warehouse, sql, columns, Path(out_dir), base_name, max_zipped_bytes=max_zipped_bytes,
                              max_rows_per_chunk=max_rows_per_chunk, on_progress=on_progress, memory_limit=None)


def _export_engine(warehouse, sql: str, columns: list[str], out_dir: Path, base_name: str, *, max_zipped_bytes: int,
                   max_rows_per_chunk: int, on_progress, memory_limit: str | None = DUCKDB_MEMORY_LIMIT) -> list[Chunk]:
    key_idx = columns.index(ROW_KEY)
    with tempfile.TemporaryDirectory(prefix=f".{base_name}-", dir=_mkdir(out_dir)) as work, \
            engine_csv(warehouse, rows_sql(sql, columns, ROW_KEY, warehouse.ops), Path(work),
                       memory_limit=memory_limit) as (blocks, add_cr):

        def pieces() -> Iterator[RowBlock]:
            last = None
            for block in frame_rows(blocks, add_cr=add_cr, min_bytes=_piece_bytes(max_zipped_bytes)):
                if last is None:
                    _check_key(block, 0, key_idx, base_name)  # '' sorts first
                last = block
                yield block
            if last is not None:
                _check_key(last, last.rows - 1, key_idx, base_name)  # NULL sorts last

        return _write_chunks(pieces(), columns, out_dir, base_name, max_zipped_bytes=max_zipped_bytes,
                             max_rows_per_chunk=max_rows_per_chunk, on_progress=on_progress)


def export_rows(rows: Iterable[Sequence], columns: Sequence[str], out_dir: Path, base_name: str, *,
                max_zipped_bytes: int, max_rows_per_chunk: int,
                on_progress: Callable[[int], None] | None = None) -> list[Chunk]:
    """Export rows held in Python (engines without a bulk CSV path), formatted by Python's csv module."""
    columns = _checked_columns(columns, base_name, max_zipped_bytes)
    key_idx = columns.index(ROW_KEY)
    target = _piece_bytes(max_zipped_bytes)

    def pieces() -> Iterator[RowBlock]:
        text, n = io.StringIO(), 0
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        for row in rows:
            key = row[key_idx]
            if key is None or key == "":
                raise ExportError(f"{base_name}: a row has no {ROW_KEY}")
            writer.writerow(["" if v is None else v for v in row])
            n += 1
            if n % 256 == 0 and text.tell() >= target:
                yield _block(text)
                text.seek(0)
                text.truncate()
                n = 0
        if n:
            yield _block(text)

    return _write_chunks(pieces(), columns, _mkdir(Path(out_dir)), base_name, max_zipped_bytes=max_zipped_bytes,
                         max_rows_per_chunk=max_rows_per_chunk, on_progress=on_progress)


# -- shared ------------------------------------------------------------------------------------------

def _check_key(block: RowBlock, i: int, key_idx: int, base_name: str) -> None:
    """Refuse row ``i`` of ``block`` if its key field is empty (NULL or '')."""
    start = int(block.ends[i - 1]) if i else 0
    row = next(csv.reader(io.StringIO(block.data[start:int(block.ends[i])].decode("utf-8"), newline="")))
    if key_idx >= len(row) or row[key_idx] == "":
        raise ExportError(f"{base_name}: a row has no {ROW_KEY}")


def _checked_columns(columns: Sequence[str], base_name: str, max_zipped_bytes: int) -> list[str]:
    columns = list(columns)
    if len(columns) > VAN_MAX_COLUMNS:
        raise ExportError(f"{base_name}: {len(columns)} columns; VAN accepts at most {VAN_MAX_COLUMNS}")
    if len({c.lower() for c in columns}) != len(columns):
        raise ExportError(f"{base_name}: duplicate column names {columns}")
    if ROW_KEY not in columns:
        raise ExportError(f"{base_name}: the file must carry {ROW_KEY}")
    if not 0 < max_zipped_bytes <= VAN_MAX_ZIPPED_BYTES:
        raise ExportError(f"max_zipped_bytes must be between 1 and {VAN_MAX_ZIPPED_BYTES}")
    return columns


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _piece_bytes(max_zipped_bytes: int) -> int:
    """CSV bytes per compressed piece: big enough for deflate and threads, small next to the chunk cap
    (a piece that does not fit is split, and recompressed, by halves)."""
    return max(16 * 1024, min(PIECE_BYTES, max_zipped_bytes // 2))


def _block(text: io.StringIO) -> RowBlock:
    [block] = frame_rows([text.getvalue().encode("utf-8")], add_cr=False, min_bytes=0)
    return block


def _split(block: RowBlock, n: int) -> tuple[RowBlock, RowBlock]:
    """The first ``n`` rows and the rest."""
    cut = int(block.ends[n - 1])
    return RowBlock(block.data[:cut], block.ends[:n]), RowBlock(block.data[cut:], block.ends[n:] - cut)


class _OpenChunk:
    def __init__(self, no: int, out_dir: Path, base_name: str, header: bytes):
        self.no = no
        self.stem = f"{base_name}-{no:04d}"
        self.zip = ZipEntryWriter(out_dir / f"{self.stem}.zip", f"{self.stem}.csv")
        self.csv_path = out_dir / f"{self.stem}.csv"
        self.csv = open(self.csv_path, "wb")
        self.sha = hashlib.sha256()
        self.rows = 0
        self.add(header, deflate_piece(header), 0)

    def add(self, data: bytes, deflated: bytes, rows: int) -> None:
        self.sha.update(data)
        self.zip.add(data, deflated)
        self.csv.write(data)
        self.rows += rows

    def abort(self) -> None:
        self.zip.abort()
        self.csv.close()


def _write_chunks(pieces: Iterator[RowBlock], columns: list[str], out_dir: Path, base_name: str, *,
                  max_zipped_bytes: int, max_rows_per_chunk: int,
                  on_progress: Callable[[int], None] | None) -> list[Chunk]:
    """Deflate pieces on a thread pool (a bounded window, in order) and pack them into chunks: a piece that
    would pass the row cap, the zipped cap or ``MAX_CSV_BYTES`` is split by rows and the rest starts the
    next chunk. Each chunk's sha256 is of its CSV bytes."""
    head = io.StringIO()
    csv.writer(head, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(columns)
    header = head.getvalue().encode("utf-8")
    chunks: list[Chunk] = []
    current: list[_OpenChunk] = []
    total = 0

    def close() -> None:
        c = current.pop()
        size = c.zip.close()
        c.csv.close()
        chunks.append(Chunk(c.no, c.zip.path, f"{c.stem}.csv", columns, c.rows, c.zip.uncompressed, size,
                            c.sha.hexdigest(), c.csv_path))

    def place(block: RowBlock, deflated: bytes | None) -> None:
        while True:  # the row cap, iteratively: a piece may hold many chunks' worth of rows
            if not current:
                current.append(_OpenChunk(len(chunks) + 1, out_dir, base_name, header))
            room = max_rows_per_chunk - current[0].rows
            if block.rows <= room:
                return fit(block, deflated)
            first, block = _split(block, room)
            fit(first, None)
            deflated = None

    def fit(block: RowBlock, deflated: bytes | None) -> None:
        """Add a piece within the row cap; by halves if it passes the size caps (depth ~log2 of its rows)."""
        if not current:
            current.append(_OpenChunk(len(chunks) + 1, out_dir, base_name, header))
        c = current[0]
        deflated = deflated if deflated is not None else deflate_piece(block.data)
        if c.zip.size_with(len(deflated)) > max_zipped_bytes or c.zip.uncompressed + len(block.data) > MAX_CSV_BYTES:
            if block.rows > 1:
                for part in _split(block, block.rows // 2):
                    fit(part, None)
                return
            if c.rows == 0:
                raise ExportError(f"{c.stem}: one row does not fit in {max_zipped_bytes} zipped bytes; "
                                  "raise max_zipped_bytes")
            close()
            return fit(block, deflated)
        c.add(block.data, deflated, block.rows)
        if c.rows >= max_rows_per_chunk:
            close()

    window: collections.deque = collections.deque()
    workers = max(1, min(4, os.cpu_count() or 1))
    pool = ThreadPoolExecutor(workers, thread_name_prefix="vanbulk-deflate")
    try:
        def place_oldest() -> None:  # pieces are placed in order, whichever deflate finishes first
            nonlocal total
            b, fut = window.popleft()
            place(b, fut.result())
            total += b.rows
            if on_progress:
                on_progress(total)

        for block in pieces:
            window.append((block, pool.submit(deflate_piece, block.data)))
            while len(window) > 2 * workers:
                place_oldest()
        while window:
            place_oldest()
        if current:
            close()
    except BaseException:
        for c in current:
            c.abort()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    logger.info("exported %d rows of %s into %d chunk(s)", total, base_name, len(chunks))
    return chunks
