"""The timeline plot draws what the tables say (issue 14): checked on the plotted series."""

from __future__ import annotations

import numpy as np
import pytest

from booktape.analysis._scan import Stream
from booktape.analysis.plots import human_ms, timeline_figure
from booktape.analysis.quality import analyze_stream

MS = 1_000_000


def _stream(tb: np.ndarray, unchanged: np.ndarray) -> Stream:
    n = tb.size
    return Stream("S", "c", "tape", np.arange(n, dtype=np.int64), tb.astype(np.int64),
                  (tb + 200_000).astype(np.int64), unchanged.astype(np.uint32),
                  np.zeros(n, np.int32), [], True)


def test_timeline_of_a_50ms_recording_draws_20_states_per_second_and_its_gaps() -> None:
    tb = np.arange(0, 60_000 * MS, 50 * MS)  # 60 s, a state every 50 ms
    r = analyze_stream(_stream(tb, np.zeros(tb.size)))
    fig = timeline_figure(r)
    ax1, ax2 = fig.axes
    rate = np.asarray(ax2.lines[0].get_ydata(), dtype=float)
    full = rate[:-1]  # the last bin is cut by the end of the recording
    assert full.size >= 20 and np.allclose(full, 20.0)
    pause = np.asarray(ax1.lines[0].get_ydata(), dtype=float)
    gap = np.asarray(ax1.lines[1].get_ydata(), dtype=float)
    assert np.isfinite(pause).sum() >= full.size and np.allclose(gap[np.isfinite(gap)], 50.0)
    assert r.stall_count == 0


def test_timeline_of_a_quiet_market_agrees_with_the_stall_table() -> None:
    # A state a second, 999 unchanged 1 ms polls between (a quiet book): gaps of 1 s are
    # not stalls; one real 400 ms pause with no polls at 30 s is.
    tb = np.arange(0, 60_000 * MS, 1000 * MS)
    un = np.full(tb.size, 999)
    i = 30
    tb[i:] += 400 * MS
    un[i] = 999  # the same polls, plus 400 ms nobody polled
    r = analyze_stream(_stream(tb, un))
    assert r.stall_count == 1 and r.stalls[0].seq_after == i
    fig = timeline_figure(r)
    ax1 = fig.axes[0]
    t = ax1.lines[0].get_xdata()
    pause = np.asarray(ax1.lines[0].get_ydata(), dtype=float)
    thr = ax1.lines[2].get_ydata()[0]
    assert thr == pytest.approx(r.stall_threshold_ns / 1e6)
    over = np.flatnonzero(np.nan_to_num(pause) > thr)
    assert over.size == 1  # exactly the stall the table reports, and no other point
    stall_t = np.datetime64(r.stalls[0].t_end_ns, "ns")
    assert t[over[0]] <= stall_t < t[over[0]] + np.timedelta64(r.timeline.bin_ns, "ns")
    gap = np.asarray(ax1.lines[1].get_ydata(), dtype=float)
    assert np.nanmax(gap) == pytest.approx(1400.0, rel=0.01)  # the state gaps are drawn too


@pytest.mark.parametrize("ms, text", [(0.0008, "800 ns"), (0.012, "12 µs"), (3.0, "3 ms"),
                                      (1500.0, "1.5 s")])
def test_human_ms_labels(ms: float, text: str) -> None:
    assert human_ms(ms) == text
