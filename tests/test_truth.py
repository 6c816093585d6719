"""``--sim-log`` writes the market's true timeline; ``booktape truth`` scores a tape against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import booktape
from booktape.analysis.truth import BUCKETS, score_truth
from booktape.cli import cli as cli_group
from booktape.sources.sim_timeline import state_hash
from booktape.sources.simulated import SimConfig, book_at
from booktape.tape.seal import PARQUET_OPTIONS


def rewrite_parts(tape: Path, fn) -> None:  # type: ignore[no-untyped-def]
    """Replace every sealed part of every symbol by ``fn(table)``, manifests kept true."""
    import dataclasses

    import pyarrow.parquet as pq

    from booktape.tape.layout import MANIFEST
    from booktape.tape.manifest import read_manifest, sha256_file

    for d in tape.glob("symbol=*/date=*/collector=*"):
        entries = []
        for e in read_manifest(d):
            t = pq.ParquetFile(d / e.part).read()
            pq.write_table(fn(t).replace_schema_metadata(t.schema.metadata), d / e.part,
                           **PARQUET_OPTIONS)
            entries.append(dataclasses.replace(e, bytes=(d / e.part).stat().st_size,
                                               sha256=sha256_file(d / e.part)))
        (d / MANIFEST).write_text("".join(json.dumps(dataclasses.asdict(e)) + "\n"
                                          for e in entries))


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_group, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("truth")
    tape, log = d / "data", d / "truth.json"
    booktape.record(tape, ["RIU2", "SiU2"], duration="1.5s", topology="sequential",
                    source_options={"rate": 3000, "latency_ns": 30_000, "seed": 4,
                                    "log_path": str(log)})
    return tape, log


def test_truth_file_lists_every_state_with_life_and_content(recorded):
    _, log = recorded
    doc = json.loads(log.read_text())
    cfg = SimConfig(**doc["config"])
    tl = doc["symbols"]["RIU2"]
    ev = np.array(tl["events"])
    assert np.array_equal(ev, np.arange(ev[0], ev[-1] + 1))
    assert tl["events"][0] == doc["served"]["RIU2"][0] and tl["events"][-1] == doc["served"]["RIU2"][-1]
    birth, death = np.array(tl["birth_ns"]), np.array(tl["death_ns"])
    assert (death > birth).all() and np.array_equal(birth[1:], death[:-1])
    # Births fall inside the recording's window (on the stamps' wall clock).
    t = booktape.read_arrow(recorded[0], "RIU2", snapshots_only=True)
    tb = t.column("t_before_ns").to_numpy()
    assert tb[0] - 10**8 < birth[len(birth) // 2] < tb[-1] + 10**8
    for k in (0, len(ev) // 2, len(ev) - 1):
        assert tl["hash"][k] == state_hash(book_at(cfg, "RIU2", int(ev[k])))


def test_truth_scores_a_tape_with_no_missed_state_outliving_its_bound(recorded):
    tape, log = recorded
    rep = score_truth(tape, log)
    assert rep.ok and len(rep.scores) == 2
    for s in rep.scores:
        assert s.true_states == s.stored + s.missed and s.stored > 100 and s.unchecked == 0
        assert sum(s.missed_by_lifetime.values()) == s.missed
        assert sum(s.true_by_lifetime.values()) == s.true_states
        assert set(s.missed_by_lifetime) == {b for _, b in BUCKETS}
    r = invoke("truth", str(tape), "--sim-log", str(log))
    assert r.exit_code == 0 and "OK: no missed state outlived its bound" in r.output


def test_truth_names_a_missed_state_that_outlived_a_shrunk_bound(recorded, tmp_path):
    import shutil

    tape = tmp_path / "data"
    shutil.copytree(recorded[0], tape)

    def shrink(t: pa.Table) -> pa.Table:  # claim a 1 ns bound everywhere
        i = t.schema.get_field_index("blind_ns")
        return t.set_column(i, "blind_ns", pa.array(np.ones(t.num_rows, np.int64)))

    rewrite_parts(tape, shrink)
    rep = score_truth(tape, recorded[1], symbol="RIU2")
    assert not rep.ok and all(v.bound_ns == 1 and v.lifetime_ns >= 1 for v in rep.violations)
    assert len(rep.violations) == rep.scores[0].missed
    r = invoke("truth", str(tape), "--sim-log", str(recorded[1]), "--symbol", "RIU2")
    assert r.exit_code == 1
    v = rep.violations[0]
    assert f"state {v.events} lived" in r.output and "FAILED" in r.output


def test_truth_bad_input_is_one_line_and_exit_2(recorded, tmp_path):
    tape, log = recorded
    cut = tmp_path / "cut.json"
    cut.write_bytes(log.read_bytes()[: log.stat().st_size // 2])
    other = tmp_path / "other"
    other_log = tmp_path / "other.json"
    booktape.record(other, "RIU2", duration="0.5s", topology="sequential",
                    source_options={"rate": 3000, "seed": 99, "log_path": str(other_log)})
    old = tmp_path / "old.json"
    d = json.loads(log.read_text())
    old.write_text(json.dumps({"config": d["config"], "served": d["served"]}))
    for args, msg in [
        ((str(tape), "--sim-log", str(cut)), "is truncated or damaged"),
        ((str(tape), "--sim-log", str(old)), "holds no true timeline"),
        ((str(tape), "--sim-log", str(tmp_path / "nope.json")), "no such file"),
        ((str(other), "--sim-log", str(log)), "stored no state inside the window"),
        ((str(tape), "--sim-log", str(other_log), "--symbol", "RIU2"), "stored no state inside"),
    ]:
        r = invoke("truth", *args)
        assert r.exit_code == 2 and r.output.startswith("Error: ") and msg in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1


def test_truth_refuses_another_seed_inside_the_same_window(tmp_path):
    # Two recorders polling one wall-clock window with different seeds: the
    # window fits, the content does not.
    import threading

    tapes = [tmp_path / "a", tmp_path / "b"]
    logs = [tmp_path / "a.json", tmp_path / "b.json"]

    def rec(i: int) -> None:
        booktape.record(tapes[i], "RIU2", duration="1s", topology="sequential",
                        source_options={"rate": 2000, "seed": 20 + i, "log_path": str(logs[i])})

    th = [threading.Thread(target=rec, args=(i,)) for i in range(2)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    r = invoke("truth", str(tapes[0]), "--sim-log", str(logs[1]))
    assert r.exit_code == 2 and "does not describe RIU2/zero" in r.output


def test_truth_says_the_bound_is_unknown_for_a_tape_without_blind_ns(recorded, tmp_path):
    import shutil

    tape = tmp_path / "data"
    shutil.copytree(recorded[0], tape)
    rewrite_parts(tape, lambda t: t.drop_columns(["blind_ns"]))
    r = invoke("truth", str(tape), "--sim-log", str(recorded[1]), "--symbol", "RIU2")
    assert r.exit_code == 2 and "has no blind_ns" in r.output and "unknown" in r.output


def test_truth_of_a_lockstep_recording(tmp_path):
    tape, log = tmp_path / "data", tmp_path / "t.json"
    booktape.record(tape, ["RIU2", "SiU2"], polls=3000, topology="ring",
                    source_options={"lockstep": True, "seed": 8, "log_path": str(log)})
    rep = score_truth(tape, log)
    assert rep.ok
    for s in rep.scores:
        # Every state a call served was stored; those a call stepped over lived 0 ns.
        assert s.missed == s.missed_by_lifetime["<100us"] and s.stored > 500


# A merged tape, built by hand from two collectors' polls of one known market
# (times in µs from T0). Collector zero's poll z3 is slow (-4450..4930 µs) and
# reads state 3 before state 4 is born; collector one's only mid poll o2 is slow
# too (3560..8470) and reads state 5, while zero's quick polls z4, z5 read the
# later states 6 and 7. By t_mid the merged tape holds o2 *after* z4 and z5: the
# tape's order is not the market's. State 4 (0..1650 µs) is missed by both.
T0 = 1_800_000_000_000_000_000
MARKET = [(-10_000, -5_000), (-5_000, -600), (-600, 0), (0, 1_650), (1_650, 3_900),
          (3_900, 5_120), (5_120, 6_500), (6_500, 8_900), (8_900, 12_000)]
# (t_before, t_after, state read, blind_ns µs) per stored state, in poll order.
POLLS = {"zero": [(-9_000, -8_900, 0, 0), (-4_500, -4_470, 1, 100), (-4_450, 4_930, 2, 9_430),
                  (5_107, 5_138, 5, 9_590), (5_185, 5_216, 6, 110), (6_310, 6_630, 7, 1_090),
                  (8_905, 8_966, 8, 960)],
         "one": [(-9_500, -9_400, 0, 0), (3_560, 8_470, 4, 17_970), (11_180, 11_300, 8, 7_740)]}


def _level(state: int) -> tuple[float, float, float, float]:
    return (1.0, 100.0 + state, 1.0, 1.0)  # type, price, volume, volume_dbl: one level


def _hand_built(tmp_path: Path, market: list[tuple[int, int]] = MARKET,
                polls: dict[str, list[tuple[int, ...]]] = POLLS,
                content: list[int] | None = None) -> tuple[Path, Path]:
    """The two collectors' tapes, the truth file of ``market``, and their merged tape.

    ``polls[c]``: ``(t_before, t_after, state read, blind_ns[, unchanged polls before])``.
    ``content[s]``: the book of true state ``s`` (default: its own; equal ones are a
    book that came back)."""
    content = content or list(range(len(market)))
    import struct

    from booktape.read.merge import merge
    from booktape.schema import BOOK_SCHEMA
    from booktape.sources.sim_timeline import TRUTH_VERSION, packed_hash
    from booktape.tape.layout import partition_dir, utc_date
    from booktape.tape.seal import seal_table

    tape = tmp_path / "data"
    for c, stored in polls.items():
        cols: dict[str, list] = {f.name: [] for f in BOOK_SCHEMA}
        for seq, (tb, ta, state, blind, *unchanged) in enumerate(stored):
            typ, price, vol, vol_d = _level(content[state])
            for k, v in (("seq", seq), ("t_before_ns", T0 + tb * 1000),
                         ("t_after_ns", T0 + ta * 1000), ("unchanged", sum(unchanged)),
                         ("blind_ns", blind * 1000), ("level", 0), ("type", int(typ)),
                         ("price", price), ("volume", int(vol)), ("volume_dbl", vol_d)):
                cols[k].append(v)
        d = partition_dir(tape, "RIU2", utc_date(T0), c)
        d.mkdir(parents=True)
        seal_table(pa.table(cols, schema=BOOK_SCHEMA), d, 1,
                   {"collector": c, "symbol": "RIU2", "source": "sim"}, T0)
    merge(tape, "zero,one", tape, name="merged")
    truth = tmp_path / "truth.json"
    hashes = [packed_hash(struct.pack("<4d", *_level(content[s]))) for s in range(len(market))]
    first = min(p[0] for ps in polls.values() for p in ps)
    last = max(p[1] for ps in polls.values() for p in ps)
    truth.write_text(json.dumps({"version": TRUTH_VERSION, "config": {}, "symbols": {"RIU2": {
        "events": list(range(len(market))),
        "birth_ns": [T0 + b * 1000 for b, _ in market],
        "death_ns": [T0 + d * 1000 for _, d in market], "hash": hashes,
        "calls": 10, "window_ns": [T0 + first * 1000, T0 + last * 1000]}}}))
    return tape, truth


def test_truth_checks_a_merged_tape_by_the_intervals_its_bound_covers(tmp_path):
    tape, truth = _hand_built(tmp_path)
    m = booktape.read_arrow(tape, "RIU2", "merged", snapshots_only=True,
                            columns=["t_before_ns", "t_after_ns", "blind_ns"]).to_pandas()
    tb = (m.t_before_ns - T0) // 1000
    # The case: o2 (which read state 4) comes after z4 and z5 in the merged tape, and
    # its bound covers only (t_before of z5, t_after of o2]: zero's 1.09 ms there.
    assert tb.tolist() == [-9_500, -4_500, -4_450, 5_107, 5_185, 3_560, 6_310, 8_905]
    assert m.blind_ns.tolist()[5] == 1_090_000
    # Each collector alone keeps its promise; state 3 (1.65 ms) is missed by both.
    for c in POLLS:
        assert score_truth(tape, truth, collector=c).ok
    rep = score_truth(tape, truth, collector="merged")
    (sc,) = rep.scores
    assert sc.missed == 1 and sc.missed_life_ns is not None
    assert sc.missed_life_ns.tolist() == [1_650_000]
    # The merged states whose interval (t_before[i-1], t_after[i]] holds state 3 are
    # z3 and z4, both bounded by 9.59 ms: no violation (o2's 1.09 ms does not cover it).
    assert rep.ok, [v.describe() for v in rep.violations]
    assert sc.missed_bound_ns is not None and sc.missed_bound_ns.tolist() == [9_590_000]


def test_truth_names_a_violation_of_a_merged_tapes_bound(tmp_path):
    import pyarrow.compute as pc

    tape, truth = _hand_built(tmp_path)

    def shrink(t: pa.Table) -> pa.Table:  # the merged tape claims 1 ms where it had 9.59 ms
        if "seen_by" not in t.schema.names:
            return t
        i = t.schema.get_field_index("blind_ns")
        b = t.column("blind_ns")
        return t.set_column(i, "blind_ns", pc.if_else(pc.greater(b, 9_000_000),
                                                      pa.scalar(1_000_000, pa.int64()), b))

    rewrite_parts(tape, shrink)
    assert score_truth(tape, truth, collector="zero").ok
    rep = score_truth(tape, truth, collector="merged")
    (v,) = rep.violations
    assert v.events == 3 and v.bound_ns == 1_000_000


# A book that came back (states 1 and 3 hold one book: A B A'), times in µs from T0.
# Zero polls slowly: it reads A and misses B and A'. One polls quickly but starts
# late: it misses A, reads B, then A' (470 µs), then C. Zero's read of A ended
# before one read B, and one read B before A', so one's A' is another state than
# zero's A, though the same book. The merge used to fold the two into one (the
# nearest same book in time): the merged tape lost A', which one had stored, and
# its blind_ns over A' was one's 100 µs, a bound on states one *missed* (seen in
# real recordings of two collectors: issue 13).
CAME_BACK = [(-10_000, -5_000), (-5_000, 0), (0, 30), (30, 500), (500, 5_000), (5_000, 9_000)]
CAME_BACK_BOOK = [0, 1, 2, 1, 4, 5]
CAME_BACK_POLLS = {
    "zero": [(-9_000, -8_900, 0, 0), (-4_900, -4_870, 1, 5_000), (505, 535, 4, 5_400),
             (5_005, 5_035, 5, 4_500)],
    "one": [(-9_500, -9_400, 0, 0), (5, 25, 2, 9_600), (45, 65, 3, 60), (515, 540, 4, 100),
            (6_005, 6_025, 5, 100)]}


def test_merge_keeps_a_book_that_came_back_as_its_own_state(tmp_path):
    tape, truth = _hand_built(tmp_path, CAME_BACK, CAME_BACK_POLLS, CAME_BACK_BOOK)
    for c in CAME_BACK_POLLS:
        assert score_truth(tape, truth, collector=c).ok
    m = booktape.read_arrow(tape, "RIU2", "merged", snapshots_only=True,
                            columns=["seq", "t_before_ns", "price", "seen_by"]).to_pandas()
    # A (zero's read) and A' (one's read) are two merged states, each seen by one collector.
    assert ((m.t_before_ns - T0) // 1000).tolist() == [-9_500, -4_900, 5, 45, 505, 5_005]
    assert m.price.tolist() == [100.0, 101.0, 102.0, 101.0, 104.0, 105.0]
    assert m.seen_by.tolist()[1:4] == [1, 2, 2]
    rep = score_truth(tape, truth, collector="merged")
    assert rep.ok, [v.describe() for v in rep.violations]
    (sc,) = rep.scores
    assert sc.missed == 0 and sc.stored == len(CAME_BACK)


# The same defect with both occurrences near (seen in a real pair recording: the
# integrator's /tmp/v13 run). The market goes P C D C' E; zero reads them all, one
# reads C in a slow poll (-55..-5 µs) that overlaps zero's read of D. By t_mid one's
# C is a little nearer zero's C' than zero's C: matched to C', it took C' out of the
# merged tape, and zero's 41 µs bound was claimed over C' (100 µs).
NEAR_TWIN = [(-10_000, -200), (-200, -92), (-92, -40), (-40, 0), (0, 100), (100, 195),
             (195, 5_000)]
NEAR_TWIN_BOOK = [0, 1, 2, 3, 2, 5, 6]
NEAR_TWIN_POLLS = {
    "zero": [(-9_000, -8_900, 0, 0), (-169, -103, 1, 68), (-89, -61, 2, 108), (-40, -18, 3, 41),
             (1, 21, 4, 33), (101, 123, 5, 32), (200, 222, 6, 35)],
    "one": [(-9_500, -9_400, 0, 0), (-170, -80, 1, 93), (-55, -5, 2, 165), (103, 163, 5, 112),
            (197, 234, 6, 84)]}


def test_merge_matches_a_read_to_the_occurrence_no_other_read_separates(tmp_path):
    tape, truth = _hand_built(tmp_path, NEAR_TWIN, NEAR_TWIN_POLLS, NEAR_TWIN_BOOK)
    for c in NEAR_TWIN_POLLS:
        assert score_truth(tape, truth, collector=c).ok
    m = booktape.read_arrow(tape, "RIU2", "merged", snapshots_only=True,
                            columns=["seq", "t_before_ns", "price", "seen_by"]).to_pandas()
    # one's C is zero's first C (seen by both); zero's C' stays, after D.
    assert m.price.tolist() == [100.0, 101.0, 102.0, 103.0, 102.0, 105.0, 106.0]
    assert m.seen_by.tolist()[2:5] == [3, 1, 1]
    rep = score_truth(tape, truth, collector="merged")
    assert rep.ok, [v.describe() for v in rep.violations]
    assert rep.scores[0].missed == 0


# A book that came back while only unchanged polls read it: the market goes A B A' C.
# Zero polls every ~40 µs: it stores A, reads B never (30 µs), reads A' only by
# unchanged polls (12 of them, not stored), then stores C. One polls every ~1 ms: it
# stores B and C and misses A' (470 µs). The merged tape is A B C: A' is in no merged
# state, and zero's 100 µs bound is a promise about states zero *missed*, not about
# A', which zero read. Over B..C only one's bound (1.02 ms) holds.
UNCHANGED_BACK = [(-10_000, -5_000), (-5_000, 0), (0, 30), (30, 500), (500, 5_000),
                  (5_000, 9_000)]
UNCHANGED_BACK_BOOK = [0, 1, 2, 1, 4, 5]
UNCHANGED_BACK_POLLS = {
    "zero": [(-9_000, -8_900, 0, 0), (-4_900, -4_870, 1, 100, 90), (505, 535, 4, 100, 12),
             (5_005, 5_035, 5, 100, 100)],
    "one": [(-9_500, -9_400, 0, 0), (-1_000, -980, 1, 8_500, 7), (5, 25, 2, 1_025),
            (1_005, 1_025, 4, 1_020), (6_005, 6_025, 5, 1_020, 4)]}


def test_merged_bound_leaves_out_a_collector_whose_unchanged_polls_read_a_lost_book(tmp_path):
    tape, truth = _hand_built(tmp_path, UNCHANGED_BACK, UNCHANGED_BACK_POLLS,
                              UNCHANGED_BACK_BOOK)
    for c in UNCHANGED_BACK_POLLS:
        assert score_truth(tape, truth, collector=c).ok
    m = booktape.read_arrow(tape, "RIU2", "merged", snapshots_only=True,
                            columns=["seq", "price", "blind_ns"]).to_pandas()
    assert m.price.tolist() == [100.0, 101.0, 102.0, 104.0, 105.0]
    # A..B: zero's unchanged polls read A, merged state B's predecessor: its 100 µs holds.
    # B..C: they read A (A'), not B: only one's bound covers the interval.
    assert m.blind_ns.tolist()[2:4] == [100_000, 1_025_000]
    rep = score_truth(tape, truth, collector="merged")
    assert rep.ok, [v.describe() for v in rep.violations]
    (sc,) = rep.scores
    assert sc.missed == 1 and sc.missed_bound_ns is not None
    assert sc.missed_bound_ns.tolist() == [1_025_000]
