"""``merge``'s second pass: align, check and write the collectors window by window.

A full day is 10 M states and 320 M level rows per collector: aligned whole, it
took several GB (issue 12). Here each collector is read as a stream
(:func:`.batches.iter_batches`) into a small buffer, and the merge advances in
rounds of about :data:`ROUND_STATES` states:

* **Cut.** The round ends at a time ``w1``; every collector is read on to
  ``w1`` plus the matching window (and the offset corrections), so each state
  before ``w1`` meets every state it could be matched with.
* **Align** the buffers exactly as a whole-day merge does (:mod:`.align`).
* **Commit** a prefix of each collector — the states before ``w1``, shrunk so
  that no merged state is split between committed and carried states (a book
  seen by both, or a run of repeats, is committed whole or carried whole). The
  rest is carried into the next round and aligned again with what follows.
* **Conflicts** need a committed state's neighbours on the other side: the
  committed states whose confirmed interval still reaches a collector's
  uncommitted ones stay as *context* for the next round (not aligned or written
  again), and an overlap is reported in the round that commits the later of its
  two states, so none is reported twice or lost.

Memory is the buffers (a round plus the matching window), the first pass's
bounded samples (:mod:`.sample`), and — the one part that grows with the day —
each collector's and the merged states' ``t_before``, ``t_after`` and
``blind_ns`` for the union's bound (:mod:`.merge_bound`, 24 B a state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..schema import MERGED_SCHEMA
from ._merge_write import MergedWriter, describe_difference, merged_table
from .align import Polls, align, union_order
from .batches import iter_batches
from .conflicts import confirmed_intervals, conflicting_overlaps, episodes
from .merge_bound import CollectorStates, union_blind
from .merge_report import Conflict, Run
from .states import STATE_COLUMNS, PollStats, States, distinct_runs, snapshot_states

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
BoolArr = npt.NDArray[np.bool_]

#: States per collector and round: ~30 MB of level rows at 32 levels (a round's
#: buffers, merged table and Parquet row groups are a few times that; halved from
#: 40 000 for the peak of a 2 x 10 M-state day, BENCHMARKS.md).
ROUND_STATES = 20_000
_NO_TIME = np.iinfo(np.int64).max


def _slice(s: States, lo: int, hi: int | None = None) -> States:
    sl = slice(lo, hi)
    return States(s.seq[sl], s.t_before[sl], s.t_after[sl], s.unchanged[sl], s.hash[sl],
                  s.row_start[sl], s.n_rows[sl])


def _concat(a: States, b: States, rows_a: int) -> States:
    return States(np.concatenate([a.seq, b.seq]), np.concatenate([a.t_before, b.t_before]),
                  np.concatenate([a.t_after, b.t_after]),
                  np.concatenate([a.unchanged, b.unchanged]), np.concatenate([a.hash, b.hash]),
                  np.concatenate([a.row_start, b.row_start + rows_a]),
                  np.concatenate([a.n_rows, b.n_rows]))


class _Feed:
    """One collector read as a stream: committed context states, then live (uncommitted) ones.

    Each batch is hashed once, when it is read; ``table`` and ``states`` always hold
    the context followed by the live states.
    """

    def __init__(self, it: Iterator[pa.Table], shift_ns: int) -> None:
        self.it = it
        self.shift = shift_ns
        self.table = pa.schema([MERGED_SCHEMA.field(c) for c in STATE_COLUMNS]).empty_table()
        self.states = snapshot_states(self.table)
        self.n_ctx = 0
        self.ctx_ids = np.zeros(0, np.int64)
        self.exhausted = False

    @property
    def n_live(self) -> int:
        return len(self.states) - self.n_ctx

    def _pull(self) -> None:
        try:
            t = next(self.it)
        except StopIteration:
            self.exhausted = True
            return
        self.states = _concat(self.states, snapshot_states(t), self.table.num_rows)
        self.table = pa.concat_tables([self.table, t]) if self.table.num_rows else t

    def _t(self, i: int) -> int:
        s = self.states
        return int(s.t_before[i] + (s.t_after[i] - s.t_before[i]) // 2) - self.shift

    def fill_count(self, n: int) -> None:
        while self.n_live < n and not self.exhausted:
            self._pull()

    def fill_until(self, t_ns: int) -> None:
        while not self.exhausted and (self.n_live == 0 or self._t(len(self.states) - 1) < t_ns):
            self._pull()

    def t_at(self, i: int) -> int:
        """Shifted t_mid of the i-th live state."""
        return self._t(self.n_ctx + i)

    def window(self) -> tuple[pa.Table, States, int]:
        """Context and live rows as one table, their states (timestamps shifted), context size."""
        return self.table, self.states.shifted(self.shift), self.n_ctx

    def commit(self, p: int, c0: int, ids: I64) -> None:
        """Live states ``[0, p)`` are written; states ``[c0, n_ctx + p)`` stay as context."""
        end = self.n_ctx + p
        s = self.states
        row0 = int(s.row_start[c0]) if c0 < len(s) else self.table.num_rows
        self.table = self.table.slice(row0)
        cut = _slice(s, c0)
        self.states = States(cut.seq, cut.t_before, cut.t_after, cut.unchanged, cut.hash,
                             cut.row_start - row0, cut.n_rows)
        self.n_ctx = end - c0
        self.ctx_ids = ids[c0:end].copy()


@dataclass
class _Union:
    """The merged states of one round, in union order (before sorting by time)."""

    t: I64  # t_mid on the reference clock (earliest observation)
    rep_c: I64  # collector whose observation is written
    rep_i: I64  # index of that state in the collector's live states
    mask: U64  # seen_by bits
    ids: list[I64]  # per collector, per live state: index of its merged state


def _take(a: np.ndarray, src: I64, has: BoolArr, fill: object) -> np.ndarray:
    """``a[src]`` where ``has``, ``fill`` elsewhere (safe when ``a`` is empty)."""
    out = np.full(len(src), fill, dtype=a.dtype)
    out[has] = a[src[has]]
    return out


def _stamps(live: list[States], rep_c: I64, rep_i: I64) -> tuple[I64, I64]:
    """t_before and t_after of each union item's written observation."""
    tb = np.empty(len(rep_c), np.int64)
    ta = np.empty(len(rep_c), np.int64)
    for k, s in enumerate(live):
        sel = rep_c == k
        tb[sel], ta[sel] = s.t_before[rep_i[sel]], s.t_after[rep_i[sel]]
    return tb, ta


