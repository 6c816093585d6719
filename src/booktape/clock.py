"""Clocks: wall time with sub-microsecond resolution on every OS.

Windows' ``time.time_ns()``/``datetime.now()`` historically ticks in ~1 ms
(or 15.6 ms) steps, which the notebook's CSVs show. We read the wall clock
once and advance it with ``perf_counter_ns`` (QueryPerformanceCounter on
Windows, CLOCK_MONOTONIC on Linux), so stamps are fine-grained and monotonic.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in int64 ns since the Unix epoch (UTC)."""

    def now_ns(self) -> int: ...


def _anchor_pair() -> tuple[int, int]:
    # Take the anchor pair as close together as we can: the perf reading
    # between two wall readings, keeping the tightest of a few tries.
    best = None
    for _ in range(5):
        w0 = time.time_ns()
        p = time.perf_counter_ns()
        w1 = time.time_ns()
        if best is None or (w1 - w0) < best[0]:
            best = (w1 - w0, (w0 + w1) // 2, p)
    assert best is not None
    return best[1], best[2]


class SystemClock:
    """Wall clock anchored once, advanced with ``perf_counter_ns``."""

    __slots__ = ("_perf0", "_wall0")

    def __init__(self) -> None:
        self._wall0, self._perf0 = _anchor_pair()

    def reanchor(self) -> int:
        """Read the wall clock again (drift, NTP steps); returns the new :attr:`offset_ns`."""
        self._wall0, self._perf0 = _anchor_pair()
        return self.offset_ns

    def now_ns(self) -> int:
        return self._wall0 + (time.perf_counter_ns() - self._perf0)

    @property
    def offset_ns(self) -> int:
        """Add to a ``perf_counter_ns`` reading to get wall ns (for hot loops)."""
        return self._wall0 - self._perf0


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start_ns: int = 1_660_000_000_000_000_000) -> None:
        self.t = start_ns

    def now_ns(self) -> int:
        return self.t

    def advance(self, ns: int) -> None:
        self.t += ns
