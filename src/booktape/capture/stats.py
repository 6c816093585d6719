"""Live counters shared between the capture process and whoever shows status.

A ``multiprocessing.RawArray`` of int64: lock-free (each field has one writer),
picklable under ``spawn``, and readable at any time from the parent.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

FIELDS = (
    "polls", "stored", "unchanged", "none_results", "rows", "buffered_bytes",
    "sealed_parts", "last_poll_ns", "handoffs", "spilled_bytes", "restarts",
    "durable_snapshots", "started_ns", "stopped_ns",
    "next_open_ns",  # a scheduled recorder waiting for its session (service/schedule.py)
)
IDX = {name: i for i, name in enumerate(FIELDS)}


class Stats:
    """Named int64 counters over shared memory."""

    def __init__(self, arr: Any = None) -> None:
        self.arr = arr if arr is not None else mp.RawArray("q", len(FIELDS))

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

    def as_dict(self) -> dict[str, int]:
        return {n: int(self.arr[i]) for i, n in enumerate(FIELDS)}
