"""`booktape.record` end to end on the sim: real files, read back, checked against the sim's truth."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import booktape
from booktape.errors import BadArgument, CollectorBusy
from booktape.tape.layout import lock_path, partition_dirs
from booktape.tape.lock import CollectorLock
from booktape.tape.manifest import read_manifest, sha256_file

from .helpers import books_by_seq, sim_truth


def test_record_lockstep_stores_exactly_the_states_the_sim_served(tape, tmp_path):
    log = tmp_path / "sim.json"
    s = booktape.record(
        tape, "RIU2", polls=20_000, rotate_bytes="256KB",
        source_options={"lockstep": True, "seed": 3, "log_path": str(log)})
    assert s.ok and s.polls == 20_000 and s.parts_sealed >= 3
    df = booktape.read(tape)
    truth, unchanged = sim_truth(log, "RIU2")
    assert books_by_seq(df) == truth
    seqs = df.groupby("seq")["unchanged"].first()
    assert seqs.index.tolist() == list(range(len(truth)))
    assert seqs.tolist() == unchanged
    assert s.stored + s.unchanged == s.polls


def test_record_realtime_seq_contiguous_time_ordered_and_parts_match_manifest(tape, tmp_path):
    log = tmp_path / "sim.json"
    s = booktape.record(tape, "RIU2", duration="2s", rotate_bytes="128KB",
                        source_options={"log_path": str(log), "rate": 1000})
    assert s.ok and s.parts_sealed >= 3
    df = booktape.read(tape)
    snap = df.groupby("seq").first()
    assert snap.index.tolist() == list(range(len(snap)))
    assert (snap.t_after_ns >= snap.t_before_ns).all()
    mid = (snap.t_before_ns + (snap.t_after_ns - snap.t_before_ns) // 2).to_numpy()
    assert np.all(np.diff(mid) > 0)
    truth, _ = sim_truth(log, "RIU2")
    assert books_by_seq(df) == truth
    for d in partition_dirs(tape):
        for e in read_manifest(d):
            assert sha256_file(d / e.part) == e.sha256
            assert pq.read_metadata(d / e.part).num_rows == e.rows


def test_record_rotation_by_time_loses_nothing_across_boundaries(tape):
    s = booktape.record(tape, "RIU2", duration="1.6s", rotate_every="300ms",
                        source_options={"rate": 2000})
    entries = [e for d in partition_dirs(tape) for e in read_manifest(d)]
    assert len(entries) >= 4
    entries.sort(key=lambda e: e.seq_min)
    assert entries[0].seq_min == 0
    assert all(b.seq_min == a.seq_max + 1 for a, b in zip(entries, entries[1:]))
    assert entries[-1].seq_max + 1 == s.stored


def test_record_continues_seq_across_sessions(tape):
    opts = {"lockstep": True}
    a = booktape.record(tape, "RIU2", polls=3000, source_options=opts)
    b = booktape.record(tape, "RIU2", polls=3000, source_options=opts)
    assert b.symbols[0].seq_first == a.symbols[0].seq_last + 1
    seq = booktape.read(tape)["seq"].unique()
    assert np.array_equal(seq, np.arange(a.stored + b.stored))


def test_record_several_symbols_each_with_own_seq_and_partition(tape):
    s = booktape.record(tape, ["RIU2", "SiZ2", "BRX2"], polls=9000,
                        source_options={"lockstep": True})
    assert s.ok and [y.symbol for y in s.symbols] == ["RIU2", "SiZ2", "BRX2"]
    for y in s.symbols:
        df = booktape.read(tape, symbol=y.symbol)
        assert df["seq"].unique().tolist() == list(range(y.snapshots))
        assert y.snapshots > 1000
    assert {d.parent.parent.name for d in partition_dirs(tape)} == {
        "symbol=RIU2", "symbol=SiZ2", "symbol=BRX2"}


def test_record_keep_unchanged_stores_every_poll(tape):
    s = booktape.record(tape, "RIU2", polls=2000, keep_unchanged=True,
                        source_options={"lockstep": True})
    assert s.stored == 2000 and s.unchanged == 0
    assert booktape.read(tape)["seq"].nunique() == 2000


def test_record_interval_paces_polls(tape):
    s = booktape.record(tape, "RIU2", duration="0.5s", interval="20ms")
    assert 5 <= s.polls <= 27  # never faster than asked (the start-up's share of 0.5 s varies)
    # Paced: poll starts on a 20 ms schedule (a late one is caught up by the next), neither
    # sooner nor later on average. The sim changes its book on every poll here, so every
    # poll is a stored state with its stamp.
    t = np.sort(booktape.read(tape).groupby("seq")["t_before_ns"].first().to_numpy())
    mean_gap_ms = (t[-1] - t[0]) / (len(t) - 1) / 1e6
    assert len(t) == s.polls and 19.0 <= mean_gap_ms <= 22.0, np.diff(t) / 1e6


def test_record_refuses_a_collector_that_is_already_recording(tape):
    tape.mkdir()
    with CollectorLock(lock_path(tape, "zero")):
        with pytest.raises(CollectorBusy, match="--collector"):
            booktape.record(tape, "RIU2", polls=10)
    booktape.record(tape, "RIU2", polls=10, collector="one")


@pytest.mark.parametrize("kw, msg", [
    ({"duration": "5x"}, "invalid --duration"),
    ({"rotate_bytes": "lots"}, "invalid --rotate-bytes"),
    ({"until": "soon"}, "invalid --until"),
    ({"symbols": ""}, "invalid symbol"),
    ({"symbols": "../x"}, "invalid symbol"),
    ({"symbols": []}, "at least one"),
    ({"source": "bloomberg"}, "unknown source"),
    ({"topology": "carrier-pigeon"}, "unknown topology"),
    ({"collector": "a/b"}, "invalid collector"),
    ({"duration": "1s", "until": "23:00"}, "not both"),
])
def test_record_bad_arguments_raise_before_touching_the_tape(tape, kw, msg):
    kw = dict(kw)
    symbols = kw.pop("symbols", "RIU2")
    with pytest.raises(BadArgument, match=msg):
        booktape.record(tape, symbols, **kw)
    assert not tape.exists()


def test_record_into_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(BadArgument, match="is a file"):
        booktape.record(f, "RIU2", polls=10)
