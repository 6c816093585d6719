"""Write the merged tape, and describe how two books differ (helpers of :mod:`.merge`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..errors import BadArgument
from ..model import BOOK_TYPE_NAMES
from ..schema import BOOK_SCHEMA, MERGED_SCHEMA
from ..tape.layout import MANIFEST, partition_dir, utc_date
from ..tape.manifest import read_manifest
from ..tape.part_writer import PartWriter
from .states import States

I64 = npt.NDArray[np.int64]

#: Level rows per merged part (parts split on snapshot boundaries).
ROWS_PER_PART = 1 << 24
#: Columns a merged row copies from the observation it carries.
_TAKEN = frozenset({"level", "type", "price", "volume", "volume_dbl"})


def _ranges(starts: I64, counts: I64) -> I64:
    """Concatenated ``arange(s, s + n)`` for each start/count pair, vectorised."""
    total = int(counts.sum())
    offs = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return offs + np.arange(total, dtype=np.int64)


def merged_table(tables: list[pa.Table], states: list[States], rep_c: I64, rep_i: I64,
                 mask: npt.NDArray[np.uint64], seq0: int = 0,
                 blind: I64 | None = None) -> pa.Table:
    """Level rows of each merged state, from the collector whose observation it carries.

    ``states`` are the collectors' states with the offsets already applied; the
    merged ``seq`` is ``seq0``, ``seq0 + 1``... in the order given. ``blind`` is each merged
    state's union bound (:mod:`.merge_bound`; -1 or None: unknown, stored null).
    """
    base = np.cumsum([0] + [t.num_rows for t in tables[:-1]])
    # Only the columns the merged rows take from the collectors' rows (the rest are
    # rebuilt per state below): the take was a tenth of a merge's time (issue 12).
    plain = pa.schema([f for f in BOOK_SCHEMA.remove_metadata() if f.name in _TAKEN])
    big = pa.concat_tables([t.select(plain.names).cast(plain) for t in tables])
    start = np.empty(len(rep_c), np.int64)
    n = np.empty(len(rep_c), np.int64)
    t_before = np.empty(len(rep_c), np.int64)
    t_after = np.empty(len(rep_c), np.int64)
    src_seq = np.empty(len(rep_c), np.uint64)
    for k, s in enumerate(states):
        sel = rep_c == k
        i = rep_i[sel]
        start[sel] = base[k] + s.row_start[i]
        n[sel] = s.n_rows[i]
        t_before[sel] = s.t_before[i]
        t_after[sel] = s.t_after[i]
        src_seq[sel] = s.seq[i]
    t = big.take(pa.array(_ranges(start, n)))

    def rep(a: npt.NDArray[np.generic], typ: pa.DataType) -> pa.Array:
        return pa.array(np.repeat(a, n), typ)

    b = np.full(len(rep_c), -1, np.int64) if blind is None else blind
    cols = {
        "blind_ns": pa.array(np.repeat(b, n), pa.int64(), mask=np.repeat(b < 0, n)),
        "seq": rep(np.arange(seq0, seq0 + len(rep_c), dtype=np.uint64), pa.uint64()),
        "t_before_ns": rep(t_before, pa.int64()),
        "t_after_ns": rep(t_after, pa.int64()),
        "unchanged": pa.array(np.zeros(t.num_rows, np.uint32), pa.uint32()),
        "seen_by": rep(mask, pa.uint64()),
        "first_by": rep(rep_c.astype(np.uint8), pa.uint8()),
        "src_seq": rep(src_seq, pa.uint64()),
    }
    arrays = [cols[f.name] if f.name in cols else t.column(f.name) for f in MERGED_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=MERGED_SCHEMA)


class MergedWriter:
    """The merged tape's parts, written as the rounds commit states (never held whole).

    Parts never span two UTC dates and hold at most :data:`ROWS_PER_PART` rows
    (cut on snapshot boundaries). If the merge fails or is interrupted, every part
    it wrote is removed again (:meth:`abort`): no half-merged tape is left behind.
    """

    def __init__(self, out: Path, symbol: str, name: str, collectors: tuple[str, ...],
                 applied: list[int], tolerance_ns: int, now_ns: int,
                 span_ns: tuple[int, int]) -> None:
        self.out, self.symbol, self.name, self.now_ns = out, symbol, name, now_ns
        self.meta = {"source": "merge", "merge_collectors": ",".join(collectors),
                     "merge_offsets_ns": json.dumps(dict(zip(collectors, applied))),
                     "merge_tolerance_ns": str(tolerance_ns), "session": f"merge-{now_ns}"}
        self.parts: list[str] = []
        self.rows = 0
        self._part: PartWriter | None = None
        self._date = ""
        self._created: list[Path] = []
        day = 86_400_000_000_000
        for d in range(span_ns[0] // day - 1, span_ns[1] // day + 2):  # refuse before working
            self._check(partition_dir(out, symbol, utc_date(d * day), name))

    @staticmethod
    def _check(d: Path) -> None:
        if read_manifest(d) or (d.is_dir() and any(d.glob("*part-*"))):
            raise BadArgument(f"{d} already holds a tape; remove it or give another --out/--name")

    def _open(self, date: str) -> None:
        d = partition_dir(self.out, self.symbol, date, self.name)
        if date != self._date:
            self._check(d)
            self._number = 1
        if not d.is_dir():
            d.mkdir(parents=True)
            self._created.append(d)
        m = dict(self.meta, symbol=self.symbol, date=date, collector=self.name)
        self._part = PartWriter(d, self._number, MERGED_SCHEMA, m)
        self._date = date
        self._number += 1

    def _close_part(self) -> None:
        if self._part is not None:
            e = self._part.close(self.now_ns)
            if e is not None:
                self.parts.append(str(self._part.final))
            self._part = None

    def write(self, t: pa.Table) -> None:
        """Append merged rows (seq continuing from the last ones written)."""
        seq = t.column("seq").to_numpy()
        starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
        bounds = np.r_[starts, t.num_rows]
        day_ns = 86_400_000_000_000
        day = t.column("t_before_ns").to_numpy()[starts] // day_ns
        # Runs of snapshots on one UTC date; within each, cut where a part is full.
        cuts = np.r_[0, np.flatnonzero(np.diff(day)) + 1, len(starts)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            date = utc_date(int(day[a]) * day_ns)
            lo = int(bounds[a])
            while lo < int(bounds[b]):
                if self._part is None or self._date != date:
                    self._close_part()
                    self._open(date)
                assert self._part is not None
                room = ROWS_PER_PART - self._part.rows
                k = int(np.searchsorted(bounds, lo + room, "right")) - 1  # whole snapshots
                hi = min(max(int(bounds[k]), lo), int(bounds[b]))
                if hi == lo:
                    if self._part.rows == 0:  # one snapshot larger than a part: alone
                        hi = int(bounds[np.searchsorted(bounds, lo, "right")])
                    else:
                        self._close_part()
                        continue
                self._part.write(t.slice(lo, hi - lo))
                self.rows += hi - lo
                lo = hi

    def close(self) -> tuple[list[str], int]:
        """Seal the last part; returns the parts written and their level rows."""
        self._close_part()
        return self.parts, self.rows

    def abort(self) -> None:
        """Remove everything this merge wrote (the unsealed part, sealed parts, manifests)."""
        if self._part is not None:
            self._part.abort()
            self._part = None
        for p in self.parts:
            Path(p).unlink(missing_ok=True)
        for d in {Path(p).parent for p in self.parts} | set(self._created):
            (d / MANIFEST).unlink(missing_ok=True)
        for d in reversed(self._created):
            try:
                d.rmdir()
                for up in (d.parent, d.parent.parent):  # date=, symbol= if now empty
                    up.rmdir()
            except OSError:
                pass
        self.parts = []


def describe_difference(name_a: str, ta: pa.Table, sa: States, i: int,
                        name_b: str, tb: pa.Table, sb: States, j: int) -> str:
    """One line on how snapshot ``i`` of ``a`` and ``j`` of ``b`` differ, level by level."""
    def levels(t: pa.Table, s: States, k: int) -> list[tuple[int, float, int]]:
        part = t.slice(int(s.row_start[k]), int(s.n_rows[k]))
        return list(zip(part.column("type").to_pylist(), part.column("price").to_pylist(),
                        part.column("volume").to_pylist()))

    la, lb = levels(ta, sa, i), levels(tb, sb, j)
    diff = [k for k, (x, y) in enumerate(zip(la, lb)) if x != y]
    parts = []
    if len(la) != len(lb):
        parts.append(f"{name_a} has {len(la)} levels, {name_b} {len(lb)}")
    if diff:
        k = diff[0]
        (ty_a, p_a, v_a), (ty_b, p_b, v_b) = la[k], lb[k]
        side = BOOK_TYPE_NAMES.get(ty_a, str(ty_a))
        parts.append(f"{len(diff)} level(s) differ, first level {k}: {name_a} {side} {p_a:,.2f}"
                     f" x {v_a} vs {name_b} {BOOK_TYPE_NAMES.get(ty_b, str(ty_b))} "
                     f"{p_b:,.2f} x {v_b}")
    return "; ".join(parts) or "books differ"
