"""A calendar's windows as ``analyze`` takes them (plain ns intervals)."""

from __future__ import annotations

from collections.abc import Callable

from ..analysis.sessions import SessionWindow
from .calendar import Calendar
from .schedule import merged_window


def windows_between(cal: Calendar) -> Callable[[int, int], list[SessionWindow]]:
    """``(t0_ns, t1_ns) → windows`` overlapping that span (touching windows joined)."""

    def get(t0: int, t1: int) -> list[SessionWindow]:
        out: list[SessionWindow] = []
        t = t0
        while True:
            w = merged_window(cal, t)
            if w is None or w.open_ns > t1:
                return out
            out.append(SessionWindow(w.open_ns, w.close_ns, w.date.isoformat(), w.calendar))
            t = w.close_ns

    return get



