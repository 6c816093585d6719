"""``booktape.read.merge``: redundant collectors aligned by book content, on real tapes."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import booktape
from booktape.analysis.verify import verify
from booktape.errors import BadArgument, TapeNotFound
from booktape.read.align import align, estimate_offset, monotone_mask, union_order
from booktape.read.merge import merge
from booktape.read.states import STATE_COLUMNS, snapshot_states

from .merge_tapes import drop_seqs, record_pair, rewrite, set_volume, shift_clock

MS = 1_000_000


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return record_pair(tmp_path_factory.getbasetemp())


def states(tape, collector):
    t = booktape.read_arrow(tape, "RIU2", collector, columns=STATE_COLUMNS).select(STATE_COLUMNS)
    return snapshot_states(t)


# -- pure pieces ---------------------------------------------------------------------------------

def test_hash_same_book_same_hash_changed_volume_differs(pair, tmp_path):
    z = states(pair, "zero")
    assert len(np.unique(z.hash)) >= len(z) - 2  # books rarely recur exactly
    bad = rewrite(pair, tmp_path / "bad", "zero", set_volume(int(z.seq[5]), 2, 999))
    z2 = states(bad, "zero")
    assert z2.hash[5] != z.hash[5]
    assert np.array_equal(np.delete(z2.hash, 5), np.delete(z.hash, 5))


def test_align_missing_states_on_both_sides_and_recurring_books_matched_in_order():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2**63, 200).astype(np.uint64)
    truth[50] = truth[40]  # a book that recurs
    t = np.cumsum(rng.integers(1, 10, 200) * MS)
    a = np.setdiff1d(np.arange(200), [3, 4, 5, 120])
    b = np.setdiff1d(np.arange(200), [40, 77, 199])
    ia, jb = align(truth[a], t[a], truth[b], t[b] + 20_000, window_ns=1_000 * MS)
    assert np.array_equal(a[ia], b[jb])  # every match is the same true state
    assert len(ia) == 200 - 7
    src_a, src_b = union_order(len(a), len(b), ia, jb, t[a], t[b])
    got = np.where(src_a >= 0, a[np.maximum(src_a, 0)], b[np.maximum(src_b, 0)])
    assert np.array_equal(got, np.arange(200))


def test_align_same_books_too_far_apart_in_time_match_nothing():
    h = np.arange(10, dtype=np.uint64)
    t = np.arange(10, dtype=np.int64) * MS
    ia, jb = align(h, t, h, t + 60_000 * MS, window_ns=1_000 * MS)
    assert len(ia) == len(jb) == 0


def test_monotone_mask_keeps_longest_in_order_chain():
    a = np.array([0, 1, 5, 2, 3, 4, 9, 7, 8], np.int64)
    assert a[monotone_mask(a)].tolist() == [0, 1, 2, 3, 4, 7, 8]


def test_estimate_offset_median_of_matched_changes_within_uncertainty():
    rng = np.random.default_rng(2)
    h = rng.integers(0, 2**63, 500).astype(np.uint64)
    t = np.cumsum(rng.integers(1, 50, 500) * MS)
    tb = t + 250 * MS + rng.integers(0, 200_000, 500)  # b polls a little later, jittered
    e = estimate_offset(h, t, h, tb)
    assert e is not None and e.pairs == 500
    assert abs(e.offset_ns - (250 * MS + 100_000)) <= 3 * e.uncertainty_ns
    assert estimate_offset(h[:3], t[:3], h[:3], t[:3]) is None


# -- on recorded tapes ---------------------------------------------------------------------------

def test_merge_two_processes_same_market_mostly_common_no_conflicts(pair, tmp_path):
    out = tmp_path / "merged"
    r = merge(pair, "zero,one", out)
    z, o = states(pair, "zero"), states(pair, "one")
    assert r.ok and r.conflicts == []
    # Mostly common (each may miss short-lived books, more so when the machine is busy).
    assert r.seen_by_all > 0.5 * min(len(z), len(o))
    # Every state of either collector is in the merge once: a pair seen by both counts once.
    # (Not "one per distinct hash": a book the market returns to later is a new state.)
    assert r.merged_states == len(z) + len(o) - r.seen_by_all
    [off] = r.offsets  # same machine, same clock: no offset beyond the poll jitter
    assert abs(off.offset_ns) <= 3 * off.uncertainty_ns + off.jitter_ns
    assert r.notes == []
    # The merged tape is a tape: booktape.read, read_arrow with the merge columns, DuckDB.
    df = booktape.read(out)
    assert set(df["collector"]) == {"merged"} and len(df) == r.merged_rows
    snap = booktape.read_arrow(out, columns=["seq", "t_before_ns", "t_after_ns", "seen_by",
                                             "first_by", "src_seq"], snapshots_only=True)
    seq = snap.column("seq").to_numpy()
    assert np.array_equal(seq, np.arange(r.merged_states))
    seen = snap.column("seen_by").to_numpy()
    assert int((seen == 3).sum()) == r.seen_by_all
    assert int((seen == 1).sum()) == r.per_collector[0].only_here
    t_mid = (snap.column("t_before_ns").to_numpy() + snap.column("t_after_ns").to_numpy()) // 2
    assert np.all(np.diff(t_mid) >= 0)
    m = states(out, "merged")
    assert len(m) == r.merged_states
    assert np.array_equal(np.unique(m.hash), np.union1d(z.hash, o.hash))
    q = duckdb.sql(
        f"select count(distinct seq), count(*), sum(case when seen_by = 3 and level <= 0 "
        f"then 1 else 0 end) from read_parquet('{out}/symbol=*/date=*/collector=*/part-*.parquet',"
        f" hive_partitioning=true) where collector = 'merged'").fetchall()[0]
    assert q == (r.merged_states, r.merged_rows, r.seen_by_all)
    # The merged tape is one booktape wrote: verify knows its provenance columns.
    v = verify(out)
    assert v.ok, v.problems


def test_merge_missed_burst_reported_as_missing_with_times_not_conflict(pair, tmp_path):
    o = states(pair, "one")
    lo, hi = int(o.seq[len(o) // 2]), int(o.seq[len(o) // 2 + 7])
    tape = rewrite(pair, tmp_path / "burst", "one", drop_seqs(lo, hi))
    r = merge(tape, ["zero", "one"], tmp_path / "m")
    assert r.ok
    t0, t1 = int(o.t_mid[len(o) // 2]), int(o.t_mid[len(o) // 2 + 7])
    burst = [m for m in r.missing if m.collector == "one" and m.states >= 6]
    assert burst, r.missing
    b = max(burst, key=lambda m: m.states)
    assert b.seen_by == ("zero",)
    # The run lies where one's dropped states were (zero saw them within poll jitter).
    slack = r.tolerance_ns
    assert t0 - slack <= b.t_start_ns <= b.t_end_ns <= t1 + slack
    assert r.per_collector[1].missing >= 8 - 1


def test_merge_corrupted_volume_is_a_conflict_at_its_time(pair, tmp_path):
    z, o = states(pair, "zero"), states(pair, "one")
    life = np.diff(o.t_mid)
    common = np.isin(o.hash[:-1], z.hash)
    i = int(np.argmax(np.where(common, life, 0)))  # the longest-lived book both saw
    assert life[i] > 100 * MS
    tape = rewrite(pair, tmp_path / "bad", "one", set_volume(int(o.seq[i]), 3, 12345))
    # An explicit tolerance: the automatic one grows with the pair's p99 poll period, and
    # on a loaded machine it outgrew the book's whole life (no conflict could be seen).
    r = merge(tape, "zero,one", tmp_path / "m", tolerance=int(life[i] // 4))
    assert not r.ok
    [c] = [c for c in r.conflicts if c.seq[1] == int(o.seq[i])]
    assert c.collectors == ("zero", "one")
    assert o.t_after[i] <= c.t_start_ns < c.t_end_ns <= o.t_mid[i + 1]
    assert c.overlap_ns > r.tolerance_ns
    assert "level 3" in c.detail and "12345" in c.detail


def test_merge_offset_auto_estimates_injected_250ms_within_its_uncertainty(pair, tmp_path):
    tape = rewrite(pair, tmp_path / "skew", "one", shift_clock(250 * MS))
    r0 = merge(tape, "zero,one", tmp_path / "m0", write=False)
    assert r0.notes and "--offset auto" in r0.notes[0]
    r = merge(tape, "zero,one", tmp_path / "m", offset="auto")
    [off] = r.offsets
    assert abs(off.offset_ns - 250 * MS) <= off.uncertainty_ns + off.jitter_ns
    assert off.applied_ns == off.offset_ns and off.pairs >= 20
    assert r.ok and r.notes == [] and r.seen_by_all == merge(pair, "zero,one", None,
                                                             write=False).seen_by_all
    # Merged times are on zero's clock: the first state is the earlier first observation.
    snap = booktape.read_arrow(tmp_path / "m", columns=["t_before_ns"], snapshots_only=True)
    first = min(int(states(pair, "zero").t_before[0]), int(states(pair, "one").t_before[0]))
    assert abs(int(snap.column("t_before_ns")[0].as_py()) - first) < 50 * MS
    # An explicit offset is applied as given.
    r2 = merge(tape, "zero,one", tmp_path / "m2", offset="250ms")
    assert r2.offsets[0].applied_ns == 250 * MS and r2.ok


def test_merge_bad_input_names_the_problem(pair, tmp_path):
    with pytest.raises(BadArgument, match="at least two"):
        merge(pair, "zero", tmp_path / "m")
    with pytest.raises(BadArgument, match="twice"):
        merge(pair, "zero,zero", tmp_path / "m")
    with pytest.raises(TapeNotFound, match="'two'"):
        merge(pair, "zero,two", tmp_path / "m")
    with pytest.raises(BadArgument, match="invalid --offset"):
        merge(pair, "zero,one", tmp_path / "m", offset="soon")
    merge(pair, "zero,one", tmp_path / "m")
    with pytest.raises(BadArgument, match="already holds a tape"):
        merge(pair, "zero,one", tmp_path / "m")


def test_merge_offset_auto_without_common_states_is_bad_input(tmp_path):
    tape = tmp_path / "t"
    booktape.record(tape, "RIU2", collector="zero", polls=300,
                    source_options={"lockstep": True, "seed": 3})
    booktape.record(tape, "RIU2", collector="one", polls=300,
                    source_options={"lockstep": True, "seed": 4})
    with pytest.raises(BadArgument, match="cannot estimate the clock offset"):
        merge(tape, "zero,one", tmp_path / "m", offset="auto")


def test_merge_collectors_sharing_no_state_over_the_same_time_is_bad_input(pair, tmp_path):
    # Another market at the same times (issue 14: an IndexError in align after minutes).
    def other_market(t):
        return t.set_column(t.schema.get_field_index("price"), "price",
                            pc.add(t.column("price"), pa.scalar(5000.0)))
    tape = rewrite(pair, tmp_path / "other", "one", other_market)
    with pytest.raises(BadArgument, match="share no book state.*did not record the same market"):
        merge(tape, "zero,one", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_merge_collectors_at_other_times_is_their_union_with_a_note(tmp_path):
    tape = tmp_path / "t"
    booktape.record(tape, "RIU2", collector="zero", polls=300,
                    source_options={"lockstep": True, "seed": 3})
    booktape.record(tape, "RIU2", collector="one", polls=300,
                    source_options={"lockstep": True, "seed": 4})
    r = merge(tape, "zero,one", tmp_path / "m")
    z, o = states(tape, "zero"), states(tape, "one")
    assert r.ok and r.seen_by_all == 0 and r.merged_states == len(z) + len(o)
    assert "no overlap" in r.notes[0]


@pytest.mark.parametrize("damage", ["none", "volume", "burst"])
def test_merge_in_small_rounds_same_report_and_tape_as_in_one(pair, tmp_path, damage):
    """The streamed merge (issue 12) cuts the day into rounds; where it cuts changes nothing."""
    z, o = states(pair, "zero"), states(pair, "one")
    long_lived = int(np.argmax(np.where(np.isin(o.hash[:-1], z.hash), np.diff(o.t_mid), 0)))
    tape = {"none": lambda: pair,
            "volume": lambda: rewrite(pair, tmp_path / "v", "one",
                                      set_volume(int(o.seq[long_lived]), 2, 4321)),
            "burst": lambda: rewrite(pair, tmp_path / "b", "one",
                                     drop_seqs(int(o.seq[5]), int(o.seq[12])))}[damage]()
    reports, tapes = [], []
    for k, n in enumerate((10**9, 3, 11)):
        calls: list[tuple[str, int, int]] = []
        # A damaged volume is only a conflict if it outlives the tolerance (see above).
        tol = int(np.diff(o.t_mid)[long_lived] // 4) if damage == "volume" else None
        r = merge(tape, "zero,one", tmp_path / f"m{k}", round_states=n, tolerance=tol,
                  progress=lambda *a, c=calls: c.append(a))
        d = r.to_dict()
        d.pop("parts"), d.pop("out")
        reports.append(d)
        tapes.append(booktape.read_arrow(tmp_path / f"m{k}", columns=[
            "seq", "t_before_ns", "t_after_ns", "blind_ns", "level", "type", "price", "volume",
            "seen_by", "first_by", "src_seq"]).drop_columns(["collector"]))
        # Progress: both phases, monotone, each ending at every state of both collectors.
        expected = len(states(tape, "zero")) + len(states(tape, "one"))
        for phase in ("read", "merge"):
            seen = [(c[1], c[2]) for c in calls if c[0] == phase]
            assert seen and [d for d, _ in seen] == sorted(d for d, _ in seen)
            assert seen[-1] == (expected, expected)
    assert reports[1] == reports[0] and reports[2] == reports[0]
    assert tapes[1].equals(tapes[0]) and tapes[2].equals(tapes[0])
    assert (damage == "volume") == (not reports[0]["ok"])
