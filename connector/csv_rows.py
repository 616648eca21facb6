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

_QUOTE, _LF, _CR = 34, 10, 13


@dataclass
class RowBlock:
    data: bytes  # whole CRLF-terminated rows
    ends: np.ndarray  # end offset (exclusive) of every row in ``data``; ends[-1] == len(data)

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


def frame_rows(blocks: Iterable[bytes], *, add_cr: bool, min_bytes: int = 1 << 20) -> Iterator[RowBlock]:
    """Re-cut ``blocks`` into ``RowBlock``s of whole rows, at least ``min_bytes`` each but the last."""
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
        out, carry = _cut(buf, add_cr)
        if out is not None:
            yield out
    buf = carry + b"".join(pending)
    if buf:
        out, rest = _cut(buf, add_cr)
        if rest:
            raise ValueError("the CSV stream ends inside a row (an unbalanced quote or no final newline)")
        if out is not None:
            yield out


def _cut(buf: bytes, add_cr: bool) -> tuple[RowBlock | None, bytes]:
    arr = np.frombuffer(buf, dtype=np.uint8)
    lf = _row_ends(arr)
    if not len(lf):
        return None, buf
    cut = int(lf[-1]) + 1
    if add_cr:
        data = np.insert(arr[:cut], lf, _CR).tobytes()
        ends = lf + np.arange(2, len(lf) + 2)
    else:
        data = buf[:cut]
        ends = lf + 1
    return RowBlock(data, ends), buf[cut:]
