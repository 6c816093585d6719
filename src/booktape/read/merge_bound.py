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
``blind_ns``. A collector's bound is a promise about the states *it missed*; the merged tape
must also not have lost a state the collector *read*. Its stored reads are all
merged states (:func:`.align.align` keeps a book that came back apart), but its
unchanged polls are not written: if, while a collector's polls kept reading
its book ``X`` unchanged, another collector's state sits between merged states
``i-1`` and ``i``, a return of ``X`` (``X Y X'``) that only those unchanged
polls read is in no merged state, and it lived as long as it liked. So ``c``
also does not cover interval ``i`` when one of its states ``k`` was followed by
unchanged polls (``unchanged`` of ``k+1`` > 0) in a span ``(t_after[k],
t_before[k+1])`` that meets ``(t_before[i-1], t_after[i])``, unless ``k`` or the
next state ``c`` stored holds the book of merged state ``i-1`` (``c`` read that
state after those polls, so a return they read came before it; only a book
that came back twice, ``X Y X Y``, with the reads interleaved just so, would
still slip through) (issue 13: a fast collector's 100 µs bound
was claimed over a 470 µs state it had read unchanged while the other
collector's state was the merged one; a check of states the merged tape lacks,
not of states every collector missed, is what a user of the merged tape
relies on). The merged state's ``blind_ns`` is the smallest bound of the
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
U64 = npt.NDArray[np.uint64]
BoolArr = npt.NDArray[np.bool_]
UNKNOWN = -1


@dataclass
class UnionBound:
    """The bound of each collector and of their union, and where no collector covered."""

    per_collector: dict[str, Guarantee]
    union: Guarantee
    uncovered: list[BlindSpot] = field(default_factory=list)  # intervals no collector polled


@dataclass(frozen=True)
class CollectorStates:
    """One collector's stored states in time order, as :func:`collector_bound` needs them."""

    tb: I64
    ta: I64
    blind: I64  # -1 where unknown
    hash: U64 | None = None  # book content (:func:`.states.snapshot_states`)
    reread: BoolArr | None = None  # unchanged polls followed the state (the last: True)


def _rereads_another_book(m_tb: I64, m_ta: I64, m_hash: U64, c: CollectorStates) -> BoolArr:
    """Per merged interval ``i >= 1``: whether ``c`` may have read, by an unchanged poll
    inside it, a book other than merged state ``i-1``'s (see the module doc)."""
    assert c.hash is not None and c.reread is not None
    h = c.hash
    n = c.tb.size
    # States whose unchanged span (t_after[k], t_before[k+1]) meets the interval:
    # from the one in force at t_before[i-1] to the last read before t_after[i].
    ka = np.maximum(np.searchsorted(c.tb, m_tb[:-1], "right") - 1, 0)
    kb = np.searchsorted(c.ta, m_ta[1:], "left") - 1
    flagged = np.flatnonzero(c.reread)
    if not flagged.size:
        return np.zeros(ka.size, bool)
    cum = np.r_[0, np.cumsum(c.reread, dtype=np.int64)]
    cnt = np.where(kb >= ka, cum[np.clip(kb + 1, 0, n)] - cum[ka], 0)
    prev = m_hash[:-1]

    def harmless(j: I64) -> BoolArr:
        # Its book is merged state i-1's (a return of it is no loss: the tape shows that
        # book), or the next book it stored is: its unchanged reads came before it read
        # merged state i-1's book itself.
        k = flagged[np.minimum(j, flagged.size - 1)]
        nxt = np.minimum(k + 1, n - 1)
        out: BoolArr = (h[k] == prev) | ((k + 1 < n) & (h[nxt] == prev))
        return out

    j0 = np.searchsorted(flagged, ka)
    # Three or more such states: one of them holds a third book.
    out: BoolArr = (cnt >= 3) | ((cnt >= 1) & ~harmless(j0)) | ((cnt >= 2) & ~harmless(j0 + 1))
    return out


def collector_bound(m_tb: I64, m_ta: I64, tb: I64 | CollectorStates, ta: I64 | None = None,
                    blind: I64 | None = None, m_hash: U64 | None = None) -> I64:
    """One collector's bound over each merged interval (``UNKNOWN`` where it did not cover).

    ``tb``, ``ta``, ``blind``: the collector's stored states in time order
    (``blind`` -1 where unknown), or one :class:`CollectorStates`; with its ``hash``
    and ``reread`` and the merged states' ``m_hash``, intervals where its unchanged
    polls may have read a book the merged tape lacks are not covered.
    """
    c = tb if isinstance(tb, CollectorStates) else CollectorStates(tb, ta, blind)  # type: ignore[arg-type]
    tb, ta, blind = c.tb, c.ta, c.blind
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
    if m_hash is not None and c.hash is not None and c.reread is not None:
        good &= ~_rereads_another_book(m_tb, m_ta, m_hash, c)
    out[1:][good] = rmax[good]
    return out


def _near(c: CollectorStates, m_tb: I64, m_ta: I64) -> CollectorStates:
    """``c``'s states that can take part in the bound of merged states ``m_tb``/``m_ta``.

    A round's merged states span seconds of a day-long collector; :func:`collector_bound`
    makes whole-array temporaries, which per round of a 10 M-state day were ~240 MB a
    collector (issue 12). Every index it uses lies within two states of the ones
    bracketing the round's earliest ``t_before`` and latest ``t_after`` (the searches
    there), and whether the state after the last one exists is kept: the slice ends two
    past the last index used, or at the end of ``c``.
    """
    n = c.tb.size
    if n == 0 or m_tb.size == 0:
        return c
    lo_t, hi_t = int(m_tb.min()), int(m_ta.max())
    s0 = max(min(int(np.searchsorted(c.ta, lo_t, "left")),
                 int(np.searchsorted(c.tb, lo_t, "left"))) - 2, 0)
    s1 = min(max(int(np.searchsorted(c.ta, hi_t, "right")),
                 int(np.searchsorted(c.tb, hi_t, "right"))) + 2, n)
    if s0 == 0 and s1 == n:
        return c
    return CollectorStates(c.tb[s0:s1], c.ta[s0:s1], c.blind[s0:s1],
                           None if c.hash is None else c.hash[s0:s1],
                           None if c.reread is None else c.reread[s0:s1])


def union_blind(m_tb: I64, m_ta: I64, collectors: list[CollectorStates],
                m_hash: U64 | None = None) -> I64:
    """The merged states' ``blind_ns`` (``UNKNOWN`` where no collector covered)."""
    n = m_tb.size
    best = np.full(n, np.iinfo(np.int64).max, np.int64)
    for c in collectors:
        b = collector_bound(m_tb, m_ta, _near(c, m_tb, m_ta), m_hash=m_hash)
        best = np.where(b >= 0, np.minimum(best, b), best)
    out = np.where(best == np.iinfo(np.int64).max, UNKNOWN, best)
    if n:
        out[0] = 0
    return out


def collector_guarantees(names: list[str], collectors: list[CollectorStates],
                         blind_min_ns: int = BLIND_MIN_NS, factor: float = BLIND_FACTOR
                         ) -> dict[str, Guarantee]:
    """Each collector's own guarantee (its states in time order, offsets applied)."""
    return {name: guarantee(c.blind, c.tb, c.ta, threshold_ns(c.blind, blind_min_ns, factor),
                            name)
            for name, c in zip(names, collectors)}


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
