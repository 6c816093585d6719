"""Optional measurements for ``benchmarks/``: poll start times and durability latency.

Off unless ``RecordPlan.diag_dir`` is set; then the acquirer's getters are
wrapped to log a ``perf_counter_ns`` stamp per poll (the wrapper costs the
same in every topology, so comparisons stay fair), and whoever makes data
durable logs ``now - t_after`` for every snapshot it just fsync'd.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

T = TypeVar("T")

_MAX_LATENCY_SAMPLES = 4_000_000


def traced(getters: Sequence[Callable[[], T]], starts: array[int]) -> list[Callable[[], T]]:
    """Getters that append ``perf_counter_ns()`` to ``starts`` before each call."""
    perf = time.perf_counter_ns
    push = starts.append

    def wrap(g: Callable[[], T]) -> Callable[[], T]:
        def call() -> T:
            push(perf())
            return g()
        return call

    return [wrap(g) for g in getters]


def write_poll_trace(diag_dir: str, starts: array[int], wall_offset_ns: int) -> None:
    """Poll start stamps as wall-clock int64 ns in ``polls.npy``."""
    a = np.frombuffer(starts, dtype=np.int64) + wall_offset_ns
    np.save(Path(diag_dir) / "polls.npy", a)


class LatencyProbe:
    """Collects ``durable_time - t_after`` per snapshot; a no-op without a directory."""

    def __init__(self, diag_dir: str | None, name: str) -> None:
        self.path = Path(diag_dir) / f"latency-{name}-{os.getpid()}.npy" if diag_dir else None
        self._pending: list[np.ndarray] = []
        self._done: list[np.ndarray] = []
        self._n = 0

    def note(self, batch: pa.RecordBatch) -> None:
        if self.path is None:
            return
        level = batch.column("level").to_numpy()
        ta = batch.column("t_after_ns").to_numpy()
        self._pending.append(ta[level <= 0])  # one row per snapshot

    def durable(self, now_ns: int) -> None:
        if self.path is None or not self._pending:
            return
        lat = now_ns - np.concatenate(self._pending)
        self._pending.clear()
        if self._n < _MAX_LATENCY_SAMPLES:
            self._done.append(lat)
            self._n += lat.size

    def dump(self) -> None:
        if self.path is None or not self._done:
            return
        np.save(self.path, np.concatenate(self._done))


def write_json(diag_dir: str | None, name: str, obj: object) -> None:
    if diag_dir:
        (Path(diag_dir) / name).write_text(json.dumps(obj))
