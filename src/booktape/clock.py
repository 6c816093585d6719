"""Clocks: wall time with sub-microsecond resolution on every OS.

Windows' ``time.time_ns()``/``datetime.now()`` historically ticks in ~1 ms
(or 15.6 ms) steps, which the notebook's CSVs show. We read the wall clock
once and advance it with ``perf_counter_ns`` (QueryPerformanceCounter on
Windows, CLOCK_MONOTONIC on Linux), so stamps are fine-grained and monotonic.

Test facility: ``BOOKTAPE_DEV_CLOCK="<virtual start, ISO>*<speed>@<real start ns>"``
in the environment makes every process's clock (stamps, rotation, the sim's
market, the session scheduler) run ``speed`` times faster from a virtual start,
so a whole trading day can be recorded in minutes. All processes given the
same value agree on the time. :func:`dev_clock_env` builds the value. Never
set it in production: stamps would be fiction.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Protocol

DEV_CLOCK_ENV = "BOOKTAPE_DEV_CLOCK"


def dev_clock_env(start: str, speed: float, real_start_ns: int | None = None) -> str:
    """The ``BOOKTAPE_DEV_CLOCK`` value for a clock at ``start`` (ISO, with offset) running ``speed``x."""
    real = time.time_ns() if real_start_ns is None else real_start_ns
    return f"{start}*{speed:g}@{real}"


def _parse_dev_clock(value: str | None) -> tuple[int, int, float] | None:
    if not value:
        return None
    try:
        start, rest = value.rsplit("*", 1)
        speed_s, real_s = rest.split("@", 1)
        t = dt.datetime.fromisoformat(start)
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        speed = float(speed_s)
        if speed <= 0:
            raise ValueError(speed)
        return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000, int(real_s), speed
    except ValueError:
        raise SystemExit(f"Error: invalid {DEV_CLOCK_ENV} {value!r}: "
                         "use <ISO start>*<speed>@<real start ns>") from None


_DEV = _parse_dev_clock(os.environ.get(DEV_CLOCK_ENV))

if _DEV is None:
    time_ns = time.time_ns
    perf_counter_ns = time.perf_counter_ns
    speed = 1.0

    def sleep(seconds: float) -> None:
        """``time.sleep`` in this clock's seconds."""
        time.sleep(seconds)
else:
    _V0, _R0, speed = _DEV

    def time_ns() -> int:
        """Virtual wall time: the same formula in every process."""
        return _V0 + int((time.time_ns() - _R0) * speed)

    def perf_counter_ns() -> int:
        return int(time.perf_counter_ns() * speed)

    def sleep(seconds: float) -> None:
        time.sleep(seconds / speed)


class Clock(Protocol):
    """Anything that tells the time in int64 ns since the Unix epoch (UTC)."""

    def now_ns(self) -> int: ...


def _anchor_pair() -> tuple[int, int]:
    # Take the anchor pair as close together as we can: the perf reading
    # between two wall readings, keeping the tightest of a few tries.
    best = None
    for _ in range(5):
        w0 = time_ns()
        p = perf_counter_ns()
        w1 = time_ns()
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
        return self._wall0 + (perf_counter_ns() - self._perf0)

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
