"""Readers' derived columns and the views: quotes, top, book_at, replay (issue 14)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import booktape
from booktape.capture.frame import ChunkBuilder, decode
from booktape.clock import ManualClock
from booktape.errors import TapeDamaged, TapeNotFound
from booktape.read.sides import side_depth
from booktape.read.stream import iter_stream, streams
from booktape.tape.writer import TapeWriter

T0 = 1_764_140_400_000_000_000  # 2025-11-26 07:00 UTC
STEP = 1_000_000  # 1 ms between polls
# MT5's order: sells by price descending (worst ask first), then buys descending.
BOOKS = [
    ((1, 103.0, 1, 1.0), (1, 102.0, 2, 2.0), (1, 101.0, 3, 3.0), (2, 100.0, 4, 4.0),
     (2, 99.0, 5, 5.0)),
    (),  # nobody quotes: stored as one marker row
    ((2, 100.0, 7, 7.0),),  # bids only
    ((1, 105.0, 1, 1.5), (1, 104.0, 2, 2.5), (2, 98.0, 3, 3.5), (3, 0.0, 9, 9.0)),
    ((1, 102.0, 6, 6.0), (2, 101.0, 8, 8.0)),
]


def _write(w: TapeWriter, seqs: range) -> None:
    b = ChunkBuilder()
    for s in seqs:
        t = T0 + s * STEP
        b.add(0, s, t, t + 2000, 0, 7000, BOOKS[s])
    w.append("RIU2", decode(b.take())[0])


@pytest.fixture
def book_tape(tmp_path):
    """Seq 0-3 in a sealed part, seq 4 in an open journal."""
    root = tmp_path / "data"
    clock = ManualClock(T0)
    w = TapeWriter(root, "zero", clock, meta={"session": "s1", "source": "test"})
    _write(w, range(4))
    w.close()
    w2 = TapeWriter(root, "zero", clock, meta={"session": "s2", "source": "test"})
    _write(w2, range(4, 5))
    w2.sync()
    yield root
    w2.close()


def test_read_adds_side_depth_and_utc_timestamps(book_tape):
    df = booktape.read(book_tape)
    s0 = df[df.seq == 0]
    assert s0.side.tolist() == ["ask", "ask", "ask", "bid", "bid"]
    assert s0.depth.tolist() == [2, 1, 0, 0, 1]  # MT5's level 0 is the worst ask
    marker = df[df.seq == 1]
    assert marker.level.tolist() == [-1] and marker.side.isna().all() and marker.depth.tolist() == [-1]
    s3 = df[df.seq == 3]
    assert s3.side.tolist() == ["ask", "ask", "bid", "ask_market"]
    assert str(df.time_before.dtype) == "datetime64[ns, UTC]"
    assert (df.time_before.astype("int64") == df.t_before_ns).all()  # exact ns kept
    assert df.t_after_ns.dtype == np.int64
    msk = df.time_after.dt.tz_convert("Europe/Moscow")
    assert msk.iloc[0].hour == 10 and msk.iloc[0].tz is not None  # 07:00 UTC


def test_snapshots_only_returns_the_best_ask_not_mt5s_far_ask(book_tape):
    s = booktape.read(book_tape, snapshots_only=True)
    assert s.seq.tolist() == [0, 1, 2, 3, 4]
    assert s.price.tolist()[0] == 101.0  # not 103 (level 0)
    assert np.isnan(s.price.tolist()[1])  # the empty book's marker
    assert s.price.tolist()[2:] == [100.0, 104.0, 102.0]  # bids only: its best bid
    timing = booktape.read_arrow(book_tape, columns=["seq", "t_before_ns"], snapshots_only=True)
    assert timing.column("seq").to_pylist() == [0, 1, 2, 3, 4]


def test_quotes_one_row_per_state_nan_where_a_side_is_empty(book_tape):
    q = booktape.quotes(book_tape)
    assert list(q.columns) == ["symbol", "collector", "time", "seq", "bid", "bid_volume", "ask",
                               "ask_volume", "mid", "spread"]
    assert q.seq.tolist() == [0, 1, 2, 3, 4]
    assert q.bid.tolist()[0] == 100.0 and q.ask.tolist()[0] == 101.0
    assert q.bid_volume.tolist()[0] == 4.0 and q.ask_volume.tolist()[0] == 3.0
    assert q.mid.tolist()[0] == 100.5 and q.spread.tolist()[0] == 1.0
    assert q.iloc[1][["bid", "ask", "mid", "spread"]].isna().all()
    assert q.bid.tolist()[2] == 100.0 and np.isnan(q.ask.tolist()[2]) and np.isnan(q.spread[2])
    assert q.ask.tolist()[3] == 104.0  # the market order is not a price level
    assert (q.time.astype("int64") == T0 + q.seq * STEP + 1000).all()  # t_mid
    late = booktape.quotes(book_tape, start=T0 + 2 * STEP, end=T0 + 4 * STEP)
    assert late.seq.tolist() == [2, 3]
    none = booktape.quotes(book_tape, start=T0 + 10**12)
    assert none.empty and list(none.columns) == list(q.columns)
    assert str(none.time.dtype) == "datetime64[ns, UTC]"


def test_top_is_wide_best_first_nan_past_the_book(book_tape):
    t = booktape.top(book_tape, n=2)
    assert list(t.columns)[4:] == ["bid_price_0", "bid_price_1", "bid_volume_0", "bid_volume_1",
                                   "ask_price_0", "ask_price_1", "ask_volume_0", "ask_volume_1"]
    r = t.iloc[0]
    assert (r.bid_price_0, r.bid_price_1, r.ask_price_0, r.ask_price_1) == (100, 99, 101, 102)
    assert (r.ask_volume_0, r.ask_volume_1) == (3, 2)
    assert np.isnan(t.iloc[2].bid_price_1) and np.isnan(t.iloc[2].ask_price_0)


def test_book_at_is_as_of_by_t_mid(book_tape):
    mid3 = T0 + 3 * STEP + 1000
    b = booktape.book_at(book_tape, "RIU2", mid3)
    assert b.seq.unique().tolist() == [3]
    assert booktape.book_at(book_tape, "RIU2", mid3 - 1).seq.unique().tolist() == [2]
    assert booktape.book_at(book_tape, "RIU2", pd.Timestamp(T0 + 10**9, tz="UTC")).seq.unique().tolist() == [4]
    hours_later = booktape.book_at(book_tape, "RIU2", T0 + 2 * 3600 * 10**9)  # past both look-backs
    assert hours_later.seq.unique().tolist() == [4] and hours_later.depth.tolist() == [0, 0]
    before = booktape.book_at(book_tape, "RIU2", T0)  # before the first state's midpoint
    assert before.empty and "depth" in before.columns
    with pytest.raises(TapeNotFound, match="NOPE"):
        booktape.book_at(book_tape, "NOPE", T0)


def test_replay_yields_states_in_order_best_first(book_tape):
    states = list(booktape.replay(book_tape))
    assert [s.seq for s in states] == [0, 1, 2, 3, 4]
    assert states[0].asks[:, 0].tolist() == [101, 102, 103]
    assert states[0].bids.tolist() == [[100, 4], [99, 5]]
    assert len(states[1].asks) == 0 and len(states[1].bids) == 0
    assert states[3].asks[:, 0].tolist() == [104, 105]
    assert states[4].time == pd.Timestamp(T0 + 4 * STEP + 1000, unit="ns", tz="UTC")


def test_parts_are_hashed_once_per_process_until_they_change(book_tape):
    booktape.read(book_tape)
    part = next(book_tape.rglob("part-*.parquet"))
    st0 = part.stat()
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, same mtime: the cached verdict stands
    part.write_bytes(bytes(data))
    os.utime(part, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    try:
        booktape.read(book_tape)
    except Exception as e:  # the flipped byte may not decode: not our question here
        assert "checksum mismatch" not in str(e), "hashed again though size and mtime are unchanged"
    # Touched (1 µs later: Windows keeps mtimes in 100 ns units): hashed again.
    os.utime(part, ns=(st0.st_atime_ns, st0.st_mtime_ns + 1_000))
    with pytest.raises(TapeDamaged, match="checksum mismatch"):
        booktape.read(book_tape)


def test_snapshots_straddling_row_groups_stream_whole(tmp_path):
    from dataclasses import replace

    from booktape.tape.manifest import MANIFEST, add_entry, read_manifest, sha256_file

    tape = tmp_path / "data"
    booktape.record(tape, "RIU2", polls=400, source_options={"lockstep": True})
    part = next(tape.rglob("part-*.parquet"))
    # Rewrite the part in row groups of 37 rows, so 40-level books straddle them.
    pq.write_table(pq.read_table(part), part, row_group_size=37)
    [e] = read_manifest(part.parent)
    (part.parent / MANIFEST).unlink()
    add_entry(part.parent, replace(e, sha256=sha256_file(part), bytes=part.stat().st_size))
    assert pq.ParquetFile(part).metadata.num_row_groups > 100
    ref = pq.read_table(part)
    chunks = list(iter_stream(streams(tape)[0], ["seq", "level", "price"]))
    seen = np.concatenate([c.column("seq").to_numpy() for c in chunks])
    assert (seen == ref.column("seq").to_numpy()).all()
    for c in chunks:  # bounded: a row group plus the snapshot it cut
        assert c.num_rows <= 37 + 40
    heads = [c.column("seq")[0].as_py() for c in chunks]
    tails = [c.column("seq")[-1].as_py() for c in chunks]
    assert all(t < h for t, h in zip(tails, heads[1:]))  # no snapshot split across chunks
    q = booktape.quotes(tape)
    assert q.seq.is_unique and len(q) == len(np.unique(seen))


books = st.lists(
    st.tuples(st.lists(st.integers(1, 50), unique=True, max_size=6),
              st.lists(st.integers(1, 50), unique=True, max_size=6)),
    min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(books, st.randoms())
def test_side_depth_same_for_mt5_order_and_any_order(bks, rnd):
    rows = []
    for s, (asks, bids) in enumerate(bks):
        snap = [(s, 1, float(p)) for p in sorted(asks, reverse=True)]
        snap += [(s, 2, float(p)) for p in sorted(bids, reverse=True)]
        rows += snap or [(s, 0, float("nan"))]
    seq, typ, price = (np.array(c) for c in zip(*rows))
    _, d_fast = side_depth(seq, typ, price)
    # Shuffle rows within each snapshot (seq stays sorted): the slow path.
    perm = np.lexsort((np.array([rnd.random() for _ in rows]), seq))
    side_s, d_slow = side_depth(seq[perm], typ[perm], price[perm])
    fast = dict(zip(zip(seq, typ, price), d_fast.to_pylist()))
    for k, d in zip(zip(seq[perm], typ[perm], price[perm]), d_slow.to_pylist()):
        assert fast.get(k, -1) == d or np.isnan(k[2])
    for s, (asks, bids) in enumerate(bks):
        for i, p in enumerate(sorted(asks)):
            assert fast[(s, 1, float(p))] == i  # 0 = lowest ask
        for i, p in enumerate(sorted(bids, reverse=True)):
            assert fast[(s, 2, float(p))] == i  # 0 = highest bid


def test_replay_interleaves_collectors_by_time(book_tape):
    clock = ManualClock(T0)
    w = TapeWriter(book_tape, "one", clock, meta={"session": "s3", "source": "test"})
    b = ChunkBuilder()
    for s in range(3):
        t = T0 + s * STEP + STEP // 2  # half a poll after collector zero's
        b.add(0, s, t, t + 2000, 0, 7000, BOOKS[s])
    w.append("RIU2", decode(b.take())[0])
    w.close()
    states = list(booktape.replay(book_tape))
    assert [(s.collector, s.seq) for s in states][:6] == [
        ("zero", 0), ("one", 0), ("zero", 1), ("one", 1), ("zero", 2), ("one", 2)]
    assert [s.t_mid_ns for s in states] == sorted(s.t_mid_ns for s in states)
    both = booktape.book_at(book_tape, "RIU2", T0 + STEP // 2 + 1000)
    assert sorted(zip(both.collector, both.seq)) == [("one", 0)] * 5 + [("zero", 0)] * 5
