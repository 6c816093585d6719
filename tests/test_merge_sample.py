"""``merge``'s first pass in bounded memory (issue 12): samples exact while they fit, the
offset from a hash sample as good as from every state, a tiny sample still merging right."""

from __future__ import annotations

import numpy as np
import pytest

import booktape
from booktape.errors import BadArgument
from booktape.read.merge import merge
from booktape.read.sample import HashSample, Reservoir, in_sample

from .merge_tapes import record_pair, rewrite, shift_clock

MS = 1_000_000


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return record_pair(tmp_path_factory.getbasetemp())


def test_hash_sample_keeps_the_same_books_on_both_sides_within_its_cap():
    rng = np.random.default_rng(7)
    books = rng.integers(0, 2**64, 20_000, dtype=np.uint64)
    a = books[rng.random(len(books)) < 0.9]  # each side misses its own tenth
    b = books[rng.random(len(books)) < 0.9]
    sa, sb = HashSample(1_000), HashSample(3_000)
    for s, h in ((sa, a), (sb, b)):
        for chunk in np.array_split(h, 37):
            s.add(chunk, np.arange(len(chunk), dtype=np.int64))
        assert 0 < len(s.at_level(0)[0]) <= s.cap
    level = max(sa.level, sb.level)
    assert level == 5 and sb.level == 3  # 18 000 distinct books: 1/32 fits in 1 000
    ha, hb = sa.at_level(level)[0], sb.at_level(level)[0]
    # Exactly the books whose hash falls in the kept share of hash space, on both sides:
    # every book the two have in common and that share keeps is kept by both.
    assert np.array_equal(np.sort(ha), np.sort(a[in_sample(a, level)]))
    assert np.array_equal(np.intersect1d(ha, hb),
                          np.intersect1d(a, b)[in_sample(np.intersect1d(a, b), level)])
    whole = HashSample(10**6)
    whole.add(a, np.arange(len(a), dtype=np.int64))
    assert whole.level == 0 and np.array_equal(whole.at_level(0)[0], a)  # fits: everything


def test_reservoir_percentiles_exact_while_they_fit_and_close_beyond():
    v = np.random.default_rng(3).lognormal(np.log(20_000), 0.5, 300_000)
    full, small = Reservoir(300_000), Reservoir(30_000)
    for chunk in np.array_split(v, 101):
        full.add(chunk)
        small.add(chunk)
    assert np.array_equal(full.percentile([50, 99]), np.percentile(v, [50, 99]))
    p50, p99 = small.percentile([50, 99])
    # A uniform sample of 30 000: p99 within +-0.25 % of rank (4 standard errors).
    assert np.percentile(v, 49) <= p50 <= np.percentile(v, 51)
    assert np.percentile(v, 98.75) <= p99 <= np.percentile(v, 99.25)
    assert Reservoir(10).percentile([50]) is None


def test_merge_offset_from_a_hash_sample_equals_the_full_estimate(pair, tmp_path):
    tape = rewrite(pair, tmp_path / "skew", "one", shift_clock(250 * MS))
    full = merge(tape, "zero,one", None, write=False, offset="auto")
    [f] = full.offsets
    # Room for two thirds of one's books: about half of hash space is kept (level 1 or 2).
    cap = full.per_collector[1].distinct * 2 // 3
    part = merge(tape, "zero,one", None, write=False, offset="auto", sample_states=cap)
    [p] = part.offsets
    assert 5 <= p.pairs < f.pairs
    # Same clock offset within the sampled estimate's stated uncertainty, twice: the two
    # medians share half their pairs, so they differ by ~0.7 of the sample's standard
    # error (2x is ~3 sigma; on two recorders sharing a loaded box the spread is ms).
    assert abs(p.offset_ns - f.offset_ns) <= 2 * p.uncertainty_ns, (p, f)
    assert abs(p.offset_ns - 250 * MS) <= p.uncertainty_ns + p.jitter_ns
    # Offset applied, the same books merged: the report agrees on everything it counts.
    assert (part.merged_states, part.seen_by_all, part.ok) == \
        (full.merged_states, full.seen_by_all, full.ok)


def test_merge_with_a_tiny_forced_sample_writes_the_same_tape(pair, tmp_path):
    full = merge(pair, "zero,one", tmp_path / "full")
    # Two books a side: too few pairs for an offset, nothing else depends on the sample.
    tiny = merge(pair, "zero,one", tmp_path / "tiny", sample_states=2,
                 tolerance=full.tolerance_ns)
    assert tiny.offsets == [] and full.offsets
    for k in ("merged_states", "merged_rows", "seen_by_all", "missing", "conflicts",
              "per_collector", "reordered"):
        assert getattr(tiny, k) == getattr(full, k), k
    cols = ["seq", "t_before_ns", "t_after_ns", "blind_ns", "level", "type", "price", "volume",
            "seen_by", "first_by", "src_seq"]
    a = booktape.read_arrow(tmp_path / "full", columns=cols).drop_columns(["collector"])
    b = booktape.read_arrow(tmp_path / "tiny", columns=cols).drop_columns(["collector"])
    assert a.num_rows > 0 and a.equals(b)
    with pytest.raises(BadArgument, match="cannot estimate the clock offset"):
        merge(pair, "zero,one", None, write=False, offset="auto", sample_states=2)
