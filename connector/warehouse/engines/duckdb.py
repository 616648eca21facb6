"""DuckDB: a local file, read and written by the engine itself (``read_csv``, ``COPY ... TO``), one writer per
file held by an OS lock beside it."""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.errors import ConfigError
from connector.warehouse.engines.base import Engine, LockHeld

__all__ = ["DuckDBEngine"]

_BLOCK = 1 << 20
# The longest CSV line read back (an export's keys, VAN's result files): far above any VAN row. DuckDB's reader
# takes one buffer of 16x this by default, counted against memory_limit whether used or not: at 100 MB that was a
# 1.4 GiB block, and a run under a memory limit failed on its first read.
_MAX_LINE = 16 << 20
# While exporting: one thread (the other cores deflate; measured faster than two on 2 cores) and a small memory
# limit, so the ORDER BY spills to disk instead of growing with the row count (bench/bench_export.py: peak RSS
# at 100k vs 5M rows). Restored after the COPY.
_EXPORT_SETTINGS = {"enable_progress_bar": "false", "threads": "1", "memory_limit": None}


def _lit(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class DuckDBEngine(Engine):
    name = "duckdb"

    def replace_table_as_sql(self, relation: str, select: str) -> list[str]:
        return [f"create or replace table {relation} as {select}"]

    def drop_tables_sql(self, relations: Sequence[str]) -> list[str]:
        # DROP names one table; DuckDB runs a semicolon-separated batch as one call
        return ["; ".join(f"drop table if exists {r}" for r in relations)] if relations else []

    dbt_type = "duckdb"
    url_schemes = ("duckdb",)
    url_example = "duckdb:///path/to/file.duckdb (three slashes; four for an absolute path: duckdb:////abs/x.duckdb)"
    enforces_unique_keys = True
    writer_lock = "file"
    bulk_load = "read_csv"
    export_stream = "copy"
    reports_rows_written = True
    update_from_counts_matches = True
    # DuckDB's in_clause optimizer turns each constant IN list (a rule's allowed values: 91 of them in the
    # Contributions pass) into a join against a materialized list; for the rule pass that made one statement 0.4 s
    # on a 10-row view and 1.5 s at 1.1M rows, 0.05 s and 0.17 s without it (same rows). An optimizer only:
    # answers do not change (golden tests on every engine).
    rule_pass_settings = ("set disabled_optimizers = 'in_clause'",)
    rule_pass_reset = ("reset disabled_optimizers",)
    update_returning = True
    text_type = "varchar"

    def file_path(self, url: sa.URL) -> str | None:
        db = url.database
        return None if db in (None, "", ":memory:") else str(Path(db).resolve())

    def url_schema(self, url: sa.URL) -> str | None:
        return "main"

    def concat_skipping_nulls(self, parts: Sequence[str]) -> str:
        return f"concat({', '.join(parts)})"  # concat() skips NULL arguments: the cheapest form

    def content_fingerprint_sql(self, relation: str, columns: Sequence[str], group_by: str | None = None
                                ) -> str | None:
        # hash() of several values combines each one's hash (NULL has its own): 0.04 s over 1M rows
        cols = ", ".join(f"v.{self.quote(c)}" for c in columns)
        key, tail = self._fingerprint_grouping(group_by)
        return (f"select {key}count(*), cast(sum(cast(hash({cols}) as hugeint)) as varchar), "
                f"cast(sum(cast(hash({cols}, 'vanbulk') as hugeint)) as varchar) from {relation} v{tail}")

    # -- bulk paths ---------------------------------------------------------------------------------
    def csv_relation(self, conn: Connection, path: Path, ncols: int, name: str) -> str:
        cols = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(ncols))
        return (f"read_csv({_lit(path)}, header = true, auto_detect = false, columns = {{{cols}}}, delim = ',', "
                f"quote = '\"', escape = '\"', allow_quoted_nulls = false, max_line_size = {_MAX_LINE}, buffer_size = {2 * _MAX_LINE})")

    def copy_into(self, conn: Connection, relation: str, columns: Sequence[str], path: Path) -> None:
        collist = ", ".join(self.quote(c) for c in columns)
        conn.execute(sa.text(
            f"insert into {relation} ({collist}) select * from read_csv({_lit(path)}, header=true, "
            f"all_varchar=true, allow_quoted_nulls=false, quote='\"', escape='\"', delim=',')"))

    @contextmanager
    def copy_out(self, warehouse: Any, rows_query: str, workdir: Path, *, memory_limit: str | None
                 ) -> Iterator[tuple[Iterator[bytes], bool]]:
        """``COPY (query) TO <fifo> (FORCE_QUOTE *, new_line CRLF)`` on a worker thread; the exporter reads the
        named pipe while DuckDB writes it, so compression overlaps the engine's formatting and nothing is staged
        on disk (a temporary file where named pipes do not exist)."""
        pipe = Path(workdir) / "rows.csv"
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
                    wanted = {k: v for k, v in {**_EXPORT_SETTINGS, "memory_limit": memory_limit}.items() if v}
                    changed = _export_settings(c, wanted)
                    try:
                        with c.begin():
                            c.execute(sa.text(f"copy ({rows_query}) to {_lit(pipe)} "
                                              "(format csv, header false, force_quote *, new_line '\r\n')"))
                    finally:  # instance-wide settings: give other connections theirs back
                        _set_all(c, changed)
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

            yield blocks(), False
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

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return "out of memory" in str(exc).lower()

    # -- the one-writer lock --------------------------------------------------------------------------
    def try_lock(self, warehouse: Any, *, key: int, holder: Mapping[str, Any]) -> tuple[LockHeld | None, dict | None]:
        """An OS lock on ``<file>.vanbulk-lock`` (released by the OS when the process dies: a killed run leaves no
        stale lock); who holds it is written beside it, since the DuckDB file cannot be read while its writer has
        it open. An in-memory database has one process: no lock."""
        path = warehouse.duckdb_path
        if not path:
            return LockHeld(lambda: None), None
        from filelock import FileLock, Timeout

        lock = FileLock(path + ".vanbulk-lock", timeout=0)
        info_path = Path(path + ".vanbulk-lock.json")
        try:
            lock.acquire()
        except Timeout:
            try:
                return None, json.loads(info_path.read_text())
            except (OSError, ValueError):
                return None, None  # the holder has not written who it is yet
        info_path.write_text(json.dumps(dict(holder)))

        def release() -> None:
            info_path.unlink(missing_ok=True)
            lock.release()

        return LockHeld(release), None

    # -- dbt ----------------------------------------------------------------------------------------
    def url_from_profile(self, out: Mapping[str, Any], dbt_dir: Path, where: str) -> tuple[str, str]:
        path = str(out.get("path") or "")
        if not path or path == ":memory:" or path.startswith(("md:", "motherduck:")) or "://" in path:
            raise ConfigError(f"{where}: vanbulk needs a DuckDB file as `path` (got {path or 'none'!r})")
        p = Path(path).expanduser()
        return f"duckdb:///{p if p.is_absolute() else (Path(dbt_dir) / p).resolve()}", str(out.get("schema") or "main")

    def dbt_env(self, url: str, project_dir: Path, schema_hint: str | None) -> dict[str, str]:
        path = url.split(":///", 1)[1] if ":///" in url else ""
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
            raise ConfigError("dbt needs a DuckDB file: set warehouse_url to duckdb:///path/to/file.duckdb")
        p = Path(path)
        return {"VANBULK_DUCKDB_PATH": str(p if p.is_absolute() else Path(project_dir) / p)}

    def location(self, url: str, base: Path | None) -> str:
        p = Path(url.split(":///", 1)[1].split("?", 1)[0])
        return str((base / p if base is not None and not p.is_absolute() else p).resolve())


def _set_all(c: Connection, values: Mapping[str, str]) -> None:
    """Every ``set`` in one statement (DuckDB runs a semicolon-separated batch), committed."""
    if values:
        c.execute(sa.text("; ".join(f"set {k} = {v}" for k, v in values.items()).replace(":", "\\:")))
    c.commit()


def _export_settings(c: Connection, wanted: Mapping[str, str]) -> dict[str, str]:
    """Apply ``wanted`` (SQL literals) with one read of the current values and one ``set`` batch, only for the
    settings that differ; returns what restores those (two statements per export, not one per setting)."""
    names = list(wanted)
    current = c.execute(sa.text("select " + ", ".join(f"current_setting('{k}')" for k in names))).one()
    changed = {k: v for k, v, now in zip(names, wanted.values(), current)
               if str(now).lower() != str(v).strip("'").lower()}
    _set_all(c, {k: wanted[k] for k in changed})
    return {k: _lit(str(now)) for k, now in zip(names, current) if k in changed}


def _release_reader(pipe: Path, reader_done: threading.Event) -> None:
    while not reader_done.is_set():
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader in open() yet
            reader_done.wait(0.01)
            continue
        os.close(fd)
        return
