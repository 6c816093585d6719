"""What a tape guarantees about the states it may have missed (issue 13).

Every stored state carries ``blind_ns``: no state missed since the previous
stored state of its symbol lasted longer (see :mod:`booktape.capture.loop`).
Over a stretch of a tape that gives the **guaranteed lifetime** B — every state
that lasted longer than B was recorded — except inside **blind spots**, the
intervals whose bound is far above the usual (over ``blind_min`` and over
``factor`` x the median): a stalled poller, a disconnect, a machine that
stopped scheduling the recorder. B is reported as the p99.9 and the max of
``blind_ns`` outside the blind spots; the blind spots are listed with their
times. A stretch holding any state without ``blind_ns`` (recorded before the
column existed) has an unknown bound: nothing is guessed for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BLIND_MIN_NS = 1_000_000
BLIND_FACTOR = 10.0
#: Blind spots listed per stretch at most (counts and totals cover them all).
SPOTS_MAX = 200


@dataclass
class BlindSpot:
    """An interval in which states up to ``blind_ns`` long may be missing."""

    since_ns: int  # t_before of the stored state before it: the spot lies after this
    until_ns: int  # t_after of the state carrying the bound (or the session's stop)
    blind_ns: int


@dataclass
class Guarantee:
    """The bound over one stretch (a session, an hour, a minute) of one symbol and collector."""

    label: str
    start_ns: int
    end_ns: int
    states: int
    known: bool  # False: some state has no blind_ns, so the bound is unknown
    lifetime_p50_ns: float | None = None  # outside blind spots
    lifetime_p999_ns: float | None = None
    lifetime_max_ns: float | None = None
    spot_count: int = 0
    spot_total_ns: int = 0
    spot_worst_ns: int = 0
    spots: list[BlindSpot] = field(default_factory=list)
    #: states whose bound was clipped to the open time it covers (it spanned closed hours)
    closed_count: int = 0


def threshold_ns(blind: np.ndarray, blind_min_ns: int = BLIND_MIN_NS,
                 factor: float = BLIND_FACTOR) -> int:
    """The blind-spot threshold of a stream: over ``blind_min`` and ``factor`` x its median."""
    known = blind[blind >= 0]
    med = float(np.median(known)) if known.size else 0.0
    return int(max(blind_min_ns, factor * med))


def guarantee(blind: np.ndarray, t_before: np.ndarray, t_after: np.ndarray, threshold: int,
              label: str = "", clipped: np.ndarray | None = None) -> Guarantee:
    """The bound over one stretch, its states in time order (``blind`` -1 = unknown).

    ``clipped`` marks the states whose ``blind`` was cut to the open time it
    covers (:func:`clip_to_open`); they are counted, the rest is as for any state.
    """
    n = int(blind.size)
    g = Guarantee(label, int(t_before[0]) if n else 0, int(t_after[-1]) if n else 0, n,
                  known=bool(n) and bool((blind >= 0).all()))
    if not g.known:
        return g
    if clipped is not None:
        g.closed_count = int(clipped.sum())
    spot = blind > threshold
    inside = blind[~spot]
    if inside.size:
        g.lifetime_p50_ns = float(np.percentile(inside, 50))
        g.lifetime_p999_ns = float(np.percentile(inside, 99.9))
        g.lifetime_max_ns = float(inside.max())
    idx = np.flatnonzero(spot)
    g.spot_count = int(idx.size)
    g.spot_total_ns = int(blind[idx].sum())
    g.spot_worst_ns = int(blind[idx].max()) if idx.size else 0
    g.spots = [BlindSpot(int(t_before[i - 1]) if i else int(t_after[i] - blind[i]),
                         int(t_after[i]), int(blind[i])) for i in idx[:SPOTS_MAX].tolist()]
    return g


def guarantees_by(blind: np.ndarray, t_before: np.ndarray, t_after: np.ndarray,
                  keys: np.ndarray, labels: dict[int, str], threshold: int,
                  clipped: np.ndarray | None = None) -> list[Guarantee]:
    """One :class:`Guarantee` per distinct key (states in time order, keys non-decreasing)."""
    out: list[Guarantee] = []
    if not keys.size:
        return out
    cuts = np.flatnonzero(np.diff(keys)) + 1
    for a, b in zip(np.concatenate(([0], cuts)).tolist(), np.append(cuts, keys.size).tolist()):
        k = int(keys[a])
        out.append(guarantee(blind[a:b], t_before[a:b], t_after[a:b], threshold,
                             labels.get(k, str(k)), None if clipped is None else clipped[a:b]))
    return out


def clip_to_open(blind: np.ndarray, t_before: np.ndarray, t_after: np.ndarray,
                 opens: np.ndarray, closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``blind`` cut to the open (trading) time of the interval each state covers.

    State ``i`` bounds the states missed inside ``(t_before[i-1], t_after[i]]``
    (the first: ``(t_after - blind, t_after]``). While the market is closed no
    state exists, so a missed state lived inside the open time of that interval
    and lasted no longer than all of it: the bound is ``min(blind, open time)``.
    A pause scheduled between two polls is then no blind spot, while a stall in
    trading time next to it still is. Intervals wholly outside the windows keep
    their bound. ``opens``/``closes``: the sorted, disjoint windows. Returns the
    clipped bounds and which states were cut.
    """
    if not blind.size or not opens.size:
        return blind, np.zeros(blind.size, bool)
    lo = np.concatenate(([t_after[0] - max(int(blind[0]), 0)], t_before[:-1]))
    # Open time from the first window up to t: whole windows before t plus the
    # part of the one t is in (a cumulative sum: vectorised over every state).
    dur = closes - opens
    cum = np.concatenate(([0], np.cumsum(dur)))

    def upto(t: np.ndarray) -> np.ndarray:
        j = np.searchsorted(opens, t, "right") - 1
        jj = np.maximum(j, 0)
        part = np.clip(t - opens[jj], 0, dur[jj])
        return np.where(j >= 0, cum[jj] + part, 0)

    open_ns = np.maximum(upto(t_after) - upto(lo), 0)
    # Only where the interval meets closed time (elsewhere a stamp held at the
    # previous one, a clock step, can make it a little shorter than the bound) and
    # trading time: a recording wholly outside the windows is not judged by them.
    cut = (blind > open_ns) & (t_after - lo > open_ns) & (open_ns > 0)
    return np.where(cut, open_ns, blind), cut
