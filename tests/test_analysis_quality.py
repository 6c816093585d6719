"""``booktape.analysis.report`` on real tapes with known injected defects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from booktape.analysis import report
from booktape.analysis._scan import Stream
from booktape.analysis.quality import analyze_stream, weighted_percentiles

from .analysis_tapes import (
    clean_tape,
    corrupt_byte,
    duplicate_part,
    middle_seq,
    missed_burst,
    parts,
    remove_seq,
    stall,
    swap_rows,
)
from .analysis_tapes import (
    problem_kinds as kinds,
)


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    return clean_tape(tmp_path / "data")


def test_report_clean_tape_reports_nothing(tape: Path) -> None:
    rep = report(tape)
    assert rep.ok and rep.problems == [], rep.problems
    (r,) = rep.streams
    n = sum(e.snapshots for e in parts(tape))
    assert r.states == n and r.seq.first == 0 and r.seq.last == n - 1
    assert r.seq.missing == r.seq.duplicated == 0 and r.order.kept
    assert r.polls > r.states and 0 < r.change_rate < 1
    assert 0 < r.poll_duration["p50"] <= r.poll_duration["p99"] <= r.poll_duration["max"]
    assert r.state_gap["count"] == n - 1
    assert [p.file for p in r.parts] == [e.part for e in parts(tape)]
    assert rep.checksums_checked == len(parts(tape))
    t = rep.tables()
    assert t["summary"].loc[0, "time_order"] == "kept" and t["problems"].empty


def test_report_removed_seq_is_named_missing(tape: Path) -> None:
    k = middle_seq(tape)
    remove_seq(tape, k)
    rep = report(tape)
    assert not rep.ok and kinds(rep) == {"missing"}
    (r,) = rep.streams
    assert r.seq.missing == 1 and (r.seq.missing_ranges[0].first, r.seq.missing_ranges[0].last) == (k, k)
    assert str(k) in rep.problems[0].message


def test_report_duplicated_part_is_named_duplicate(tape: Path) -> None:
    e = parts(tape)[1]
    new = duplicate_part(tape, e.part)
    rep = report(tape)
    assert not rep.ok and "duplicate" in kinds(rep)
    assert "disorder" not in kinds(rep)  # the copy is left out of the time-order check
    (r,) = rep.streams
    assert r.seq.duplicated == e.snapshots
    d = r.seq.duplicate_ranges[0]
    assert (d.first, d.last) == (e.seq_min, e.seq_max) and new in d.files and e.part in d.files


def test_report_swapped_rows_is_named_disorder(tape: Path) -> None:
    k = middle_seq(tape)
    swap_rows(tape, k)
    rep = report(tape)
    assert not rep.ok and "disorder" in kinds(rep)
    (r,) = rep.streams
    assert not r.order.kept and r.order.breaks == 1
    b = r.order.rows[0]
    assert (b.seq_before, b.seq_after) == (k + 1, k) and b.back_ns > 0
    assert r.seq.missing == 0 and r.seq.duplicated == 0


def test_report_stall_is_named_with_its_time(tape: Path) -> None:
    k = middle_seq(tape)
    stall(tape, k, 2_000_000_000)
    rep = report(tape)
    assert kinds(rep) == {"stall"} and rep.ok  # a stall is a warning, not loss
    (r,) = rep.streams
    assert r.stall_count == 1
    s = r.stalls[0]
    assert (s.seq_before, s.seq_after) == (k - 1, k) and s.gap_ns >= 2_000_000_000
    assert s.idle_ns > 1_900_000_000


def test_report_corrupted_byte_is_refused_or_skipped_and_named(tape: Path) -> None:
    from booktape.errors import TapeDamaged

    p = parts(tape)[1].part
    corrupt_byte(tape, p)
    with pytest.raises(TapeDamaged, match=p):  # issue 11: damaged data is not presented
        report(tape)
    rep = report(tape, skip_damaged=True)
    assert not rep.ok and "skipped" in kinds(rep)
    assert any(p in x.message for x in rep.problems if x.kind == "skipped")
    # The skipped part's states are missing from the analysis, not altered.
    assert "missing" in kinds(rep)


def test_report_collector_that_missed_a_burst_is_named(tape: Path) -> None:
    lo, hi = missed_burst(tape, 40)
    rep = report(tape)
    bursts = [b for b in rep.bursts if b.collector == "one"]
    assert len(bursts) == 1 and bursts[0].other == "zero" and bursts[0].states_missed == 40
    assert not [b for b in rep.bursts if b.collector == "zero"]
    assert "missed-burst" in kinds(rep)
    one = next(r for r in rep.streams if r.collector == "one")
    assert one.seq.missing == 0  # its own seq is continuous: only the comparison shows it


def _stream(tb: np.ndarray, ta: np.ndarray, unchanged: np.ndarray | None = None) -> Stream:
    n = tb.size
    return Stream("S", "c", "tape", np.arange(n, dtype=np.int64), tb.astype(np.int64),
                  ta.astype(np.int64), np.zeros(n, np.uint32) if unchanged is None else unchanged,
                  np.zeros(n, np.int32), [], True)


def test_analyze_stream_gaps_and_polls_from_known_times() -> None:
    tb = np.arange(0, 10_000_000, 1_000_000)  # a state every 1 ms
    r = analyze_stream(_stream(tb, tb + 10_000, np.full(10, 9, np.uint32)))
    assert r.states == 10 and r.polls == 100 and r.change_rate == pytest.approx(0.1)
    assert r.state_gap["p50"] == 1_000_000 and r.poll_duration["max"] == 10_000
    assert r.poll_gap["p50"] == pytest.approx(100_000, rel=0.01)  # 10 polls per 1 ms gap
    assert r.stall_count == 0 and r.order.kept


def test_weighted_percentiles_counts_each_value_by_weight() -> None:
    x = np.array([1.0, 100.0])
    p = weighted_percentiles(x, np.array([99, 1]))
    assert p["count"] == 100 and p["p50"] == pytest.approx(1.0, rel=0.01)
    assert p["max"] == 100.0 and p["mean"] == pytest.approx(1.99)


def test_pause_between_two_recording_sessions_is_not_a_stall(tmp_path):
    import time

    import booktape
    from booktape.analysis import report

    tape = tmp_path / "two"
    booktape.record(tape, "RIU2", polls=3000, source_options={"lockstep": True})
    time.sleep(1.5)  # the recorder is off: no polls, no stall
    booktape.record(tape, "RIU2", polls=3000, source_options={"lockstep": True})
    # Only pauses over 1 s count here, so a loaded machine's hiccups cannot.
    [r] = report(tape, stall_min="1s").streams
    assert r.seq.missing == 0
    assert r.stall_count == 0
    assert r.long_gap_count >= 1  # still listed as a long gap, with its times
