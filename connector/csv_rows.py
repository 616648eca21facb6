"""Cut a stream of quoted CSV bytes into pieces of whole rows, with each row's end offset (vectorised).

The exporter's CSV quotes every field (``hasQuotes``), so a newline ends a row exactly when an even number
of quote characters comes before it in the row (escaped quotes come in pairs). Rows may hold CR and LF
inside their quotes. Input is either CRLF-terminated (DuckDB's ``new_line``, Python's csv) or
LF-terminated (PostgreSQL's ``COPY ... CSV``): LF terminators get the CR VAN's format asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

__all__ = ["RowBlock", "frame_rows"]

_QUOTE, _LF, _CR, _COMMA = 34, 10, 13, 44


@dataclass
class RowBlock:
    data: bytes  # whole CRLF-terminated rows
    ends: np.ndarray  # end offset (exclusive) of every row in ``data``; ends[-1] == len(data)
    keys: bytes | None = None  # with ``key_first``: each row's first field, unquoted, one per line

    @property
    def rows(self) -> int:
        return len(self.ends)


def _row_ends(arr: np.ndarray) -> np.ndarray:
    """Offsets of the LFs that end rows in ``arr`` (which starts at a row start)."""
    lf = np.flatnonzero(arr == _LF)
    if not len(lf):
        return lf
    quotes_before = np.searchsorted(np.flatnonzero(arr == _QUOTE), lf)
    return lf[(quotes_before & 1) == 0]


def frame_rows(blocks: Iterable[bytes], *, add_cr: bool, min_bytes: int = 1 << 20,
               key_first: bool = False) -> Iterator[RowBlock]:
    """Re-cut ``blocks`` into ``RowBlock``s of whole rows, at least ``min_bytes`` each but the last.
    ``key_first``: every row starts with an extra quoted field (the engine's JSON of the row key, one pass
    with the rows): it is cut off the rows into ``RowBlock.keys``, one line per row, quotes unescaped."""
    carry = b""
    pending: list[bytes] = []
    size = 0
    for block in blocks:
        if not block:
            continue
        pending.append(block)
        size += len(block)
        if size < min_bytes:
            continue
        buf = carry + b"".join(pending) if carry else b"".join(pending)
        pending, size = [], 0
        out, carry = _cut(buf, add_cr, key_first)
        if out is not None:
            yield out
    buf = carry + b"".join(pending)
    if buf:
        out, rest = _cut(buf, add_cr, key_first)
        if rest:
            raise ValueError("the CSV stream ends inside a row (an unbalanced quote or no final newline)")
        if out is not None:
            yield out


def _cut(buf: bytes, add_cr: bool, key_first: bool = False) -> tuple[RowBlock | None, bytes]:
    arr = np.frombuffer(buf, dtype=np.uint8)
    lf = _row_ends(arr)
    if not len(lf):
        return None, buf
    cut = int(lf[-1]) + 1
    rows, keys = arr[:cut], None
    if key_first:
        rows, lf, keys = _split_first_field(rows, lf)
    if add_cr:
        data = np.insert(rows, lf, _CR).tobytes()
        ends = lf + np.arange(2, len(lf) + 2)
    else:
        data = rows.tobytes() if key_first else buf[:cut]
        ends = lf + 1
    return RowBlock(data, ends, keys), buf[cut:]


def _split_first_field(arr: np.ndarray, lf: np.ndarray) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Rows without their first (quoted) field, their new LF offsets, and the fields' contents as lines."""
    starts = np.empty(len(lf), dtype=np.int64)
    starts[0] = 0
    starts[1:] = lf[:-1] + 1
    commas = np.flatnonzero(arr == _COMMA)
    outside = commas[(np.searchsorted(np.flatnonzero(arr == _QUOTE), commas) & 1) == 0]
    at = np.searchsorted(outside, starts)
    if (at >= len(outside)).any() or (outside[np.minimum(at, len(outside) - 1)] > lf).any():
        raise ValueError("a row has no field after its key")
    first = outside[at]  # the delimiter after each row's key field
    if (arr[starts] != _QUOTE).any() or (arr[first - 1] != _QUOTE).any():
        raise ValueError("the key field is not quoted")
    mark = np.zeros(len(arr) + 1, dtype=np.int8)
    mark[starts] += 1
    mark[first + 1] -= 1  # [start, delimiter] leaves the row
    in_key = np.cumsum(mark[:-1], dtype=np.int8).astype(bool)
    mark[:] = 0
    mark[starts + 1] += 1
    mark[first] -= 1  # inside the quotes, plus the closing quote (which becomes the line's LF)
    key_bytes = arr[np.cumsum(mark[:-1], dtype=np.int8).astype(bool)].copy()
    key_bytes[np.cumsum(first - starts - 1) - 1] = _LF
    rows = arr[~in_key]
    return rows, lf - np.cumsum(first + 1 - starts), key_bytes.tobytes().replace(b'""', b'"')