def _align_round(live: list[States], adjust: list[int], window_ns: int,
                 margins: list[int] | None = None) -> _Union:
    """Collector k joins the union of collectors 0..k-1 (as the whole-day merge did).

    ``margins``: how far each collector's applied clock may be from the first's; two
    reads of one content are kept apart when a read of another book lies between them
    by more than that (:func:`.align.align`)."""
    margins = margins or [0] * len(live)
    keeps = [distinct_runs(s) for s in live]
    run_ids = [np.cumsum(k).astype(np.int64) - 1 for k in keeps]
    idx0 = np.flatnonzero(keeps[0]).astype(np.int64)
    u = _Union(live[0].t_mid[idx0], np.zeros(len(idx0), np.int64), idx0,
               np.ones(len(idx0), np.uint64), [run_ids[0]])
    mh = live[0].hash[idx0]
    for k in range(1, len(live)):
        idx = np.flatnonzero(keeps[k]).astype(np.int64)
        h, t = live[k].hash[idx], live[k].t_mid[idx]
        a_tb, a_ta = _stamps(live, u.rep_c, u.rep_i)
        polls = Polls(a_tb, a_ta, live[k].t_before[idx], live[k].t_after[idx],
                      max(margins[:k + 1]))
        ia, jb = align(mh, u.t, h, t + adjust[k], window_ns, polls)
        src_a, src_b = union_order(len(mh), len(h), ia, jb, u.t, t)
        has_a, has_b = src_a >= 0, src_b >= 0
        ta = _take(u.t, src_a, has_a, _NO_TIME)
        tb = _take(t, src_b, has_b, _NO_TIME)
        take_b = tb < ta
        mh = np.where(has_a, _take(mh, src_a, has_a, 0), _take(h, src_b, has_b, 0))
        rep_c = np.where(take_b, k, _take(u.rep_c, src_a, has_a, 0))
        rep_i = np.where(take_b, _take(idx, src_b, has_b, 0), _take(u.rep_i, src_a, has_a, 0))
        bit_b = np.where(has_b, np.uint64(1 << k), np.uint64(0)).astype(np.uint64)
        mask = (_take(u.mask, src_a, has_a, 0) | bit_b).astype(np.uint64)
        pos_a = np.empty(int(has_a.sum()), np.int64)
        pos_a[src_a[has_a]] = np.flatnonzero(has_a)
        pos_b = np.empty(len(h), np.int64)
        pos_b[src_b[has_b]] = np.flatnonzero(has_b)
        u = _Union(np.minimum(ta, tb), rep_c, rep_i, mask,
                   [pos_a[i] for i in u.ids] + [pos_b[run_ids[k]]])
    return u


