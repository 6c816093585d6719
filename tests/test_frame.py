from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from booktape.capture.frame import HEADER_SIZE, PREFIX, ChunkBuilder, decode
from booktape.model import BookInfo

level = st.builds(lambda t, p, v: BookInfo(t, float(p) * 10, v, float(v)),
                  st.sampled_from([1, 2, 3, 4]), st.integers(1, 20_000), st.integers(1, 10**6))
snap = st.tuples(st.integers(0, 3), st.lists(level, max_size=50).map(tuple),
                 st.integers(0, 2**40), st.integers(0, 1000), st.integers(0, 100),
                 st.integers(0, 2**62))


@settings(max_examples=60, deadline=None)
@given(st.lists(snap, min_size=1, max_size=40))
def test_frame_roundtrip_keeps_every_level_and_stamp(snaps):
    b = ChunkBuilder(capacity=64)  # forces growth
    seqs = {}
    expect: dict[int, list[tuple]] = {}
    for sym, book, t, dur, unch, blind in snaps:
        s = seqs.get(sym, 0)
        seqs[sym] = s + 1
        b.add(sym, s, t, t + dur, unch, blind, book)
        if book:
            expect.setdefault(sym, []).extend(
                (s, t, t + dur, unch, blind, i, lv.type, lv.price, lv.volume, lv.volume_dbl)
                for i, lv in enumerate(book))
        else:
            expect.setdefault(sym, []).append((s, t, t + dur, unch, blind, -1, 0, None, 0, None))
    out = decode(b.take())
    assert set(out) == set(expect)
    for sym, rows in expect.items():
        d = out[sym].to_pydict()
        got = list(zip(*d.values()))
        got = [tuple(None if isinstance(x, float) and np.isnan(x) else x for x in r) for r in got]
        assert got == rows


def test_chunk_builder_take_resets():
    b = ChunkBuilder()
    b.add(0, 0, 1, 2, 0, 3, (BookInfo(1, 10.0, 1, 1.0),))
    assert b.snapshots == 1
    assert len(b.take()) == 16 + 40 + 32
    assert b.snapshots == 0 and b.take() == b""


@settings(max_examples=30, deadline=None)
@given(st.lists(snap, min_size=1, max_size=20), st.integers(0, 30))
def test_a_frame_with_spare_header_slots_decodes_to_the_same_rows(snaps, spare):
    # The ring packs in place with header slots reserved up front; unused slots
    # sit between the headers and the levels and must not shift any level.
    b = ChunkBuilder()
    for i, (sym, book, t, dur, unch, blind) in enumerate(snaps):
        b.add(sym, i, t, t + dur, unch, blind, book)
    dense = b.take()
    n_snap, n_lv, slots, _ = PREFIX.unpack_from(dense)
    assert slots == n_snap
    cut = PREFIX.size + HEADER_SIZE * n_snap
    sparse = (PREFIX.pack(n_snap, n_lv, n_snap + spare, 0) + dense[PREFIX.size:cut]
              + bytes([0xAB]) * (HEADER_SIZE * spare) + dense[cut:])
    a, c = decode(dense), decode(sparse)
    assert a.keys() == c.keys()
    assert all(a[k].to_pandas().equals(c[k].to_pandas()) for k in a)  # NaN == NaN here
