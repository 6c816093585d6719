"""Trading sessions in ``analyze``: closed hours and scheduled pauses are nobody's stall.

The windows come from a calendar (``analyze --session NAME`` / ``--calendar
FILE``; the CLI computes them, this layer sits below the calendars) or from
the ``session_open`` events a scheduled recorder wrote. A gap between two
states that is not wholly inside one window spans closed time: it is not
reported as a stall or a long gap. Each window gets a row of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SessionWindow:
    """One trading window: ``[open_ns, close_ns)``."""

    open_ns: int
    close_ns: int
    date: str = ""
    calendar: str = ""


@dataclass
class SessionRow:
    """What one stream did in one window."""

    date: str
    calendar: str
    open_ns: int
    close_ns: int
    states: int
    first_ns: int | None
    last_ns: int | None
    start_late_ns: int | None  # first state − open
    end_early_ns: int | None  # close − last state
    max_gap_ns: int  # the longest gap between states inside the window
    stalls: int


def windows_from_events(events: list[dict[str, Any]]) -> list[SessionWindow]:
    """The windows recorded by ``session_open`` events (a scheduled recorder's), sorted."""
    seen: dict[tuple[int, int], SessionWindow] = {}
    for e in events:
        d = e.get("detail") or {}
        if e.get("kind") == "session_open" and "open_ns" in d and "close_ns" in d:
            w = SessionWindow(int(d["open_ns"]), int(d["close_ns"]), str(d.get("date", "")),
                              str(d.get("calendar", "")))
            seen.setdefault((w.open_ns, w.close_ns), w)
    return sorted(seen.values(), key=lambda w: w.open_ns)


def gaps_in_windows(m: np.ndarray, windows: list[SessionWindow]) -> np.ndarray:
    """Per gap ``m[i] → m[i+1]``: True when both ends lie in the same window."""
    if m.size < 2:
        return np.zeros(0, dtype=bool)
    opens = np.array([w.open_ns for w in windows], dtype=np.int64)
    closes = np.array([w.close_ns for w in windows], dtype=np.int64)
    j = np.searchsorted(opens, m[:-1], side="right") - 1
    ok = j >= 0
    jj = np.where(ok, j, 0)
    return ok & (m[:-1] >= opens[jj]) & (m[1:] < closes[jj])


def session_rows(m: np.ndarray, gap: np.ndarray, stall_mask: np.ndarray,
                 windows: list[SessionWindow]) -> list[SessionRow]:
    """One row per window: states, coverage of the window, longest gap and stalls inside it."""
    out: list[SessionRow] = []
    for w in windows:
        lo, hi = np.searchsorted(m, w.open_ns, "left"), np.searchsorted(m, w.close_ns, "left")
        n = int(hi - lo)
        inner = slice(lo, max(lo, hi - 1))  # gaps between states both inside the window
        g = gap[inner]
        first = int(m[lo]) if n else None
        last = int(m[hi - 1]) if n else None
        out.append(SessionRow(
            date=w.date, calendar=w.calendar, open_ns=w.open_ns, close_ns=w.close_ns, states=n,
            first_ns=first, last_ns=last,
            start_late_ns=None if first is None else first - w.open_ns,
            end_early_ns=None if last is None else w.close_ns - last,
            max_gap_ns=int(g.max()) if g.size else 0, stalls=int(stall_mask[inner].sum())))
    return out
