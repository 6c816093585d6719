"""Find times when two collectors *confirmed* holding different books — possible corruption.

A collector stores a book when it changes, and counts the unchanged polls in
between (``unchanged`` on the next state). So it confirms holding state *i*
from its poll's ``t_after`` until its last poll that still returned *i*. That
last poll is not stamped; it is estimated from the ``unchanged`` count,
capped at that many typical poll periods so that a stall (no polls) is never
read as confirmation. Across a ``seq`` gap (lost states) nothing is confirmed.

Two collectors polling the same market can disagree only while one has not
polled since the book changed: such overlaps are bounded by poll periods and
durations (the tolerance). An overlap of two confirmed, *different* books
longer than that is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .states import States

I64 = npt.NDArray[np.int64]


def confirmed_intervals(s: States, ids: I64, period_ns: int) -> tuple[I64, I64]:
    """Per stored state, the ``[start, end]`` over which the collector confirmed holding it.

    Args:
        s: the collector's states (timestamps on the reference clock).
        ids: merged-state id of each state (equal ids = same book occurrence).
        period_ns: a typical poll period of this collector (caps the estimate).
    """
    start = s.t_after.astype(np.int64)
    end = start.copy()
    if len(s) > 1:
        contiguous = np.diff(s.seq.astype(np.int64)) == 1
        k = s.unchanged[1:].astype(np.int64)
        gap = np.maximum(s.t_before[1:] - s.t_after[:-1], 0)
        est = np.minimum(gap * k // (k + 1), k * max(period_ns, 0))
        same = ids[1:] == ids[:-1]
        ext = np.where(same, gap, est)
        end[:-1] = start[:-1] + np.where(contiguous, ext, 0)
    return start, end


@dataclass(frozen=True)
class Overlap:
    """Two collectors confirmed different books over ``[t_start_ns, t_end_ns]``."""

    a: int  # index of the state in collector a's States
    b: int
    t_start_ns: int
    t_end_ns: int


def conflicting_overlaps(sa: I64, ea: I64, ida: I64, sb: I64, eb: I64, idb: I64,
                         tolerance_ns: int) -> list[Overlap]:
    """Overlaps longer than ``tolerance_ns`` of confirmed intervals holding different ids.

    Both interval lists are sorted and disjoint (one collector holds one book at a
    time), so each interval meets a contiguous run of the other's: found with two
    binary searches per interval, no pairwise loop.
    """
    lo = np.searchsorted(eb, sa, side="left")
    hi = np.searchsorted(sb, ea, side="right")
    cnt = np.maximum(hi - lo, 0)
    if cnt.sum() == 0:
        return []
    ia = np.repeat(np.arange(len(sa)), cnt)
    jb = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
    o_start = np.maximum(sa[ia], sb[jb])
    o_end = np.minimum(ea[ia], eb[jb])
    bad = (ida[ia] != idb[jb]) & (o_end - o_start > tolerance_ns)
    return [Overlap(int(i), int(j), int(t0), int(t1)) for i, j, t0, t1 in
            zip(ia[bad], jb[bad], o_start[bad], o_end[bad])]


def episodes(overlaps: list[Overlap], tolerance_ns: int) -> list[list[Overlap]]:
    """Group overlaps that touch (within the tolerance) into one episode each."""
    out: list[list[Overlap]] = []
    end = 0
    for o in sorted(overlaps, key=lambda o: o.t_start_ns):
        if out and o.t_start_ns <= end + tolerance_ns:
            out[-1].append(o)
            end = max(end, o.t_end_ns)
        else:
            out.append([o])
            end = o.t_end_ns
    return out
