"""The warehouse writes the export's CSV itself (its bulk path), streamed to the exporter as bytes.

* DuckDB: ``COPY (query) TO <fifo> (FORCE_QUOTE *, new_line CRLF)`` on a worker thread; the exporter reads
  the named pipe while DuckDB writes it, so compression overlaps the engine's formatting and nothing is
  staged on disk (a temporary file where named pipes do not exist).
* PostgreSQL: ``COPY (query) TO STDOUT (FORMAT csv, FORCE_QUOTE *)`` through psycopg (LF rows: the
  exporter adds the CR).

One query: the (possibly costly) source query runs once, and the rows the ledger records for a job are read
back from the very CSV it was given (``Ledger.load_keys``).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import sqlalchemy as sa

__all__ = ["engine_csv", "rows_sql", "supports_engine_csv"]

_BLOCK = 1 << 20
# DuckDB while exporting: one thread (the other cores deflate; measured faster than two on 2 cores) and a
# small memory limit, so the ORDER BY spills to disk instead of growing with the row count
# (bench/bench_export.py: peak RSS at 100k vs 5M rows). Restored after the COPY.
DUCKDB_MEMORY_LIMIT = "'128MB'"
_DUCKDB_SETTINGS = {"enable_progress_bar": "false", "threads": "1", "memory_limit": None}
def supports_engine_csv(dialect: str) -> bool:
    return dialect in ("duckdb", "postgresql")


def rows_sql(sql: str, columns: Sequence[str], key: str, quote: Callable[[str], str], dialect: str) -> str:
    """Exactly ``columns`` in order as text with NULL as '' (so every field is quoted, as Python's csv module
    writes them: byte-equal files, hence equal hashes, across versions), sorted by row key with NULL keys last
    (the exporter refuses an empty key in the first or last row)."""
    text = "varchar" if dialect == "duckdb" else "text"
    cols = ", ".join(f"coalesce(cast(q.{quote(c)} as {text}), '') as {quote(c)}" for c in columns)
    return f"select {cols} from ({sql}) as q order by q.{quote(key)} nulls last"


@contextmanager
def engine_csv(warehouse, rows_query: str, workdir: Path, *,
               memory_limit: str | None = DUCKDB_MEMORY_LIMIT) -> Iterator[tuple[Iterator[bytes], bool]]:
    """``(blocks of CSV rows without a header, whether rows end in LF only)``. ``memory_limit``: DuckDB's for
    the sort while exporting (None: the instance's own)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if warehouse.dialect == "duckdb":
        with _duckdb(warehouse, rows_query, workdir, memory_limit) as blocks:
            yield blocks, False
    else:
        with _postgres(warehouse, rows_query) as blocks:
            yield blocks, True


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@contextmanager
def _duckdb(warehouse, rows_query: str, workdir: Path, memory_limit: str | None):
    pipe = workdir / "rows.csv"
    use_fifo = hasattr(os, "mkfifo")
    pipe.unlink(missing_ok=True)
    if use_fifo:
        os.mkfifo(pipe)
    failure: list[BaseException] = []
    raw: list = []
    reader_done = threading.Event()

    def produce() -> None:
        try:
            with warehouse.connect() as c:
                raw.append(c.connection.dbapi_connection)
                wanted = {**_DUCKDB_SETTINGS, "memory_limit": memory_limit}
                saved = {k: c.execute(sa.text(f"select current_setting('{k}')")).scalar() for k in wanted}
                try:
                    for k, v in wanted.items():
                        if v:
                            c.execute(sa.text(f"set {k} = {v}"))
                    c.commit()
                    with c.begin():
                        c.execute(sa.text(f"copy ({rows_query}) to {_lit(pipe)} "
                                          "(format csv, header false, force_quote *, new_line '\r\n')"))
                finally:  # instance-wide settings: give other connections theirs back
                    for k, v in saved.items():
                        c.execute(sa.text(f"set {k} = '{v}'"))
                    c.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            failure.append(exc)
            if use_fifo:  # if DuckDB never opened the pipe, the reader waits in open(): let it see EOF
                _release_reader(pipe, reader_done)

    worker = threading.Thread(target=produce, name="vanbulk-export-copy", daemon=True)
    worker.start()
    if not use_fifo:
        worker.join()
        if failure:
            pipe.unlink(missing_ok=True)
            raise failure[0]
    fh = None
    try:
        fh = open(pipe, "rb")

        def blocks() -> Iterator[bytes]:
            while block := fh.read(_BLOCK):
                yield block
            worker.join()
            if failure:
                raise failure[0]

        yield blocks()
    finally:
        reader_done.set()
        if fh is not None:
            fh.close()  # a writer still going gets EPIPE and stops
        if worker.is_alive() and raw:
            try:
                raw[0].interrupt()
            except Exception:  # noqa: BLE001 - best effort while unwinding
                pass
        worker.join(timeout=30)
        pipe.unlink(missing_ok=True)


def _release_reader(pipe: Path, reader_done: threading.Event) -> None:
    while not reader_done.is_set():
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader in open() yet
            reader_done.wait(0.01)
            continue
        os.close(fd)
        return


@contextmanager
def _postgres(warehouse, rows_query: str):
    with warehouse.connect() as conn:
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:

            def blocks() -> Iterator[bytes]:
                with cur.copy(f"copy ({rows_query}) to stdout (format csv, header false, force_quote *)") as cp:
                    parts: list[bytes] = []
                    size = 0
                    for data in cp:  # one row per message: joined into ~1 MB blocks
                        parts.append(bytes(data))
                        size += len(data)
                        if size >= _BLOCK:
                            yield b"".join(parts)
                            parts, size = [], 0
                    if parts:
                        yield b"".join(parts)

            yield blocks()
