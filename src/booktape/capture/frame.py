"""The packed form of snapshots between the poller and the writer.

A chunk is ``<IIII`` (snapshot count, level count, header slots, 0), then one
40-byte header slot per snapshot (a writer that packs in place reserves more
slots than it fills) (``<HHIQqqq``: symbol index, level count, unchanged polls, seq,
t_before_ns, t_after_ns, blind_ns), then every level as 4 float64 (type, price, volume,
volume_dbl). Headers and levels sit in two contiguous regions, so
:func:`decode` views them with ``np.frombuffer`` and never loops per snapshot.

Packing one 40-level book is a single ``struct.pack_into`` (~4 us), the
cheapest conversion CPython offers for MT5's tuple of tuples
(``np.array(book)`` costs ~13 us); it is hand-written because no library packs
such tuples faster. The bytes are opaque to pipes, queues and rings.
"""

from __future__ import annotations

import struct
from itertools import chain

import numpy as np
import pyarrow as pa

from ..model import Book
from ..schema import BOOK_SCHEMA

PREFIX = struct.Struct("<IIII")  # 16 bytes keeps headers and levels 8-aligned
HEADER = struct.Struct("<HHIQqqq")
HEADER_SIZE = HEADER.size  # 40
LEVEL_SIZE = 32  # 4 float64
HEADER_DTYPE = np.dtype([("sym", "<u2"), ("n", "<u2"), ("unchanged", "<u4"), ("seq", "<u8"),
                         ("t_before", "<i8"), ("t_after", "<i8"), ("blind", "<i8")])

_structs: dict[int, struct.Struct] = {}


def levels_struct(n: int) -> struct.Struct:
    s = _structs.get(n)
    if s is None:
        s = _structs[n] = struct.Struct(f"<{4 * n}d")
    return s


class ChunkBuilder:
    """Accumulates packed snapshots in two reusable buffers (headers, levels)."""

    def __init__(self, capacity: int = 1 << 20) -> None:
        self._hdr = bytearray(max(capacity // 32, 64) * HEADER_SIZE)
        self._lvl = bytearray(max(capacity, 64 * LEVEL_SIZE))
        self._ho = 0
        self._lo = 0
        self.snapshots = 0

    def add(self, sym: int, seq: int, t_before: int, t_after: int, unchanged: int,
            blind: int, book: Book) -> None:
        n = len(book)
        ho, lo = self._ho, self._lo
        if ho + HEADER_SIZE > len(self._hdr):
            self._hdr.extend(bytes(len(self._hdr)))
        if lo + LEVEL_SIZE * n > len(self._lvl):
            self._lvl.extend(bytes(max(len(self._lvl), LEVEL_SIZE * n)))
        HEADER.pack_into(self._hdr, ho, sym, n, unchanged, seq, t_before, t_after, blind)
        if n:
            levels_struct(n).pack_into(self._lvl, lo, *chain.from_iterable(book))
        self._ho = ho + HEADER_SIZE
        self._lo = lo + LEVEL_SIZE * n
        self.snapshots += 1

    @property
    def nbytes(self) -> int:
        return PREFIX.size + self._ho + self._lo

    def take(self) -> bytes:
        """The packed chunk so far (a copy), and reset; ``b""`` when empty."""
        if not self.snapshots:
            return b""
        out = b"".join((PREFIX.pack(self.snapshots, self._lo // LEVEL_SIZE, self.snapshots, 0),
                        memoryview(self._hdr)[: self._ho], memoryview(self._lvl)[: self._lo]))
        self._ho = self._lo = 0
        self.snapshots = 0
        return out


def headers(buf: bytes | memoryview) -> np.ndarray:
    """The per-snapshot headers of a chunk as a numpy structured array."""
    n_snap = PREFIX.unpack_from(buf, 0)[0]
    return np.frombuffer(buf, dtype=HEADER_DTYPE, count=n_snap, offset=PREFIX.size)


def decode(buf: bytes | memoryview) -> dict[int, pa.RecordBatch]:
    """A chunk → one Arrow record batch per symbol index, rows in input order.

    An empty book (MT5 returns ``()`` when nobody quotes) is a state too: it is
    stored as one row with ``level = -1``, ``type = 0`` and NaN price, so its
    ``seq`` is not lost from the long format.
    """
    if len(buf) <= PREFIX.size:
        return {}
    n_snap, n_lv, slots, _ = PREFIX.unpack_from(buf, 0)
    if n_snap == 0:
        return {}
    h = np.frombuffer(buf, dtype=HEADER_DTYPE, count=n_snap, offset=PREFIX.size)
    lv = np.frombuffer(buf, dtype="<f8", count=4 * n_lv,
                       offset=PREFIX.size + HEADER_SIZE * slots).reshape(n_lv, 4)
    n = h["n"].astype(np.int64)
    rows = np.maximum(n, 1)
    snap_idx = np.repeat(np.arange(n_snap), rows)
    level = np.arange(int(rows.sum())) - np.repeat(np.cumsum(rows) - rows, rows)
    if n_lv != len(level):  # some empty books: place real levels around marker rows
        real = level < n[snap_idx]
        full = np.full((len(level), 4), np.nan)
        full[real] = lv
        full[~real, 0] = 0
        full[~real, 2] = 0
        lv = full
        level = np.where(real, level, -1)
    sym = h["sym"]
    single = bool((sym == sym[0]).all())
    out: dict[int, pa.RecordBatch] = {}
    cols = {k: np.repeat(h[k], rows) for k in ("seq", "t_before", "t_after", "unchanged", "blind")}
    for s in ([int(sym[0])] if single else np.unique(sym).tolist()):
        if single:
            hs, lvs, lev = cols, lv, level
        else:
            m = sym[snap_idx] == s
            hs, lvs, lev = {k: v[m] for k, v in cols.items()}, lv[m], level[m]
        out[int(s)] = pa.RecordBatch.from_arrays(
            [
                pa.array(hs["seq"]),
                pa.array(hs["t_before"]),
                pa.array(hs["t_after"]),
                pa.array(hs["unchanged"]),
                pa.array(hs["blind"]),
                pa.array(lev.astype(np.int16)),
                pa.array(lvs[:, 0].astype(np.int8)),
                pa.array(np.ascontiguousarray(lvs[:, 1])),
                pa.array(lvs[:, 2].astype(np.int64)),
                pa.array(np.ascontiguousarray(lvs[:, 3])),
            ],
            schema=BOOK_SCHEMA,
        )
    return out
