"""Align two collectors' state sequences by book content, and measure their clock offset.

Pure NumPy over per-snapshot arrays (hashes and ``t_mid`` times); no I/O.

* :func:`estimate_offset` pairs states whose hash occurs exactly once on each
  side (no clock needed), keeps the pairs that agree on order, and takes the
  median of their time differences: the clock offset, with its uncertainty.
* :func:`align` matches every state to the same-content state nearest in time
  on the other side (within a window, after the offset), one-to-one and in
  order on both sides — a sequence alignment tolerant of states missing on
  either side and of books that recur.
* :func:`union_order` interleaves the two sequences into one.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
BoolArr = npt.NDArray[np.bool_]

#: Fewest order-consistent unique matches ``estimate_offset`` trusts.
MIN_PAIRS = 5


def _lis(a: I64) -> I64:
    """Positions of a longest strictly increasing subsequence of ``a`` (patience sort)."""
    tails: list[int] = []
    tail_pos: list[int] = []
    prev = np.full(len(a), -1, dtype=np.int64)
    for k, x in enumerate(a.tolist()):
        p = bisect.bisect_left(tails, x)
        if p == len(tails):
            tails.append(x)
            tail_pos.append(k)
        else:
            tails[p] = x
            tail_pos[p] = k
        prev[k] = tail_pos[p - 1] if p else -1
    out = []
    k = tail_pos[-1] if tail_pos else -1
    while k >= 0:
        out.append(k)
        k = int(prev[k])
    return np.array(out[::-1], dtype=np.int64)


def monotone_mask(a: I64) -> BoolArr:
    """Keep a longest strictly increasing subsequence of ``a`` (pairs sorted by the
    other side's index). The sequence is cut wherever everything before is below
    everything after, and the (usually few, short) tangled pieces are solved alone."""
    n = len(a)
    keep = np.ones(n, dtype=bool)
    if n < 2 or bool(np.all(np.diff(a) > 0)):
        return keep
    pm = np.maximum.accumulate(a)
    sm = np.minimum.accumulate(a[::-1])[::-1]
    cut = np.flatnonzero(pm[:-1] < sm[1:]) + 1
    bounds = np.r_[0, cut, n]
    for lo, hi in itertools.pairwise(bounds):
        if hi - lo > 1 and not bool(np.all(np.diff(a[lo:hi]) > 0)):
            keep[lo:hi] = False
            keep[lo + _lis(a[lo:hi])] = True
    return keep


def _singletons(h: U64) -> tuple[U64, I64]:
    """Hashes occurring exactly once in ``h``, sorted, and where each one is.

    One sort, no counts table: a full day is 10 M states a side (issue 12), and
    ``np.unique(..., return_counts=True)`` plus ``np.intersect1d`` took ~0.8 GB more.
    """
    order = np.argsort(h, kind="stable")
    hs = h[order]
    single = np.ones(len(hs), dtype=bool)
    eq = hs[1:] == hs[:-1]
    single[1:] &= ~eq
    single[:-1] &= ~eq
    del eq
    return hs[single], order[single].astype(np.int64)


def unique_pairs(ha: U64, hb: U64) -> tuple[I64, I64]:
    """Index pairs of hashes occurring exactly once in ``ha`` and once in ``hb``,
    reduced to a chain in order on both sides; sorted by ``b``'s index."""
    sa, ia_all = _singletons(ha)
    sb, jb_all = _singletons(hb)
    if not len(sa) or not len(sb):
        e = np.zeros(0, np.int64)
        return e, e
    pos = np.minimum(np.searchsorted(sa, sb), len(sa) - 1)
    hit = sa[pos] == sb
    ia, jb = ia_all[pos[hit]], jb_all[hit]
    del sa, sb, ia_all, jb_all, pos, hit
    o = np.argsort(jb)
    ia, jb = ia[o], jb[o]
    m = monotone_mask(ia)
    return ia[m], jb[m]


@dataclass(frozen=True)
class OffsetEstimate:
    """Clock of collector ``collector`` minus clock of ``reference``, from matched states."""

    collector: str
    reference: str
    offset_ns: int  # median of t_mid differences of matched state transitions
    uncertainty_ns: int  # statistical (MAD standard error of the median) + poll-timing bound
    stderr_ns: int
    bound_ns: int  # half the poll-period and poll-duration differences (systematic)
    spread_ns: int  # 1.4826·MAD of the individual differences (per-transition jitter)
    jitter_ns: int  # 99th percentile of |difference - median|: how late honest collectors lag
    pairs: int
    applied_ns: int = 0  # what merge subtracted from the collector's timestamps


def estimate_offset(ha: U64, ta: I64, hb: U64, tb: I64, *, bound_ns: int = 0,
                    collector: str = "b", reference: str = "a") -> OffsetEstimate | None:
    """Median offset ``tb - ta`` over states unique on both sides, or None if too few.

    Args:
        ha, ta, hb, tb: hashes and ``t_mid`` of the two collectors' states, in seq order.
        bound_ns: systematic bound added to the statistical error (a collector that
            polls more slowly sees each change later on average, by half its period).
    """
    ia, jb = unique_pairs(ha, hb)
    if len(ia) < MIN_PAIRS:
        return None
    d = tb[jb].astype(np.int64) - ta[ia].astype(np.int64)
    med = float(np.median(d))
    mad = float(np.median(np.abs(d - med)))
    spread = 1.4826 * mad
    se = 1.2533 * spread / np.sqrt(len(d))
    jitter = float(np.percentile(np.abs(d - med), 99))
    return OffsetEstimate(collector, reference, round(med), int(np.ceil(se)) + bound_ns,
                          int(np.ceil(se)), bound_ns, round(spread), round(jitter), len(d))


@dataclass(frozen=True)
class Polls:
    """Both sides' poll stamps on one clock, and how far apart the two clocks may be."""

    a_before: I64
    a_after: I64
    b_before: I64
    b_after: I64
    margin_ns: int = 0


def _read_between(h: U64, before: I64, after: I64, i: I64, step: int, o_before: I64,
                  o_after: I64, margin: int) -> BoolArr:
    """Whether the side's neighbour ``i + step`` (another content) was read strictly between
    its state ``i`` and the other side's read (``o_before``, ``o_after``): then the two reads
    of one content saw two states of it (a book that came back, A B A), not one."""
    n = len(h)
    j = i + step
    ok = (j >= 0) & (j < n)
    jc, ic = np.clip(j, 0, n - 1), np.clip(i, 0, n - 1)
    if step > 0:  # the neighbour after: read after ours, finished before the other began
        order = (after[ic] <= before[jc]) & (after[jc] + margin < o_before)
    else:  # the neighbour before: began after the other's read had finished
        order = (after[jc] <= before[ic]) & (o_after + margin < before[jc])
    out: BoolArr = ok & order & (h[jc] != h[ic])
    return out


def _different_states(ha: U64, hb: U64, ia: I64, jb: I64, p: Polls) -> BoolArr:
    """Pairs ``(ia, jb)`` of one content that a read of another content, by either side,
    proves to be two states: polls do not overlap, so their reads are in that order."""
    m = p.margin_ns
    bb, ba = p.b_before[jb], p.b_after[jb]
    ab, aa = p.a_before[ia], p.a_after[ia]
    return (_read_between(ha, p.a_before, p.a_after, ia, 1, bb, ba, m)
            | _read_between(ha, p.a_before, p.a_after, ia, -1, bb, ba, m)
            | _read_between(hb, p.b_before, p.b_after, jb, 1, ab, aa, m)
            | _read_between(hb, p.b_before, p.b_after, jb, -1, ab, aa, m))


def _crossed(ta: I64, tb: I64, ia: I64, jb: I64) -> BoolArr:
    """Whether a neighbour of ``a[ia]`` or ``b[jb]`` has its ``t_mid`` between the two."""
    lo = np.minimum(ta[ia], tb[jb])
    hi = np.maximum(ta[ia], tb[jb])
    out = np.zeros(len(ia), dtype=bool)
    for t, i in ((ta, ia), (tb, jb)):
        n = len(t)
        out |= (i >= 1) & (t[np.maximum(i - 1, 0)] > lo)
        out |= (i + 1 < n) & (t[np.minimum(i + 1, n - 1)] < hi)
    return out


def align(ha: U64, ta: I64, hb: U64, tb: I64, window_ns: int,
          polls: Polls | None = None) -> tuple[I64, I64]:
    """Match states of ``b`` to same-content states of ``a`` nearest in time.

    ``tb`` must already be on ``a``'s clock. Each ``b`` state takes the closest
    ``a`` occurrence of its hash within ``window_ns``; an ``a`` state claimed twice
    keeps the closer claim; crossing matches are dropped (longest in-order chain).
    With ``polls``, a pair is not matched when either side read another book
    between the two reads (issue 13: a book that came back, A B A', read as A by
    one collector and as A' by the other, was folded into one state, so the merged
    tape lost A' — a state a collector had stored — and its ``blind_ns`` took the
    bound of the collector that had read A' as if it had missed it).

    Returns:
        ``(ia, jb)``: matched index pairs, increasing in both.
    """
    na, nb = len(ha), len(hb)
    if na == 0 or nb == 0:
        e = np.zeros(0, np.int64)
        return e, e
    _, inv = np.unique(np.r_[ha, hb], return_inverse=True)
    t = np.r_[ta, tb].astype(np.int64)
    rank = np.empty(na + nb, dtype=np.int64)
    rank[np.argsort(t, kind="stable")] = np.arange(na + nb)
    ida, idb = inv[:na].astype(np.int64), inv[na:].astype(np.int64)
    # One sortable key per (content, time): content id in the high bits, time rank low.
    key_a = (ida << 32) | rank[:na]
    key_b = (idb << 32) | rank[na:]
    order = np.argsort(key_a, kind="stable")
    ks = key_a[order]
    pos = np.searchsorted(ks, key_b)
    best = np.full(nb, -1, dtype=np.int64)
    best_dt = np.full(nb, np.iinfo(np.int64).max, dtype=np.int64)
    best_far = np.ones(nb, dtype=bool)
    jall = np.arange(nb, dtype=np.int64)
    for c in (pos - 1, pos):
        cc = np.clip(c, 0, na - 1)
        ia = order[cc]
        dt = np.abs(ta[ia].astype(np.int64) - tb.astype(np.int64))
        ok = (c >= 0) & (c < na) & (ida[ia] == idb) & (dt <= window_ns)
        # With poll stamps, of the two nearest occurrences the one with no other state
        # of either side read between is taken first (a book that came back, A B A:
        # nearest in t_mid alone took A' for A when the polls were slow).
        far = _crossed(ta, tb, ia, jall) if polls is not None else np.zeros(nb, dtype=bool)
        better = ok & ((best < 0) | (~far & best_far) | ((far == best_far) & (dt < best_dt)))
        best[better] = ia[better]
        best_dt[better] = dt[better]
        best_far[better] = far[better]
    jb = np.flatnonzero(best >= 0).astype(np.int64)
    if not len(jb):  # no state in common (issue 14: this was an IndexError below)
        e = np.zeros(0, np.int64)
        return e, e
    ia = best[jb]
    if polls is not None:
        two = _different_states(ha, hb, ia, jb, polls)
        ia, jb = ia[~two], jb[~two]
    # One-to-one: an `a` state claimed by several `b` states keeps the closest claim.
    o = np.lexsort((best_dt[jb], ia))
    first = np.ones(len(o), dtype=bool)  # empty when nothing matched within the window
    first[1:] = ia[o][1:] != ia[o][:-1]
    keep = np.sort(o[first])
    ia, jb = ia[keep], jb[keep]
    m = monotone_mask(ia)
    return ia[m], jb[m]


def union_order(na: int, nb: int, ia: I64, jb: I64, ta: I64, tb: I64) -> tuple[I64, I64]:
    """Interleave two aligned sequences: matched pairs once, unmatched states of
    either side between the matches around them, by time.

    Returns:
        ``(src_a, src_b)``: for each union item, its index in ``a`` and in ``b`` (-1 if absent).
    """
    ma = np.zeros(na, dtype=bool)
    ma[ia] = True
    mb = np.zeros(nb, dtype=bool)
    mb[jb] = True
    ua, ub = np.flatnonzero(~ma), np.flatnonzero(~mb)
    # Segment 2p+1 is the p-th match; unmatched items after c matches go in segment 2c.
    seg = np.r_[2 * np.arange(len(ia)) + 1, 2 * np.searchsorted(ia, ua),
                2 * np.searchsorted(jb, ub)]
    t = np.r_[ta[ia], ta[ua], tb[ub]]
    src_a = np.r_[ia, ua, np.full(len(ub), -1)]
    src_b = np.r_[jb, np.full(len(ua), -1), ub]
    o = np.lexsort((t, seg))
    return src_a[o].astype(np.int64), src_b[o].astype(np.int64)
