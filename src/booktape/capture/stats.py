"""Live counters shared between the capture process and whoever shows status.

A ``multiprocessing.RawArray`` of int64: lock-free (each field has one writer),
picklable under ``spawn``, and readable at any time from the parent. After the
global fields come ``MAX_SYMBOLS`` per-symbol slots (last change, stored
states, stale flag, re-subscribe request) for health and the watchdog.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

FIELDS = (
    "polls", "stored", "unchanged", "none_results", "rows", "buffered_bytes",
    "sealed_parts", "last_poll_ns", "handoffs", "spilled_bytes", "restarts",
    "durable_snapshots", "started_ns", "stopped_ns",
    # Wall ns of the latest poll, published with the counters (health: "stuck").
    "last_poll_at_ns",
    # 0 no schedule (always open), 1 open, 2 closed, 3 waiting: set by whoever
    # runs the schedule; health and the watchdog read it.
    "session_state",
    # Watchdog: stale episodes so far; wall-clock steps re-anchored (clock_step rows).
    "stale_events", "clock_steps",
    # Terminal reports it lost its broker (1) or not (0); set by the source's events.
    "broker_lost",
    "next_open_ns",  # a scheduled recorder waiting for its session (service/schedule.py)
    # Bumped every second by the saver while a seal runs: a long seal shows no
    # other progress, and the drain's watchdog must not take it for a hang.
    "seal_beat",
    # Wall ns at which the poll loop ended (close, deadline, --polls, stop), 0 while it
    # runs: what follows is the drain and the seal, which health calls "draining".
    "polls_ended_ns",
)
IDX = {name: i for i, name in enumerate(FIELDS)}

MAX_SYMBOLS = 256
#: Per-symbol slots: wall ns of the chunk in which the book last changed, the
#: next seq, 1 while flagged stale, 1 while a re-subscribe is requested.
SYMBOL_FIELDS = ("last_change_ns", "next_seq", "stale", "resubscribe")
_SYM0 = len(FIELDS)
SESSION_STATES = {0: "open", 1: "open", 2: "closed", 3: "waiting"}


def symbol_index(field: str, k: int) -> int:
    """Index in the array of per-symbol ``field`` of symbol ``k`` (k < MAX_SYMBOLS)."""
    return _SYM0 + SYMBOL_FIELDS.index(field) * MAX_SYMBOLS + k


class Stats:
    """Named int64 counters over shared memory."""

    def __init__(self, arr: Any = None) -> None:
        self.arr = arr if arr is not None else mp.RawArray(
            "q", len(FIELDS) + len(SYMBOL_FIELDS) * MAX_SYMBOLS)

    def __getstate__(self) -> Any:
        return self.arr

    def __setstate__(self, arr: Any) -> None:
        self.arr = arr

    def get(self, name: str) -> int:
        return int(self.arr[IDX[name]])

    def set(self, name: str, value: int) -> None:
        self.arr[IDX[name]] = value

    def add(self, name: str, value: int = 1) -> None:
        self.arr[IDX[name]] += value

    def sym_get(self, field: str, k: int) -> int:
        return int(self.arr[symbol_index(field, k)]) if k < MAX_SYMBOLS else 0

    def sym_set(self, field: str, k: int, value: int) -> None:
        if k < MAX_SYMBOLS:
            self.arr[symbol_index(field, k)] = value

    def as_dict(self) -> dict[str, int]:
        return {n: int(self.arr[i]) for i, n in enumerate(FIELDS)}
