"""The hand-packed zip: pieces deflated apart, in any grouping, make one valid entry; the size is exact."""

from __future__ import annotations

import random
import subprocess
import zipfile
import zlib

import pytest

from connector.zip_writer import ZipEntryWriter, deflate_piece


@pytest.mark.parametrize("cuts", [[], [1], [5, 6, 7], [100, 5000, 70000]])
def test_pieces_make_one_valid_deflated_entry_of_exactly_the_announced_size(tmp_path, cuts):
    r = random.Random(len(cuts))
    data = ("".join(r.choice('ab,"\r\né😀') for _ in range(100_000))).encode("utf-8")
    bounds = [0, *cuts, len(data)]
    w = ZipEntryWriter(tmp_path / "x.zip", "x-0001.csv")
    for a, b in zip(bounds, bounds[1:]):
        deflated = deflate_piece(data[a:b])
        expected = w.size_with(len(deflated))
        w.add(data[a:b], deflated)
    assert w.close() == expected == (tmp_path / "x.zip").stat().st_size
    with zipfile.ZipFile(tmp_path / "x.zip") as z:
        assert z.namelist() == ["x-0001.csv"] and z.testzip() is None
        info = z.getinfo("x-0001.csv")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.date_time == (2020, 1, 1, 0, 0, 0)
        assert z.read("x-0001.csv") == data and info.CRC == zlib.crc32(data)
    if subprocess.run(["which", "unzip"], capture_output=True).returncode == 0:
        assert subprocess.run(["unzip", "-t", str(tmp_path / "x.zip")], capture_output=True).returncode == 0


def test_equal_data_gives_byte_equal_zips(tmp_path):
    for name in ("a", "b"):
        w = ZipEntryWriter(tmp_path / f"{name}.zip", "same.csv")
        w.add(b"x" * 1000, deflate_piece(b"x" * 1000))
        w.close()
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
