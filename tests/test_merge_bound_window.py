"""A round's union bound from the collectors' states near it equals the one from all of them
(issue 12: the whole-array temporaries per round were ~240 MB a collector on a 10 M-state day)."""

from __future__ import annotations

import numpy as np
import pytest

from booktape.read.merge_bound import CollectorStates, _near, collector_bound


def _collector(rng: np.random.Generator, n: int, t0: int) -> CollectorStates:
    gaps = rng.integers(5_000, 200_000, n)
    tb = t0 + np.cumsum(gaps)
    ta = tb + rng.integers(1_000, 4_000, n)  # polls do not overlap: tb, ta both sorted
    blind = rng.integers(1_000, 500_000, n)
    blind[rng.random(n) < 0.02] = -1  # unknown
    blind[rng.random(n) < 0.01] = 0  # a session's first state
    h = rng.integers(0, 6, n).astype(np.uint64)  # few books: returns and rereads abound
    reread = rng.random(n) < 0.4
    reread[-1] = True
    return CollectorStates(tb.astype(np.int64), ta.astype(np.int64), blind.astype(np.int64),
                           h, reread)


@pytest.mark.parametrize("seed", range(12))
def test_bound_from_the_states_near_a_round_equals_the_bound_from_all(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = _collector(rng, 3_000, 10_000_000)
    other = _collector(rng, 3_000, 10_000_000 + int(rng.integers(-300_000, 300_000)))
    # Merged states: a run of the other collector's, somewhere in the day (the edges too).
    a = int(rng.integers(0, 2_990))
    b = min(a + int(rng.integers(2, 400)), 3_000)
    m_tb, m_ta, m_hash = other.tb[a:b], other.ta[a:b], other.hash[a:b]  # type: ignore[index]
    near = _near(c, m_tb, m_ta)
    assert near.tb.size <= c.tb.size
    want = collector_bound(m_tb, m_ta, c, m_hash=m_hash)
    got = collector_bound(m_tb, m_ta, near, m_hash=m_hash)
    assert np.array_equal(got, want)
    if 50 < a and b < 2_950:
        assert near.tb.size < c.tb.size // 2  # it is a window, not the day
