"""The warehouse writes the export's CSV itself (its bulk path), streamed to the exporter as bytes.

* DuckDB: ``COPY (query) TO <fifo> (FORCE_QUOTE *, new_line CRLF)`` on a worker thread; the exporter reads
  the named pipe while DuckDB writes it, so compression overlaps the engine's formatting and nothing is
  staged on disk (a temporary file where named pipes do not exist).
* PostgreSQL: ``COPY (query) TO STDOUT (FORMAT csv, FORCE_QUOTE *)`` through psycopg (LF rows: the
  exporter adds the CR).

Before the rows, the same transaction writes the row keys, one JSON string per line in row order, with
the engine's own ``to_json`` (a key holding CR, LF or quotes stays on one line): the ``.keys`` side files
are cut from it. One transaction (DuckDB's, or PostgreSQL's ``REPEATABLE READ`` snapshot) makes the keys
and the rows the same rows.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import sqlalchemy as sa

__all__ = ["KeyLines", "engine_csv", "supports_engine_csv"]

_BLOCK = 1 << 20
# DuckDB while exporting: one thread (the other cores deflate; measured faster than two on 2 cores) and a
# small memory limit, so the ORDER BY spills to disk instead of growing with the row count
# (bench/bench_export.py: peak RSS at 100k vs 5M rows). Restored after the COPY.
DUCKDB_MEMORY_LIMIT = "'128MB'"
_DUCKDB_SETTINGS = {"enable_progress_bar": "false", "threads": "1", "memory_limit": None}
# A JSON string never holds a raw control character: with these as quote and delimiter the engine's CSV
# writer leaves every JSON text as it is, one per line.
_KEYS_CSV = "format csv, header false, quote '\x01', escape '\x01', delimiter '\x02'"


def supports_engine_csv(dialect: str) -> bool:
    return dialect in ("duckdb", "postgresql")


def rows_sql(sql: str, columns: Sequence[str], key: str, quote: Callable[[str], str], dialect: str) -> str:
    """Exactly ``columns`` in order, as text with NULL as '' (so every field is quoted, as Python's csv
    module writes them: byte-equal files, hence equal hashes, across versions), sorted by row key."""
    text = "varchar" if dialect == "duckdb" else "text"
    cols = ", ".join(f"coalesce(cast(q.{quote(c)} as {text}), '') as {quote(c)}" for c in columns)
    return f"select {cols} from ({sql}) as q order by q.{quote(key)}"


def keys_sql(sql: str, key: str, quote: Callable[[str], str], dialect: str) -> str:
    """Every row's key as a JSON string (``null`` for NULL), in the same order as ``rows_sql``."""
    text = "varchar" if dialect == "duckdb" else "text"
    return (f"select coalesce(cast(to_json(cast(q.{quote(key)} as {text})) as {text}), 'null') "
            f"from ({sql}) as q order by q.{quote(key)}")


class KeyLines:
    """Reads the keys file in order, ``take(n)`` lines at a time (bytes, each line ending in LF)."""

    def __init__(self, path: Path):
        self._fh = open(path, "rb")
        self._buf = b""
        self._ends = np.empty(0, dtype=np.int64)  # LF offsets in _buf, from _pos on
        self._pos = 0  # first unread byte of _buf
        self._next = 0  # index into _ends of the next line end

    def take(self, n: int) -> bytes:
        while len(self._ends) - self._next < n:
            block = self._fh.read(max(_BLOCK, 64 * n))
            if not block:
                raise ValueError(f"the keys file has fewer lines than the rows exported ({n} more wanted)")
            self._buf = self._buf[self._pos:] + block
            self._pos = 0
            self._ends = np.flatnonzero(np.frombuffer(self._buf, dtype=np.uint8) == 10)
            self._next = 0
        end = int(self._ends[self._next + n - 1]) + 1 if n else self._pos
        out = self._buf[self._pos:end]
        self._pos, self._next = end, self._next + n
        return out

    def at_end(self) -> bool:
        return len(self._ends) == self._next and not self._buf[self._pos:] and not self._fh.read(1)

    def close(self) -> None:
        self._fh.close()


@contextmanager
def engine_csv(warehouse, rows_query: str, keys_query: str, workdir: Path, *,
               memory_limit: str | None = DUCKDB_MEMORY_LIMIT) -> Iterator[tuple[Iterator[bytes], Path, bool]]:
    """``(blocks of CSV rows without a header, path of the keys file, whether rows end in LF only)``.
    ``memory_limit``: DuckDB's for the sort while exporting (None: the instance's own)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keys_path = workdir / "keys.jsonl"
    try:
        if warehouse.dialect == "duckdb":
            with _duckdb(warehouse, rows_query, keys_query, workdir, keys_path, memory_limit) as blocks:
                yield blocks, keys_path, False
        else:
            with _postgres(warehouse, rows_query, keys_query, keys_path) as blocks:
                yield blocks, keys_path, True
    finally:
        keys_path.unlink(missing_ok=True)


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@contextmanager
def _duckdb(warehouse, rows_query: str, keys_query: str, workdir: Path, keys_path: Path, memory_limit: str | None):
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
                    with c.begin():  # one snapshot: the keys and the rows are the same rows
                        c.execute(sa.text(f"copy ({keys_query}) to {_lit(keys_path)} ({_KEYS_CSV})"))
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
def _postgres(warehouse, rows_query: str, keys_query: str, keys_path: Path):
    with warehouse.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            cur = conn.connection.dbapi_connection.cursor()
            try:
                with cur.copy(f"copy ({keys_query}) to stdout ({_KEYS_CSV})") as cp, open(keys_path, "wb") as out:
                    _drain(cp, out.write)

                def blocks() -> Iterator[bytes]:
                    with cur.copy(f"copy ({rows_query}) to stdout (format csv, header false, force_quote *)") as cp:
                        parts: list[bytes] = []
                        size = 0
                        for data in cp:
                            parts.append(bytes(data))
                            size += len(data)
                            if size >= _BLOCK:
                                yield b"".join(parts)
                                parts, size = [], 0
                        if parts:
                            yield b"".join(parts)

                yield blocks()
            finally:
                cur.close()


def _drain(cp, write: Callable[[bytes], object]) -> None:
    parts: list[bytes] = []
    size = 0
    for data in cp:
        parts.append(bytes(data))
        size += len(data)
        if size >= _BLOCK:
            write(b"".join(parts))
            parts, size = [], 0
    write(b"".join(parts))
