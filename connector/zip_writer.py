"""A one-entry zip written from independently deflated pieces, so pieces can be compressed in parallel.

Each piece is a raw deflate stream ended with a sync flush (byte-aligned, not final, no shared history),
so pieces concatenate into one valid deflate stream in any grouping; ``close`` ends it with an empty final
block. The size of the finished zip is known exactly before a piece is added (``size_with``), which lets the
exporter fill a chunk up to VAN's zipped cap without a safety margin. The archive is a plain zip (no zip64,
no data descriptor): local header, deflated data, central directory, end record, as ``zipfile`` writes one.

Deflate is ISA-L's (python-isal; level 1 is about 13x faster than zlib's level 6 here for a file about
1.02x larger): ``bench/bench_export.py`` measures both.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from isal import isal_zlib

__all__ = ["DEFLATE_LEVEL", "ZipEntryWriter", "crc32", "deflate_piece"]

DEFLATE_LEVEL = 1  # ISA-L levels are 0-3; 1 is as small as zlib's 6 within a few percent on CSV
_FINAL_BLOCK = b"\x03\x00"  # an empty final fixed-Huffman block: ends the concatenated stream
_DOS_2020 = (0, (2020 - 1980) << 9 | 1 << 5 | 1)  # fixed timestamp: equal data gives byte-equal zips
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
crc32 = isal_zlib.crc32


def deflate_piece(data: bytes | memoryview, level: int = DEFLATE_LEVEL) -> bytes:
    """Raw deflate of one piece, ended byte-aligned and not final (releases the GIL while compressing)."""
    co = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)
    return co.compress(data) + co.flush(isal_zlib.Z_SYNC_FLUSH)


class ZipEntryWriter:
    """Writes ``path`` as a zip holding one deflated entry ``name`` built from ``add`` calls."""

    def __init__(self, path: Path, name: str):
        self.path = Path(path)
        self.name = name.encode("utf-8")
        self._flags = 0 if name.isascii() else 0x800  # UTF-8 name flag
        self._fh = open(self.path, "wb")
        self._fh.write(b"\0" * (_LOCAL.size + len(self.name)))  # rewritten by close() with crc and sizes
        self.compressed = 0
        self.uncompressed = 0
        self.crc = 0

    @property
    def tail_bytes(self) -> int:
        """What ``close`` still adds: the final block, the central directory and the end record."""
        return len(_FINAL_BLOCK) + _CENTRAL.size + len(self.name) + _END.size

    def size_with(self, compressed_bytes: int) -> int:
        """The zip's final size if a piece of ``compressed_bytes`` were added and the entry then closed."""
        return _LOCAL.size + len(self.name) + self.compressed + compressed_bytes + self.tail_bytes

    def add(self, data: bytes | memoryview, deflated: bytes) -> None:
        """Append one piece: its bytes (for the CRC and size) and ``deflate_piece(data)``."""
        self._fh.write(deflated)
        self.compressed += len(deflated)
        self.uncompressed += len(data)
        self.crc = crc32(data, self.crc)

    def close(self) -> int:
        """Finish the archive; returns its size in bytes."""
        fh = self._fh
        fh.write(_FINAL_BLOCK)
        csize = self.compressed + len(_FINAL_BLOCK)
        if csize > 0xFFFFFFFF or self.uncompressed > 0xFFFFFFFF:
            raise ValueError(f"{self.path.name}: entry too large for a plain zip")
        t, d = _DOS_2020
        cd_offset = fh.tell()
        fh.write(_CENTRAL.pack(b"PK\x01\x02", 3 << 8 | 20, 20, self._flags, zlib.DEFLATED, t, d, self.crc, csize,
                               self.uncompressed, len(self.name), 0, 0, 0, 0, 0o644 << 16, 0) + self.name)
        cd_size = fh.tell() - cd_offset
        fh.write(_END.pack(b"PK\x05\x06", 0, 0, 1, 1, cd_size, cd_offset, 0))
        size = fh.tell()
        fh.seek(0)
        fh.write(_LOCAL.pack(b"PK\x03\x04", 20, self._flags, zlib.DEFLATED, t, d, self.crc, csize,
                             self.uncompressed, len(self.name), 0) + self.name)
        fh.close()
        return size

    def abort(self) -> None:
        self._fh.close()
