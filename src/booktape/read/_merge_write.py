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
from ..tape.layout import partition_dir, utc_date
from ..tape.manifest import read_manifest
from ..tape.seal import seal_table
from .states import States

I64 = npt.NDArray[np.int64]

#: Level rows per merged part (parts split on snapshot boundaries).
ROWS_PER_PART = 1 << 24


def _ranges(starts: I64, counts: I64) -> I64:
    """Concatenated ``arange(s, s + n)`` for each start/count pair, vectorised."""
    total = int(counts.sum())
    offs = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return offs + np.arange(total, dtype=np.int64)


def merged_table(tables: list[pa.Table], states: list[States], rep_c: I64, rep_i: I64,
                 mask: npt.NDArray[np.uint64], blind: I64 | None = None) -> pa.Table:
    """Level rows of each merged state, from the collector whose observation it carries.

    ``states`` are the collectors' states with the offsets already applied; the
    merged ``seq`` is 0, 1, 2... in the order given. ``blind`` is each merged
    state's union bound (:mod:`.merge_bound`; -1 or None: unknown, stored null).
    """
    base = np.cumsum([0] + [t.num_rows for t in tables[:-1]])
    plain = pa.schema([f for f in BOOK_SCHEMA.remove_metadata() if f.name != "blind_ns"])
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
        "seq": rep(np.arange(len(rep_c), dtype=np.uint64), pa.uint64()),
        "t_before_ns": rep(t_before, pa.int64()),
        "t_after_ns": rep(t_after, pa.int64()),
        "unchanged": pa.array(np.zeros(t.num_rows, np.uint32), pa.uint32()),
        "seen_by": rep(mask, pa.uint64()),
        "first_by": rep(rep_c.astype(np.uint8), pa.uint8()),
        "src_seq": rep(src_seq, pa.uint64()),
    }
    arrays = [cols[f.name] if f.name in cols else t.column(f.name) for f in MERGED_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=MERGED_SCHEMA)


def write_merged(out: Path, symbol: str, name: str, collectors: tuple[str, ...],
                 tables: list[pa.Table], states: list[States], rep_c: I64, rep_i: I64,
                 mask: npt.NDArray[np.uint64], applied: list[int], tolerance_ns: int,
                 now_ns: int, blind: I64 | None = None) -> tuple[list[str], int]:
    """Seal the merged states as parts of ``out/symbol=S/date=D/collector=NAME``.

    Returns:
        The parts written (paths) and the level rows in them.

    Raises:
        BadArgument: that partition already holds parts (merge into a fresh place).
    """
    t = merged_table(tables, states, rep_c, rep_i, mask, blind)
    seq = t.column("seq").to_numpy()
    tb = t.column("t_before_ns").to_numpy()
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    day_ns = 86_400_000_000_000
    day = tb[starts] // day_ns  # UTC day of each snapshot; parts never span two dates
    names = {int(x): utc_date(int(x) * day_ns) for x in np.unique(day)}
    dates = np.array([names[int(x)] for x in day]) if len(day) < 2 or day[0] != day[-1] \
        else np.full(len(day), names[int(day[0])])
    meta = {"source": "merge", "merge_collectors": ",".join(collectors),
            "merge_offsets_ns": json.dumps(dict(zip(collectors, applied))),
            "merge_tolerance_ns": str(tolerance_ns), "session": f"merge-{now_ns}"}
    written: list[str] = []
    bounds = np.r_[starts, t.num_rows]
    for date in dict.fromkeys(dates.tolist()):
        d = partition_dir(out, symbol, date, name)
        if read_manifest(d) or (d.is_dir() and any(d.glob("*part-*"))):
            raise BadArgument(f"{d} already holds a tape; remove it or give another --out/--name")
    for date in dict.fromkeys(dates.tolist()):
        d = partition_dir(out, symbol, date, name)
        d.mkdir(parents=True, exist_ok=True)
        snaps = np.flatnonzero(dates == date)
        lo_row, number = int(bounds[snaps[0]]), 1
        end_row = int(bounds[snaps[-1] + 1])
        while lo_row < end_row:
            # Cut at the first snapshot boundary at or past ROWS_PER_PART rows.
            k = int(np.searchsorted(bounds, lo_row + ROWS_PER_PART))
            hi_row = min(int(bounds[min(k, len(bounds) - 1)]), end_row)
            m = dict(meta, symbol=symbol, date=date, collector=name)
            e = seal_table(t.slice(lo_row, hi_row - lo_row), d, number, m, now_ns)
            if e is not None:
                written.append(str(d / e.part))
            lo_row, number = hi_row, number + 1
    return written, t.num_rows


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
