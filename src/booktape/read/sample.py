"""Bounded samples of a day's states for ``merge``'s first pass (issue 12).

A full day is 10 M states per collector; the clock offset and the poll-timing
percentiles do not need all of them, and keeping all of them made the first
pass grow with the day. Two samples, each exact while the data fits in it (any
tape of up to ``cap`` states gives the same numbers as before):

* :class:`HashSample` keeps the states whose content hash falls in the lowest
  ``2**-level`` of hash space, raising ``level`` whenever more than ``cap`` are
  kept. A hash is a pure function of the book, so two collectors sampled at one
  level keep the *same* books: every pair of matching states survives together
  (a uniformly drawn sample per side would keep only ``f**2`` of the pairs).
* :class:`Reservoir` keeps a uniform random sample of at most ``cap`` values
  (the ``cap`` smallest of a random key per value), for percentiles.

Hand-written rather than a quantile sketch (t-digest, DataSketches' KLL): those
bound the *rank* error to ~1 % at their usual sizes, which at p99 is the
difference between p98 and p100 — the tolerance is built from p99s. A uniform
sample of 1 M values puts p99 within ±0.0001 in rank (binomial standard error
``sqrt(0.99 * 0.01 / 1e6)``) in 16 MB.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: States per collector kept for the clock-offset estimate (16 B each).
OFFSET_SAMPLE = 1_000_000
#: Values kept per poll-timing percentile (16 B each with their keys).
TIMING_SAMPLE = 1_000_000


def in_sample(h: U64, level: int) -> npt.NDArray[np.bool_]:
    """Which hashes fall in the lowest ``2**-level`` of hash space."""
    if level <= 0:
        return np.ones(len(h), bool)
    return np.asarray((h >> np.uint64(64 - level)) == 0)


class HashSample:
    """Hashes (and their ``t_mid``) of at most ``cap`` states, chosen by hash; see above."""

    def __init__(self, cap: int = OFFSET_SAMPLE) -> None:
        if cap < 1:
            raise ValueError(f"sample cap must be at least 1, got {cap}")
        self.cap = cap
        self.level = 0
        self._h: list[U64] = []
        self._t: list[I64] = []
        self._n = 0

    def add(self, h: U64, t: I64) -> None:
        keep = in_sample(h, self.level)
        self._h.append(h[keep])
        self._t.append(t[keep])
        self._n += int(keep.sum())
        while self._n > self.cap:  # halve the share of hash space until it fits
            self.level += 1
            hh, tt = self._joined()
            keep = in_sample(hh, self.level)
            self._h, self._t, self._n = [hh[keep]], [tt[keep]], int(keep.sum())

    def _joined(self) -> tuple[U64, I64]:
        if len(self._h) != 1:
            self._h = [np.concatenate(self._h) if self._h else np.zeros(0, np.uint64)]
            self._t = [np.concatenate(self._t) if self._t else np.zeros(0, np.int64)]
        return self._h[0], self._t[0]

    def at_level(self, level: int) -> tuple[U64, I64]:
        """The sample (in the order added) narrowed to ``level`` (at least this one's)."""
        h, t = self._joined()
        if level <= self.level:
            return h, t
        keep = in_sample(h, level)
        return h[keep], t[keep]


class Reservoir:
    """A uniform random sample of at most ``cap`` values (all of them while they fit)."""

    def __init__(self, cap: int = TIMING_SAMPLE, seed: int = 0) -> None:
        self.cap = cap
        self._rng = np.random.default_rng(seed)
        self._v: list[F64] = []
        self._k: list[U64] = []
        self._n = 0

    def add(self, v: npt.ArrayLike) -> None:
        a = np.asarray(v, np.float64)
        if not len(a):
            return
        self._v.append(a)
        self._k.append(self._rng.integers(0, 2**63, len(a), dtype=np.uint64))
        self._n += len(a)
        if self._n > 2 * self.cap:  # amortised: trim to cap once twice as many are held
            self._trim()

    def _trim(self) -> None:
        v, k = np.concatenate(self._v), np.concatenate(self._k)
        if len(v) > self.cap:
            keep = np.argpartition(k, self.cap - 1)[:self.cap]
            v, k = v[keep], k[keep]
        self._v, self._k, self._n = [v], [k], len(v)

    def percentile(self, q: list[float]) -> F64 | None:
        """``np.percentile`` of the sample (exact while every value fits), None if empty."""
        if not self._n:
            return None
        self._trim()
        return np.asarray(np.percentile(self._v[0], q), np.float64)
