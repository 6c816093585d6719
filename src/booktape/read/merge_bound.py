"""``blind_ns`` of a merged tape: what the union of collectors guarantees (issue 13).

A state the union missed was missed by every collector, so it lasted less
than each collector's own bound there; the union's bound is the smallest of
them. Exactly, for merged state ``i`` (states in ``t_mid`` order, each with the
stamps of the observation it carries): a missed state between merged states
``i-1`` and ``i`` lived inside ``(t_before[i-1], t_after[i]]``. For a collector
``c`` the pair of its polls around that state is covered by one of its stored
states ``k`` from the first with ``t_after > t_before[i-1]`` through the first
with ``t_before >= t_after[i]``; ``c``'s bound there is the largest ``blind_ns``
among them. ``c`` covers the interval only if that last state exists and none
of them starts a session (``blind_ns`` 0: no poll of ``c`` before it) or lacks
``blind_ns``. The merged state's ``blind_ns`` is the smallest bound of the
collectors that cover it; null (unknown) when none does. The first merged
state's is 0, as a session's first state's is. Clock offsets applied by
``merge`` are applied to every collector's stamps first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .guarantee import BLIND_FACTOR, BLIND_MIN_NS, BlindSpot, Guarantee, guarantee, threshold_ns

I64 = npt.NDArray[np.int64]
UNKNOWN = -1


@dataclass
class UnionBound:
    """The bound of each collector and of their union, and where no collector covered."""

    per_collector: dict[str, Guarantee]
    union: Guarantee
    uncovered: list[BlindSpot] = field(default_factory=list)  # intervals no collector polled


def collector_bound(m_tb: I64, m_ta: I64, tb: I64, ta: I64, blind: I64) -> I64:
    """One collector's bound over each merged interval (``UNKNOWN`` where it did not cover).

    ``tb``, ``ta``, ``blind``: the collector's stored states in time order
    (``blind`` -1 where unknown).
    """
    n = m_tb.size
    out = np.full(n, UNKNOWN, np.int64)
    if n < 2 or not blind.size:
        return out
    lo = np.searchsorted(ta, m_tb[:-1], "right")  # first with t_after > t_before[i-1]
    hi = np.maximum(np.searchsorted(tb, m_ta[1:], "left"), lo)  # first with t_before >= t_after[i]
    ok = hi < blind.size
    # Only the collector's states from the first range's start to the last one's end are
    # read: `merge` asks round by round, and copying the whole day's column each time
    # made a full day quadratic (issue 12: ~250 rounds x 3 copies of 80 MB a collector).
    a = min(int(lo.min()), blind.size - 1)
    b = min(int(hi.max()) + 1, blind.size)
    sub = blind[a:b]
    # A session's first state (0) or a state without the column (-1) breaks coverage:
    # mark them so the range max shows it (vectorised range max via reduceat).
    bad = (sub <= 0).astype(np.int64)
    ext = np.append(sub, 0)
    extb = np.append(bad, 0)
    idx = np.ravel(np.column_stack([np.minimum(lo, blind.size - 1) - a,
                                    np.minimum(hi + 1, blind.size) - a]))
    rmax = np.maximum.reduceat(ext, idx)[::2]
    rbad = np.maximum.reduceat(extb, idx)[::2]
    good = ok & (rbad == 0)
    out[1:][good] = rmax[good]
    return out


def union_blind(m_tb: I64, m_ta: I64, collectors: list[tuple[I64, I64, I64]]) -> I64:
    """The merged states' ``blind_ns`` (``UNKNOWN`` where no collector covered)."""
    n = m_tb.size
    best = np.full(n, np.iinfo(np.int64).max, np.int64)
    for tb, ta, blind in collectors:
        b = collector_bound(m_tb, m_ta, tb, ta, blind)
        best = np.where(b >= 0, np.minimum(best, b), best)
    out = np.where(best == np.iinfo(np.int64).max, UNKNOWN, best)
    if n:
        out[0] = 0
    return out


def collector_guarantees(names: list[str], collectors: list[tuple[I64, I64, I64]],
                         blind_min_ns: int = BLIND_MIN_NS, factor: float = BLIND_FACTOR
                         ) -> dict[str, Guarantee]:
    """Each collector's own guarantee (its states in time order, offsets applied)."""
    return {name: guarantee(blind, tb, ta, threshold_ns(blind, blind_min_ns, factor), name)
            for name, (tb, ta, blind) in zip(names, collectors)}


def union_bound(per: dict[str, Guarantee], m_tb: I64, m_ta: I64, m_blind: I64,
                blind_min_ns: int = BLIND_MIN_NS, factor: float = BLIND_FACTOR) -> UnionBound:
    """The collectors' guarantees (:func:`collector_guarantees`), the union's (over the
    intervals some collector covered), and the intervals no collector covered.

    ``merge`` takes the collectors' guarantees before its second pass and the union's
    after it, so a full day's collector and merged arrays are never all held at once
    (issue 12).
    """
    known = m_blind >= 0
    if bool(known.all()):  # the usual case: no copies of the day's columns
        thr = threshold_ns(m_blind, blind_min_ns, factor)
        u = guarantee(m_blind, m_tb, m_ta, thr, "union")
    else:
        thr = threshold_ns(m_blind[known], blind_min_ns, factor)
        u = guarantee(m_blind[known], m_tb[known], m_ta[known], thr, "union")
    unc = np.flatnonzero(~known)
    return UnionBound(per, u, [BlindSpot(int(m_tb[i - 1]), int(m_ta[i]), UNKNOWN)
                               for i in unc[:200].tolist() if i > 0])
