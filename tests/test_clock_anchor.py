"""Long days: the capture loop re-reads the wall clock; steps are rows, stamps stay monotonic."""

from __future__ import annotations

import time

import numpy as np

from booktape.capture.frame import decode
from booktape.capture.loop import CaptureConfig, StopFlag, run_capture
from booktape.capture.stats import Stats, symbol_index
from booktape.clock import SystemClock
from booktape.model import BookInfo


class SteppingClock:
    """An injected wall clock: each re-anchor returns the next planned offset step."""

    def __init__(self, offset: int, steps: list[int]) -> None:
        self.offset = offset
        self.steps = list(steps)
        self.calls = 0

    def reanchor(self) -> int:
        self.calls += 1
        if self.steps:
            self.offset += self.steps.pop(0)
        return self.offset


def _ticking_book():
    n = [0]

    def get():
        n[0] += 1
        return (BookInfo(1, 100.0 + n[0] % 7, n[0], float(n[0])),
                BookInfo(2, 90.0, 1, 1.0))
    return get


def _run(steps: list[int], polls: int = 60_000):
    start = SystemClock().offset_ns
    anchor = SteppingClock(start, steps)
    chunks, reported = [], []
    cfg = CaptureConfig(symbols=("A",), max_polls=polls, chunk_ns=1_000_000,
                        reanchor_ns=5_000_000)
    stats = Stats()
    res = run_capture([_ticking_book()], cfg, start, [0], chunks.append, StopFlag(), stats,
                      anchor=anchor, on_step=lambda t, s: reported.append((t, s)))
    heads = [b.filter(np.asarray(b.column("level")) <= 0) for b in (decode(c)[0] for c in chunks)]
    tb = np.concatenate([b.column("t_before_ns").to_numpy() for b in heads])
    ta = np.concatenate([b.column("t_after_ns").to_numpy() for b in heads])
    return res, anchor, reported, tb, ta, stats


def test_steps_back_and_forward_are_reported_and_stamps_stay_monotonic():
    # -40 ms (an NTP step back), +3 ms forward, then tiny drift under the threshold.
    res, anchor, reported, tb, ta, stats = _run([-40_000_000, 3_000_000, 200_000, -300_000])
    assert anchor.calls >= 4, "the loop must re-anchor on its cadence"
    assert [s for _, s in reported] == [-40_000_000, 3_000_000]
    assert stats.get("clock_steps") == 2
    assert np.all(np.diff(tb) >= 0) and np.all(ta >= tb)
    assert np.all(tb[1:] >= ta[:-1]), "a state's poll never overlaps the previous one"
    # After the step back the stamps follow the new (earlier) wall clock, held
    # flat only until it passes the last stamp: the last ones are ~40 ms behind
    # what the initial anchor would have said.
    assert res.stored == len(tb)


def test_without_steps_nothing_is_reported_and_stamps_track_the_wall_clock():
    before = time.time_ns()
    res, anchor, reported, tb, ta, stats = _run([], polls=20_000)
    after = time.time_ns()
    assert reported == [] and stats.get("clock_steps") == 0
    assert before - 2_000_000 <= tb[0] and ta[-1] <= after + 2_000_000


def test_health_counters_are_published_from_the_loop():
    res, _, _, tb, ta, stats = _run([], polls=5_000)
    assert stats.get("last_poll_at_ns") >= ta[-1] - 1
    assert stats.sym_get("next_seq", 0) == res.next_seq[0]
    assert stats.sym_get("last_change_ns", 0) >= ta[-1] - 60_000_000
    assert stats.arr[symbol_index("last_change_ns", 1)] == 0
