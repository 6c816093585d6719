"""``merge``'s first pass: what it needs of a whole collector, in bounded memory.

The clock offset is a median over the day and the tolerance comes from
poll-timing percentiles over the day, so they are measured before any state is
aligned. This pass streams a collector's level rows once
(:func:`.batches.iter_batches`, checksums checked), hashes each book, and keeps
a sample (:mod:`.sample`): the hash and ``t_mid`` of at most
:data:`~.sample.OFFSET_SAMPLE` distinct states, chosen by hash so that two
collectors keep the same books, and at most :data:`~.sample.TIMING_SAMPLE` poll
durations and periods. Both are exact for tapes that fit in them; a full day's
first pass stays at ~70 MB per collector whatever its length (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .batches import collector_files, iter_batches
from .merge_bound import CollectorStates
from .sample import OFFSET_SAMPLE, TIMING_SAMPLE, HashSample, Reservoir
from .states import STATE_COLUMNS, PollStats, snapshot_states

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class CollectorScan:
    """One collector of one symbol, reduced for the offset and tolerance estimates."""

    name: str
    states: int  # stored snapshots
    distinct: int  # of them, those that differ from the state before
    sample: HashSample  # hash and t_mid (own clock) of distinct states, the first one left out
    t_first_ns: int  # t_mid of its first and last stored state (own clock)
    t_last_ns: int
    poll: PollStats
    # t_before, t_after, blind_ns (-1: unknown), book hash and whether unchanged polls
    # followed, of every state in seq order, for the union's blind_ns (:mod:`.merge_bound`):
    # the one part of the pass that grows with the day, 33 B a state, read here rather
    # than by a pass of its own.
    times: CollectorStates


def expected_states(data: str | Path, symbol: str, collector: str) -> int:
    """States the manifests list for a collector (journals not counted): for progress."""
    return sum(f.entry.snapshots for f in collector_files(data, symbol, collector)
               if f.entry is not None)


def scan_collector(data: str | Path, symbol: str, collector: str,
                   progress: Progress | None = None, *, sample_states: int = OFFSET_SAMPLE,
                   timing_states: int = TIMING_SAMPLE) -> CollectorScan:
    """Stream one collector's states; see the module docstring.

    ``sample_states``/``timing_states``: the samples' sizes (tests force them small).
    """
    sample = HashSample(sample_states)
    durs, gaps = Reservoir(timing_states, seed=1), Reservoir(timing_states, seed=2)
    distinct = 0
    tbs: list[I64] = []
    tas: list[I64] = []
    blinds: list[I64] = []
    hashes: list[U64] = []
    uns: list[I64] = []
    prev_hash: int | None = None
    prev_seq = prev_tb = -1
    n = 0
    first = last = 0
    for t in iter_batches(data, symbol, collector, columns=[*STATE_COLUMNS, "blind_ns"]):
        s = snapshot_states(t)
        if not len(s):
            continue
        tbs.append(s.t_before)
        tas.append(s.t_after)
        blinds.append(np.asarray(t.column("blind_ns").take(pa.array(s.row_start))
                                 .fill_null(-1).to_numpy(), np.int64))
        hashes.append(s.hash)
        uns.append(s.unchanged)
        tm = s.t_mid
        if n == 0:
            first = int(tm[0])
        last = int(tm[-1])
        keep = np.ones(len(s), bool)
        keep[1:] = s.hash[1:] != s.hash[:-1]
        if prev_hash is not None:
            keep[0] = int(s.hash[0]) != prev_hash
        distinct += int(keep.sum())
        # A collector's first state is the book it found when it started, not a change
        # it saw happen: it says nothing about the clocks, so the sample leaves it out.
        if n == 0:
            keep[0] = False
        sample.add(s.hash[keep], tm[keep])
        durs.add(s.t_after - s.t_before)
        # The period between stored states i and i+1 spread over the unchanged polls
        # between them (as :func:`.states.poll_stats`), across batch edges too.
        seq = np.r_[prev_seq, s.seq.astype(np.int64)] if prev_seq >= 0 else s.seq.astype(np.int64)
        tb = np.r_[prev_tb, s.t_before] if prev_seq >= 0 else s.t_before
        un = s.unchanged if prev_seq >= 0 else s.unchanged[1:]
        contiguous = np.diff(seq) == 1
        g = np.diff(tb)[contiguous] / (un[contiguous] + 1)
        gaps.add(g[g >= 0])
        prev_hash, prev_seq, prev_tb = int(s.hash[-1]), int(s.seq[-1]), int(s.t_before[-1])
        n += len(s)
        if progress is not None:
            progress(len(s))
    d = durs.percentile([50, 99])
    if d is not None:
        per = gaps.percentile([50, 99])
        per = np.zeros(2) if per is None else per
        stats = PollStats(int(d[0]), int(d[1]), int(per[0]), int(per[1]))
    else:
        stats = PollStats(0, 0, 0, 0)
    blind, un = _join(blinds), _join(uns)
    # Unchanged polls after state k are counted on k+1; after the last one, or before a
    # state that starts a session (its count restarts), they are unknown.
    reread = np.ones(len(blind), bool)
    reread[:-1] = (un[1:] > 0) | (blind[1:] <= 0)
    del un
    h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    hashes.clear()
    return CollectorScan(collector, n, distinct, sample, first, last, stats,
                         CollectorStates(_join(tbs), _join(tas), blind, h, reread))


def _join(parts: list[I64]) -> I64:
    """One array of the batches' (emptying the list: the day is not held twice)."""
    out = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    parts.clear()
    return out
