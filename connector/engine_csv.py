"""The warehouse writes the export's CSV itself (its bulk path), streamed to the exporter as bytes.

How each engine does it is its own (``Engine.copy_out``: DuckDB ``COPY ... TO`` a named pipe, PostgreSQL
``COPY ... TO STDOUT``); this module holds what they share: the one query that casts every column to text and
orders the rows, so the files are byte-equal across engines.

One query: the (possibly costly) source query runs once, and the rows the ledger records for a job are read
back from the very CSV it was given (``Ledger.load_keys``).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["DUCKDB_MEMORY_LIMIT", "engine_csv", "rows_sql", "supports_engine_csv"]

# DuckDB's memory limit for the export's sort (bench/bench_export.py: peak RSS at 100k vs 5M rows).
DUCKDB_MEMORY_LIMIT = "'128MB'"


def supports_engine_csv(ops) -> bool:
    return ops.export_stream == "copy"


def rows_sql(sql: str, columns: Sequence[str], key: str, ops) -> str:
    """Exactly ``columns`` in order as text with NULL as '' (so every field is quoted, as Python's csv module
    writes them: byte-equal files, hence equal hashes, across versions), sorted by row key with NULL keys last
    (the exporter refuses an empty key in the first or last row)."""
    q = ops.quote
    cols = ", ".join(f"coalesce(cast(q.{q(c)} as {ops.text_type}), '') as {q(c)}" for c in columns)
    return f"select {cols} from ({sql}) as q order by q.{q(key)} nulls last"


@contextmanager
def engine_csv(warehouse, rows_query: str, workdir: Path, *,
               memory_limit: str | None = DUCKDB_MEMORY_LIMIT) -> Iterator[tuple[Iterator[bytes], bool]]:
    """``(blocks of CSV rows without a header, whether rows end in LF only)``. ``memory_limit``: DuckDB's for
    the sort while exporting (None: the instance's own)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with warehouse.ops.copy_out(warehouse, rows_query, workdir, memory_limit=memory_limit) as out:
        yield out