def _commit_prefix(live: list[States], ids: list[I64], n_items: int, w1: int | None) -> tuple[
        list[int], BoolArr]:
    """How many live states of each collector to commit, and which merged states that is."""
    p = [len(s) if w1 is None else int(np.argmax(s.t_mid >= w1)) if bool(np.any(s.t_mid >= w1))
         else len(s) for s in live]
    while True:
        ok = np.ones(n_items, bool)
        for k, i in enumerate(ids):
            ok[i[p[k]:]] = False
        changed = False
        for k, i in enumerate(ids):
            bad = ~ok[i[:p[k]]]
            if bad.any():
                p[k] = int(np.argmax(bad))
                changed = True
        if not changed:
            return p, ok


@dataclass
class _OpenRun:
    collector: str
    first: int  # merged seq of its first and last state
    last: int
    t_start_ns: int
    t_end_ns: int
    states: int
    mask: int


@dataclass
class Totals:
    """What the rounds add up to (the report's counts, runs and conflicts)."""

    merged_states: int = 0
    merged_rows: int = 0
    seen_by_all: int = 0
    reordered: int = 0
    only_here: list[int] = field(default_factory=list)
    missing: list[Run] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


@dataclass(frozen=True)
class MergePlan:
    """Everything the first pass decided."""

    data: Path
    symbol: str
    collectors: tuple[str, ...]
    applied: list[int]  # offsets subtracted from each collector's timestamps
    match_shift: list[int]  # the offsets used to pair states (measured, else applied)
    window_ns: int
    tolerance_ns: int
    stats: list[PollStats]
    spans: list[tuple[int, int]]  # t_mid of each collector's first/last state, reference clock
    #: how far each collector's applied clock may be from the reference (its offset
    #: estimate's uncertainty when that estimate was applied; 0 for one clock)
    margin_ns: list[int] = field(default_factory=list)


