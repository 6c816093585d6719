"""``merge``'s first pass: what it needs of a whole collector, in ~16 bytes per state.

The clock offset is a median over the whole day and the tolerance comes from
poll-timing percentiles over the whole day, so they are measured before any
state is aligned. This pass streams a collector's level rows once
(:func:`.batches.iter_batches`, checksums checked), hashes each book, and keeps
only the hash and ``t_mid`` of each distinct state; poll durations and periods
are reduced to their percentiles as soon as the collector is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .batches import collector_files, iter_batches
from .states import STATE_COLUMNS, PollStats, snapshot_states

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class CollectorScan:
    """One collector of one symbol, reduced for the offset and tolerance estimates."""

    name: str
    states: int  # stored snapshots
    hash: U64  # of each distinct state (a change from the state before), in seq order
    t_mid: I64  # of the same states, on the collector's own clock
    t_first_ns: int  # t_mid of its first and last stored state (own clock)
    t_last_ns: int
    poll: PollStats

    @property
    def distinct(self) -> int:
        return len(self.hash)


def expected_states(data: str | Path, symbol: str, collector: str) -> int:
    """States the manifests list for a collector (journals not counted): for progress."""
    return sum(f.entry.snapshots for f in collector_files(data, symbol, collector)
               if f.entry is not None)


def _cat(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def scan_collector(data: str | Path, symbol: str, collector: str,
                   progress: Progress | None = None) -> CollectorScan:
    """Stream one collector's states; see the module docstring."""
    hashes: list[U64] = []
    mids: list[I64] = []
    durs: list[I64] = []
    gaps: list[npt.NDArray[np.float64]] = []
    prev_hash: int | None = None
    prev_seq = prev_tb = -1
    n = 0
    first = last = 0
    for t in iter_batches(data, symbol, collector, columns=STATE_COLUMNS):
        s = snapshot_states(t)
        if not len(s):
            continue
        tm = s.t_mid
        if n == 0:
            first = int(tm[0])
        last = int(tm[-1])
        keep = np.ones(len(s), bool)
        keep[1:] = s.hash[1:] != s.hash[:-1]
        if prev_hash is not None:
            keep[0] = int(s.hash[0]) != prev_hash
        hashes.append(s.hash[keep])
        mids.append(tm[keep])
        durs.append(s.t_after - s.t_before)
        # The period between stored states i and i+1 spread over the unchanged polls
        # between them (as :func:`.states.poll_stats`), across batch edges too.
        seq = np.r_[prev_seq, s.seq.astype(np.int64)] if prev_seq >= 0 else s.seq.astype(np.int64)
        tb = np.r_[prev_tb, s.t_before] if prev_seq >= 0 else s.t_before
        un = s.unchanged if prev_seq >= 0 else s.unchanged[1:]
        contiguous = np.diff(seq) == 1
        g = np.diff(tb)[contiguous] / (un[contiguous] + 1)
        gaps.append(g[g >= 0])
        prev_hash, prev_seq, prev_tb = int(s.hash[-1]), int(s.seq[-1]), int(s.t_before[-1])
        n += len(s)
        if progress is not None:
            progress(len(s))
    dur = _cat(durs, np.int64)
    del durs
    gap = _cat(gaps, np.float64)
    del gaps
    if n:
        per = np.percentile(gap, [50, 99]) if len(gap) else np.zeros(2)
        d = np.percentile(dur, [50, 99])
        stats = PollStats(int(d[0]), int(d[1]), int(per[0]), int(per[1]))
    else:
        stats = PollStats(0, 0, 0, 0)
    del dur, gap
    return CollectorScan(collector, n, _cat(hashes, np.uint64), _cat(mids, np.int64),
                         first, last, stats)
