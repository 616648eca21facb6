"""Result files in VAN's layout, split by size, and VAN's .NET timestamp format."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Sequence

FIXED_COLUMNS = ["BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType"]


def dotnet_timestamp(epoch: float, offset_minutes: int) -> str:
    """``2020-09-04T22:07:04.0770295-04:00``: seven fractional digits and a UTC offset, as VAN writes."""
    tz = timezone(timedelta(minutes=offset_minutes))
    dt = datetime.fromtimestamp(epoch, tz)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    ticks = int(round((epoch % 1) * 10_000_000)) % 10_000_000  # .NET ticks are 100 ns
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ticks:07d}{sign}{hours:02d}:{minutes:02d}"


def _line(values: Sequence[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue().encode("utf-8")


def write_result_files(directory: Path, job_id: int, header: Sequence[str], rows: Iterable[Sequence[str]],
                       limit_bytes: int) -> list[Path]:
    """Write CSV parts of at most ``limit_bytes`` each (every part repeats the header; one row always fits).

    A job with no result rows still gets one file holding the header, so a client can tell "no rows
    validated" from "no results yet".
    """
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")

    def _line(values: Sequence[str]) -> bytes:  # one writer for every row (a new one per row cost 2x)
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue().encode("utf-8")

    head = _line(header)
    paths: list[Path] = []
    out = None
    size = 0

    def start() -> None:
        nonlocal out, size
        if out is not None:
            out.close()
        path = directory / f"{job_id}_{len(paths) + 1}.csv"
        paths.append(path)
        out = path.open("wb")
        out.write(head)
        size = len(head)

    try:
        rows = iter(rows)
        while batch := list(itertools.islice(rows, 512)):
            if out is not None:  # a whole batch that fits is written at once (the same bytes as row by row)
                buf.seek(0)
                buf.truncate()
                writer.writerows(batch)
                data = buf.getvalue().encode("utf-8")
                if size + len(data) <= limit_bytes:
                    out.write(data)
                    size += len(data)
                    continue
            for row in batch:
                line = _line(row)
                if out is None or (size + len(line) > limit_bytes and size > len(head)):
                    start()
                out.write(line)
                size += len(line)
        if out is None:
            path = directory / f"{job_id}_1.csv"
            path.write_bytes(head)
            paths.append(path)
    finally:
        if out is not None:
            out.close()
    return paths