class Rounds:
    """Runs the rounds; see the module docstring."""

    def __init__(self, plan: MergePlan, writer: MergedWriter | None,
                 progress: Callable[[int], None] | None = None,
                 round_states: int = ROUND_STATES,
                 bounds: list[CollectorStates] | Callable[[], list[CollectorStates]] | None
                 = None) -> None:
        self.plan = plan
        self.writer = writer
        self.progress = progress
        self.round_states = round_states
        k = len(plan.collectors)
        self.totals = Totals(only_here=[0] * k)
        self._runs: list[_OpenRun | None] = [None] * k
        self._closed_runs: list[_OpenRun] = []
        self._last_t: int | None = None
        self._id_base = 0
        self._adjust = [a - m for a, m in zip(plan.applied, plan.match_shift)]
        # blind_ns of the merged states (issue 13, :mod:`.merge_bound`), round by round;
        # each needs the merged state before it, so the last one is carried. ``bounds``
        # may be a function giving the collectors' states for one round (mapped from
        # disk, :mod:`.merge_spill`): they are let go after it.
        held = bounds if isinstance(bounds, list) else []
        self._bounds: Callable[[], list[CollectorStates]] = \
            bounds if callable(bounds) else (lambda: held)
        self._last_hash = np.zeros(0, np.uint64)
        self._m_tb: list[I64] = []
        self._m_ta: list[I64] = []
        self._m_blind: list[I64] = []
        self._margin = plan.window_ns + max(abs(a) for a in self._adjust) + 1_000_000

    def run(self) -> Totals:
        p = self.plan
        feeds = [_Feed(iter_batches(p.data, p.symbol, c, columns=STATE_COLUMNS, verify=False),
                       a) for c, a in zip(p.collectors, p.applied)]
        n = self.round_states
        while True:
            for f in feeds:
                f.fill_count(n)
            if all(f.exhausted and f.n_live == 0 for f in feeds):
                break
            w1: int | None = None
            going = [f for f in feeds if not f.exhausted]
            if going:
                w1 = min(f.t_at(min(n, f.n_live) - 1) for f in going) + 1
                for f in feeds:
                    f.fill_until(w1 + self._margin)
            if all(f.exhausted for f in feeds):
                w1 = None  # nothing more to come: commit everything
            committed = self._round(feeds, w1)
            # A round that could commit nothing (states far out of time order) reads more.
            n = self.round_states if committed or w1 is None else 2 * n
        self._flush_runs()
        return self.totals

    def _round(self, feeds: list[_Feed], w1: int | None) -> int:
        p, tot = self.plan, self.totals
        wins = [f.window() for f in feeds]
        live = [_slice(s, n_ctx) for _, s, n_ctx in wins]
        u = _align_round(live, self._adjust, p.window_ns, p.margin_ns)
        n_items = len(u.t)
        pre, ok = _commit_prefix(live, u.ids, n_items, w1)
        order = np.flatnonzero(ok)  # union order
        if len(order):
            t_u = u.t[order]
            tot.reordered += int(np.sum(np.diff(t_u) < 0))
            if self._last_t is not None and int(t_u[0]) < self._last_t:
                tot.reordered += 1
            self._last_t = int(t_u[-1])
        order = order[np.argsort(u.t[order], kind="stable")]  # merged order: by t_mid
        seq0 = tot.merged_states
        mask = u.mask[order]
        blind = self._blind(live, u.rep_c[order], u.rep_i[order])
        if self.writer is not None and len(order):
            rep_c = u.rep_c[order]
            rep_i = u.rep_i[order] + np.array([w[2] for w in wins], np.int64)[rep_c]
            table = merged_table([w[0] for w in wins], [w[1] for w in wins], rep_c, rep_i,
                                 mask, seq0, blind)
            self.writer.write(table)
            tot.merged_rows += table.num_rows
            del table
        elif len(order):
            rep_c = u.rep_c[order]
            tot.merged_rows += int(sum(int(np.sum(live[k].n_rows[u.rep_i[order][rep_c == k]]))
                                       for k in range(len(live))))
        tot.merged_states += len(order)
        full = np.uint64((1 << len(feeds)) - 1)
        tot.seen_by_all += int(np.sum(mask == full))
        t_sorted = u.t[order]
        for k, name in enumerate(p.collectors):
            tot.only_here[k] += int(np.sum(mask == np.uint64(1 << k)))
            self._missing(k, name, mask, t_sorted, seq0)
        # Merged-state ids unique across rounds; context states keep the ids they were given.
        gid = [np.r_[f.ctx_ids, self._id_base + i] for f, i in zip(feeds, u.ids)]
        self._id_base += n_items
        intervals = [confirmed_intervals(s, g, st.period_p50_ns)
                     for (_, s, _), g, st in zip(wins, gid, p.stats)]
        self._conflicts(wins, pre, gid, intervals)
        self._carry(feeds, wins, pre, gid, intervals)
        if self.progress is not None:
            self.progress(sum(pre))
        return len(order)

    def _blind(self, live: list[States], rep_c: I64, rep_i: I64) -> I64:
        tb, ta = _stamps(live, rep_c, rep_i)
        if not len(tb):
            return np.zeros(0, np.int64)
        h = np.empty(len(rep_c), np.uint64)
        for k, s in enumerate(live):
            h[rep_c == k] = s.hash[rep_i[rep_c == k]]
        if self._m_tb:
            prev_tb, prev_ta = self._m_tb[-1][-1:], self._m_ta[-1][-1:]
            blind = union_blind(np.r_[prev_tb, tb], np.r_[prev_ta, ta], self._bounds(),
                                np.r_[self._last_hash, h])[1:]
        else:
            blind = union_blind(tb, ta, self._bounds(), h)
        self._last_hash = h[-1:]
        self._m_tb.append(tb)
        self._m_ta.append(ta)
        self._m_blind.append(blind)
        return blind

    def merged_times(self) -> tuple[I64, I64, I64]:
        """t_before, t_after and blind_ns of every merged state written, in order (once:
        each round's arrays are let go as they are joined, so a day is not held twice)."""
        def cat(a: list[I64]) -> I64:
            out = np.concatenate(a) if a else np.zeros(0, np.int64)
            a.clear()
            return out
        self._bounds = list  # the collectors' states are not needed any more
        return cat(self._m_tb), cat(self._m_ta), cat(self._m_blind)

    def _missing(self, k: int, name: str, mask: U64, t: I64, seq0: int) -> None:
        lo, hi = self.plan.spans[k]
        seen = (mask >> np.uint64(k)) & np.uint64(1) == 1
        idx = np.flatnonzero(~seen & (t >= lo) & (t <= hi))
        if not len(idx):
            return
        for g in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            m = int(np.bitwise_or.reduce(mask[g]))
            first, last = seq0 + int(g[0]), seq0 + int(g[-1])
            r = self._runs[k]
            if r is not None and r.last + 1 == first:  # the run goes on from the last round
                r.last, r.t_end_ns, r.states, r.mask = last, int(t[g[-1]]), r.states + len(g), \
                    r.mask | m
                continue
            if r is not None:
                self._closed_runs.append(r)
            self._runs[k] = _OpenRun(name, first, last, int(t[g[0]]), int(t[g[-1]]), len(g), m)

    def _flush_runs(self) -> None:
        cols = self.plan.collectors
        runs = self._closed_runs + [r for r in self._runs if r is not None]
        self.totals.missing = sorted(
            (Run(r.collector, r.t_start_ns, r.t_end_ns, r.states,
                 tuple(c for k, c in enumerate(cols) if r.mask >> k & 1)) for r in runs),
            key=lambda r: (r.t_start_ns, r.collector))

    def _conflicts(self, wins: list[tuple[pa.Table, States, int]], pre: list[int],
                   gid: list[I64], iv: list[tuple[I64, I64]]) -> None:
        p, tol = self.plan, self.plan.tolerance_ns
        cols = p.collectors
        for a in range(len(cols)):
            for b in range(a + 1, len(cols)):
                (ta, sa, ca), (tb, sb, cb) = wins[a], wins[b]
                ov = conflicting_overlaps(iv[a][0], iv[a][1], gid[a], iv[b][0], iv[b][1], gid[b],
                                          tol)
                # Reported once: when the later of the two states is committed.
                ov = [o for o in ov if o.a < ca + pre[a] and o.b < cb + pre[b]
                      and not (o.a < ca and o.b < cb)]
                for ep in episodes(ov, tol):
                    worst = max(ep, key=lambda o: o.t_end_ns - o.t_start_ns)
                    c = Conflict((cols[a], cols[b]), ep[0].t_start_ns, max(o.t_end_ns for o in ep),
                                 worst.t_end_ns - worst.t_start_ns,
                                 (int(sa.seq[worst.a]), int(sb.seq[worst.b])),
                                 describe_difference(cols[a], ta, sa, worst.a, cols[b], tb, sb,
                                                     worst.b))
                    self._add_conflict(c, tol)

    def _add_conflict(self, c: Conflict, tol: int) -> None:
        prev = [x for x in self.totals.conflicts if x.collectors == c.collectors]
        if prev and c.t_start_ns <= prev[-1].t_end_ns + tol:
            # One episode cut by a round boundary: joined, the longest disagreement kept.
            last = prev[-1]
            keep = last if last.overlap_ns >= c.overlap_ns else c
            joined = Conflict(c.collectors, last.t_start_ns, max(last.t_end_ns, c.t_end_ns),
                              keep.overlap_ns, keep.seq, keep.detail)
            self.totals.conflicts[self.totals.conflicts.index(last)] = joined
        else:
            self.totals.conflicts.append(c)

    def _carry(self, feeds: list[_Feed], wins: list[tuple[pa.Table, States, int]],
               pre: list[int], gid: list[I64], iv: list[tuple[I64, I64]]) -> None:
        # Where each collector's uncommitted states start: a committed state whose confirmed
        # interval ends before every other collector's next start can meet no later state.
        nxt = []
        for f, (_, s, c), q, (st, _) in zip(feeds, wins, pre, iv):
            if c + q < len(s):
                nxt.append(int(st[c + q:].min()))
            elif f.exhausted:
                nxt.append(_NO_TIME)
            else:
                nxt.append(int(st[-1]) if len(st) else _NO_TIME)
        for k, (f, (_, _, c), q, (_, en)) in enumerate(zip(feeds, wins, pre, iv)):
            thr = min((x for j, x in enumerate(nxt) if j != k), default=_NO_TIME)
            end = c + q
            reach = np.flatnonzero(en[:end] >= thr)
            c0 = int(reach[0]) if len(reach) else end
            c0 = max(c0, end - self.round_states)  # bounded even on pathological data
            f.commit(q, c0, gid[k])
