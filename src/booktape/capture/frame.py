"""The packed form of snapshots between the poller and the writer.

A chunk is a flat byte buffer of records ``header + 4*n float64``, where the
header is ``<HHIQqq``: symbol index, level count, unchanged polls, seq,
t_before_ns, t_after_ns. Packing one 40-level book is a single
``struct.pack_into`` (~4 us), the cheapest conversion CPython offers for a
tuple of tuples (``np.array(book)`` costs ~13 us); it is hand-written because
no library packs MT5's tuples faster. The same bytes travel through pipes,
queues and shared-memory rings, and :func:`decode` turns them into Arrow
record batches with numpy, off the hot path.
"""

from __future__ import annotations

import struct
from itertools import chain

import numpy as np
import pyarrow as pa

from ..model import Book
from ..schema import BOOK_SCHEMA

HEADER = struct.Struct("<HHIQqq")
HEADER_SIZE = HEADER.size  # 32
LEVEL_SIZE = 32  # 4 float64
MAX_LEVELS = 65535

_structs: dict[int, struct.Struct] = {}


def levels_struct(n: int) -> struct.Struct:
    s = _structs.get(n)
    if s is None:
        s = _structs[n] = struct.Struct(f"<{4 * n}d")
    return s


def record_size(n_levels: int) -> int:
    return HEADER_SIZE + LEVEL_SIZE * n_levels


def pack_into(buf: memoryview | bytearray, off: int, sym: int, seq: int, t_before: int,
              t_after: int, unchanged: int, book: Book) -> int:
    """Write one snapshot record at ``off``; return the offset after it."""
    n = len(book)
    HEADER.pack_into(buf, off, sym, n, unchanged, seq, t_before, t_after)
    off += HEADER_SIZE
    if n:
        levels_struct(n).pack_into(buf, off, *chain.from_iterable(book))
    return off + LEVEL_SIZE * n


class ChunkBuilder:
    """Accumulates packed snapshots in a reusable buffer."""

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.buf = bytearray(capacity)
        self.view = memoryview(self.buf)
        self.off = 0
        self.snapshots = 0

    def add(self, sym: int, seq: int, t_before: int, t_after: int, unchanged: int,
            book: Book) -> None:
        need = record_size(len(book))
        if self.off + need > len(self.buf):
            self._grow(self.off + need)
        self.off = pack_into(self.view, self.off, sym, seq, t_before, t_after, unchanged, book)
        self.snapshots += 1

    def _grow(self, need: int) -> None:
        size = len(self.buf)
        while size < need:
            size *= 2
        self.view.release()
        self.buf.extend(bytes(size - len(self.buf)))
        self.view = memoryview(self.buf)

    def take(self) -> bytes:
        """The packed bytes so far (a copy), and reset."""
        out = bytes(self.view[: self.off])
        self.off = 0
        self.snapshots = 0
        return out


def scan(buf: bytes | memoryview) -> list[tuple[int, int, int, int, int, int, int]]:
    """Headers of all records: (offset, sym, n, unchanged, seq, t_before, t_after)."""
    out = []
    off = 0
    end = len(buf)
    unpack = HEADER.unpack_from
    while off < end:
        sym, n, unch, seq, tb, ta = unpack(buf, off)
        out.append((off, sym, n, unch, seq, tb, ta))
        off += HEADER_SIZE + LEVEL_SIZE * n
    return out


def decode(buf: bytes | memoryview) -> dict[int, pa.RecordBatch]:
    """Packed records → one Arrow record batch per symbol index, in input order.

    An empty book (MT5 returns ``()`` when nobody quotes) is a state too: it is
    stored as one row with ``level = -1``, ``type = 0`` and NaN price, so its
    ``seq`` is not lost from the long format.
    """
    heads = scan(buf)
    if not heads:
        return {}
    h = np.array(heads, dtype=np.int64)
    off, sym, n = h[:, 0], h[:, 1], h[:, 2]
    rows = np.maximum(n, 1)
    total = int(rows.sum())
    snap_idx = np.repeat(np.arange(len(heads)), rows)
    first_row = np.cumsum(rows) - rows
    level = np.arange(total) - first_row[snap_idx]
    real = level < n[snap_idx]  # False only on an empty book's placeholder row
    # Level values are float64 words right after each header: gather them with
    # one fancy index over the buffer viewed as float64 words.
    words = np.frombuffer(buf, dtype=np.float64)
    base = ((off + HEADER_SIZE) // 8)[snap_idx] + 4 * level
    lv = np.full((total, 4), np.nan)
    idx = base[real]
    lv[real] = np.stack([words[idx], words[idx + 1], words[idx + 2], words[idx + 3]], axis=1)
    level = np.where(real, level, -1)
    lv[~real, 0] = 0
    lv[~real, 2] = 0
    out: dict[int, pa.RecordBatch] = {}
    row_sym = sym[snap_idx]
    for s in np.unique(sym).tolist():
        m = row_sym == s
        hs = h[snap_idx[m]]
        lvs = lv[m]
        out[int(s)] = pa.RecordBatch.from_arrays(
            [
                pa.array(hs[:, 4].astype(np.uint64)),
                pa.array(hs[:, 5]),
                pa.array(hs[:, 6]),
                pa.array(hs[:, 3].astype(np.uint32)),
                pa.array(level[m].astype(np.int16)),
                pa.array(lvs[:, 0].astype(np.int8)),
                pa.array(lvs[:, 1]),
                pa.array(lvs[:, 2].astype(np.int64)),
                pa.array(lvs[:, 3]),
            ],
            schema=BOOK_SCHEMA,
        )
    return out
