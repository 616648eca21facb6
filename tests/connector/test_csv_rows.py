"""Cutting a quoted CSV stream into whole rows: newlines inside quotes stay, LF rows get their CR, any block
boundaries give the same rows."""

from __future__ import annotations

import csv
import io
import random

import pytest

from connector.csv_rows import frame_rows

VALUES = [["k1", 'a "quoted", value'], ["line\nbreak", ""], ["cr\rinside", "x\r\ny"], ["é😀", '"'], ["", "\n"]]


def _csv(rows, terminator):
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator=terminator).writerows(rows)
    return buf.getvalue().encode("utf-8")


@pytest.mark.parametrize("terminator,add_cr", [("\r\n", False), ("\n", True)])
@pytest.mark.parametrize("seed", range(5))
def test_any_block_boundaries_give_the_same_whole_rows(terminator, add_cr, seed):
    rows = VALUES * 50
    data = _csv(rows, terminator)
    r = random.Random(seed)
    cuts = sorted(r.sample(range(1, len(data)), 40))
    blocks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    out = list(frame_rows(blocks, add_cr=add_cr, min_bytes=r.choice([1, 64, 4096])))
    joined = b"".join(b.data for b in out)
    assert joined == _csv(rows, "\r\n")  # CRLF rows, inner newlines untouched
    assert sum(b.rows for b in out) == len(rows)
    for b in out:  # every row end is where Python's csv module ends a row
        starts = [0, *b.ends[:-1]]
        parsed = [next(csv.reader(io.StringIO(b.data[s:e].decode("utf-8"), newline=""))) for s, e in zip(starts, b.ends)]
        assert all(len(p) == 2 for p in parsed)


def test_a_stream_ending_inside_a_row_is_refused():
    with pytest.raises(ValueError, match="ends inside a row"):
        list(frame_rows([b'"a","b\n'], add_cr=True))
