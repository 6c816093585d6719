"""Capture quality of one collector's snapshots: pure functions over numpy arrays.

Everything here takes a :class:`~booktape.analysis._scan.Stream` (one row per
snapshot, storage order) and returns plain dataclasses; nothing reads files,
prints or plots. Definitions (issue 5):

- ``t_mid = t_before + (t_after - t_before) / 2`` (the notebook's ``time_mean``);
- *state gap*: between consecutive stored states by ``t_mid``;
- *poll gap*: a state gap holds ``unchanged + 1`` polls, so the mean interval
  between polls inside it is ``gap / (unchanged + 1)``; its distribution is
  weighted by those polls. A *stall* is a gap whose polls cannot explain it:
  ``gap - (unchanged + 1) * typical_poll_interval`` over the threshold
  (default ``max(10 x median, 50 ms)``);
- *time order*: ``t_mid`` must not go back in storage order (per collector);
  a step back no larger than the clock's own step (1 ms for the notebook's
  ``datetime.now()``) is a clock tie, not disorder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..read.summary import percentiles
from ._scan import Stream
from .notebook import clock_step_ns
from .sessions import SessionRow, SessionWindow, gaps_in_windows, session_rows, windows_from_events

LIST_MAX = 200  # rows kept per listing (counts stay exact)
HIST_BINS = 80


@dataclass
class Gap:
    """A stall or a long gap: when it started, how long, between which states."""

    t_start_ns: int
    t_end_ns: int
    gap_ns: int
    idle_ns: int  # the part of the gap its polls do not explain
    polls: int
    seq_before: int
    seq_after: int


@dataclass
class OrderBreak:
    """Storage row ``index`` goes back in time (or seq) from the row before it."""

    index: int
    seq_before: int
    seq_after: int
    t_mid_before_ns: int
    t_mid_after_ns: int
    back_ns: int
    file: str


@dataclass
class SeqRange:
    first: int
    last: int
    files: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass
class SeqCheck:
    """Sequence continuity: every number between first and last exactly once."""

    checked: bool
    first: int
    last: int
    unique: int
    missing: int
    duplicated: int
    out_of_order: int
    missing_ranges: list[SeqRange] = field(default_factory=list)
    duplicate_ranges: list[SeqRange] = field(default_factory=list)


@dataclass
class OrderCheck:
    """The notebook's "Time order is kept/invalid", with the rows that break it."""

    kept: bool
    breaks: int
    max_back_ns: int
    clock_ties: int  # steps back within one clock step (coarse clocks only)
    same_tick: int  # consecutive states with the very same t_mid
    rows: list[OrderBreak] = field(default_factory=list)
    explanation: str = ""


@dataclass
class PartStats:
    file: str
    kind: str
    rows: int
    snapshots: int
    seq_first: int | None
    seq_last: int | None
    t_first_ns: int | None
    t_last_ns: int | None
    rate: float  # snapshots per second of span
    error: str = ""


@dataclass
class Histogram:
    """Counts over log-spaced bin edges (ns); zeros counted apart."""

    edges: list[float]
    counts: list[int]
    zeros: int


@dataclass
class Timeline:
    """Per time bin: states stored, and the longest state gap ending in it."""

    t0_ns: int
    bin_ns: int
    states: list[int]
    max_gap_ns: list[int]


@dataclass
class StreamReport:
    """Everything ``analyze`` says about one symbol and collector."""

    symbol: str
    collector: str
    source: str
    clock_step_ns: int
    states: int
    polls: int
    unchanged: int
    change_rate: float
    t_first_ns: int | None
    t_last_ns: int | None
    poll_duration: dict[str, float]
    poll_gap: dict[str, float]
    state_gap: dict[str, float]
    stall_threshold_ns: int
    stalls: list[Gap]
    stall_count: int
    long_gap_threshold_ns: int
    long_gaps: list[Gap]
    long_gap_count: int
    order: OrderCheck
    seq: SeqCheck
    parts: list[PartStats]
    hist_poll_duration: Histogram
    hist_poll_gap: Histogram
    hist_state_gap: Histogram
    timeline: Timeline
    events: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[SessionRow] = field(default_factory=list)


# --- pieces ------------------------------------------------------------------------------


def seq_check(s: Stream) -> tuple[SeqCheck, np.ndarray]:
    """Continuity of ``seq``; also the mask of rows that are first occurrences."""
    n = s.size
    first_occ = np.ones(n, bool)
    if n == 0:
        return SeqCheck(s.has_seq, 0, -1, 0, 0, 0, 0), first_occ
    d = np.diff(s.seq)
    if bool((d > 0).all()):  # the normal case: no sort needed
        holes = np.flatnonzero(d > 1)
        names = [f.name for f in s.files]
        mr = [SeqRange(int(s.seq[i]) + 1, int(s.seq[i + 1]) - 1,
                       sorted({names[s.file_idx[i]], names[s.file_idx[i + 1]]}) if names else [])
              for i in holes[:LIST_MAX]] if s.has_seq else []
        missing = int((d[holes] - 1).sum()) if s.has_seq else 0
        return SeqCheck(s.has_seq, int(s.seq[0]), int(s.seq[-1]), n, missing, 0, 0, mr), first_occ
    del d
    order = np.argsort(s.seq, kind="stable")
    ss = s.seq[order]
    dup = np.zeros(n, bool)
    dup[1:] = ss[1:] == ss[:-1]
    first_occ[order[dup]] = False
    uniq = ss[~dup]
    steps = np.diff(uniq)
    holes = np.flatnonzero(steps > 1)
    missing = int((steps[holes] - 1).sum())
    names = [f.name for f in s.files]
    mranges = [SeqRange(int(uniq[i]) + 1, int(uniq[i + 1]) - 1,
                        sorted({names[s.file_idx[order[~dup][i]]],
                                names[s.file_idx[order[~dup][i + 1]]]}) if names else [])
               for i in holes[:LIST_MAX]]
    dranges = _dup_ranges(ss, dup, order, s.file_idx, names)
    kept = s.seq[first_occ]
    ooo = int((np.diff(kept) < 0).sum())
    return SeqCheck(s.has_seq, int(uniq[0]), int(uniq[-1]), int(uniq.size),
                    missing if s.has_seq else 0, int(dup.sum()) if s.has_seq else 0,
                    ooo if s.has_seq else 0, mranges if s.has_seq else [],
                    dranges if s.has_seq else []), first_occ


def _dup_ranges(ss: np.ndarray, dup: np.ndarray, order: np.ndarray, fidx: np.ndarray,
                names: list[str]) -> list[SeqRange]:
    pos = np.flatnonzero(dup)
    if pos.size == 0:
        return []
    vals = ss[pos]
    brk = np.flatnonzero(np.diff(vals) > 1) + 1
    out: list[SeqRange] = []
    for a, b in zip(np.r_[0, brk], np.r_[brk, vals.size]):
        if len(out) >= LIST_MAX:
            break
        lo, hi = int(vals[a]), int(vals[b - 1])
        files = set()
        for p in (pos[a], pos[b - 1]):  # the copy and the row it repeats
            for q in (order[p], order[p - 1]):
                if names:
                    files.add(names[fidx[q]])
        out.append(SeqRange(lo, hi, sorted(files)))
    return out


def order_check(s: Stream, keep: np.ndarray, mid: np.ndarray, step: int) -> OrderCheck:
    """Time order of ``t_mid`` in storage order (duplicate rows left out)."""
    m = mid[keep]
    if m.size < 2:
        return OrderCheck(True, 0, 0, 0, 0, [], "fewer than two states")
    d = np.diff(m)
    same = int((d == 0).sum())
    back = d < 0
    ties = int((back & (-d <= step)).sum()) if step else 0
    bad = np.flatnonzero(back & (-d > step))
    idx = np.flatnonzero(keep)
    names = [f.name for f in s.files]
    rows = [OrderBreak(int(idx[i + 1]), int(s.seq[idx[i]]), int(s.seq[idx[i + 1]]),
                       int(m[i]), int(m[i + 1]), int(-d[i]),
                       names[s.file_idx[idx[i + 1]]] if names else "")
            for i in bad[:LIST_MAX]]
    kept = bad.size == 0
    if kept:
        why = "time order is kept: t_mid never goes back in storage order"
        if ties:
            why += (f" ({ties:,} steps back of at most one {step / 1e6:g} ms clock step are "
                    "clock ties, not disorder)")
    else:
        worst = int((-d[bad]).max())
        why = (f"time order is invalid: t_mid goes back {bad.size:,} time(s) in storage order, "
               f"by up to {worst / 1e6:.3f} ms; first at row {rows[0].index:,} "
               f"(seq {rows[0].seq_before} → {rows[0].seq_after} in {rows[0].file})")
    return OrderCheck(kept, int(bad.size), int((-d[bad]).max()) if bad.size else 0, ties, same,
                      rows, why)


def weighted_percentiles(x: np.ndarray, w: np.ndarray, bins: int = 4096) -> dict[str, float]:
    """:func:`booktape.read.summary.percentiles` of ``x`` with each value counted ``w`` times.

    Quantiles come from a log-spaced histogram (about 0.5 % relative precision),
    so a day's 10 M gaps need no sort; count, mean, min and max are exact.
    """
    total = int(w.sum(dtype=np.int64)) if x.size else 0
    if total == 0:
        return percentiles(np.zeros(0))
    xmin, xmax = float(x.min()), float(x.max())
    out: dict[str, float] = {"count": total,
                             "mean": float(np.dot(x, w.astype(np.float64)) / total)}
    zero_w = float(total - w.sum(where=x > 0, dtype=np.int64))
    if xmax > 0:
        lo = _min_pos(x)
        edges, h = _log_bins(x, lo, xmax, bins, w)
        cw = zero_w + np.cumsum(h)
    for p in (50, 90, 99, 99.9):
        target = total * p / 100
        if xmax <= 0 or target <= zero_w:
            out[f"p{p:g}"] = 0.0
            continue
        i = min(int(np.searchsorted(cw, target)), bins - 1)
        out[f"p{p:g}"] = float(min(max(np.sqrt(edges[i] * edges[i + 1]), xmin), xmax))
    out["max"] = xmax
    out["min"] = xmin
    return out


def log_hist(x: np.ndarray) -> Histogram:
    """Counts of ``x`` (ns) in log-spaced bins from its smallest positive value to its max."""
    npos = int(np.count_nonzero(x > 0))
    zeros = int(x.size - npos)
    if npos == 0:
        return Histogram([], [], zeros)
    lo = _min_pos(x)
    edges, counts = _log_bins(x, lo, float(x.max()), HIST_BINS)
    return Histogram(edges.tolist(), counts.astype(int).tolist(), zeros)


def _min_pos(x: np.ndarray) -> float:
    init = np.iinfo(x.dtype).max if x.dtype.kind in "iu" else np.inf
    return float(np.min(x, where=x > 0, initial=init))


def _log_bins(x: np.ndarray, lo: float, hi: float, bins: int,
              w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Log-spaced edges and (weighted) counts of the positive values of ``x``.

    By arithmetic on chunks of 1 M values, not by sorting: a day's 10 M gaps bin
    in a fraction of a second with a few MB of temporaries.
    """
    l0, l1 = np.log10(lo), np.log10(max(hi, lo * 1.0001))
    scale = bins / (l1 - l0)
    counts = np.zeros(bins, np.float64 if w is not None else np.int64)
    for i in range(0, x.size, 1 << 20):
        c = x[i:i + (1 << 20)]
        pos = c > 0
        k = np.log10(c[pos].astype(np.float64))
        idx = np.clip(((k - l0) * scale).astype(np.int64), 0, bins - 1)
        if w is None:
            counts += np.bincount(idx, minlength=bins)
        else:
            counts += np.bincount(idx, weights=w[i:i + (1 << 20)][pos].astype(np.float64),
                                  minlength=bins)
    return np.logspace(l0, l1, bins + 1), counts


def timeline(mid_sorted: np.ndarray, gaps: np.ndarray, bins: int = 1500) -> Timeline:
    """States per time bin and the longest gap per bin, for the over-time plots."""
    if mid_sorted.size == 0:
        return Timeline(0, 1, [], [])
    t0, t1 = int(mid_sorted[0]), int(mid_sorted[-1])
    span = max(t1 - t0, 1)
    nice = [10**6, 10**7, 10**8, 10**9, 5 * 10**9, 10**10, 6 * 10**10, 3 * 10**11, 6 * 10**11]
    bin_ns = next((b for b in nice if span / b <= bins), 36 * 10**11)
    k = ((mid_sorted - t0) // bin_ns).astype(np.int64)
    nb = int(k[-1]) + 1
    states = np.bincount(k, minlength=nb)
    mg = np.zeros(nb, np.int64)
    if gaps.size:
        np.maximum.at(mg, k[1:], gaps) if gaps.size < 2_000_000 else _max_sorted(mg, k[1:], gaps)
    return Timeline(t0, bin_ns, states.astype(int).tolist(), mg.astype(int).tolist())


def _max_sorted(out: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
    # k is sorted: reduceat over group starts is much faster than ufunc.at on 10 M rows.
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    out[k[starts]] = np.maximum.reduceat(v, starts)


def gaps_over(m: np.ndarray, gap: np.ndarray, polls_in: np.ndarray, sq: np.ndarray,
              mask: np.ndarray, typical: float) -> tuple[list[Gap], int]:
    """The gaps selected by ``mask`` (the longest :data:`LIST_MAX`, in time order), and their count."""
    idx = np.flatnonzero(mask)
    n = int(idx.size)
    if n > LIST_MAX:
        idx = np.sort(idx[np.argsort(-gap[idx], kind="stable")[:LIST_MAX]])
    return [Gap(int(m[i]), int(m[i + 1]), int(gap[i]), int(gap[i] - polls_in[i] * typical),
                int(polls_in[i]), int(sq[i]), int(sq[i + 1])) for i in idx], n


def part_stats(s: Stream) -> list[PartStats]:
    out = []
    if s.size:
        starts = np.flatnonzero(np.r_[True, s.file_idx[1:] != s.file_idx[:-1]])
        ends = np.r_[starts[1:], s.size]
    else:
        starts = ends = np.zeros(0, np.int64)
    by_file = {int(s.file_idx[a]): (a, b) for a, b in zip(starts, ends)}
    for i, f in enumerate(s.files):
        if i in by_file:
            a, b = by_file[i]
            tb = s.t_before[a:b]
            t_first, t_last = int(tb.min()), int(s.t_after[a:b].max())
            span = (t_last - t_first) / 1e9
            out.append(PartStats(f.name, f.kind, f.rows, int(b - a), int(s.seq[a:b].min()),
                                 int(s.seq[a:b].max()), t_first, t_last,
                                 (b - a) / span if span > 0 else 0.0, f.error))
        else:
            out.append(PartStats(f.name, f.kind, f.rows, 0, None, None, None, None, 0.0, f.error))
    return out


# --- the whole report of one stream ------------------------------------------------------


def session_first_seqs(events: list[dict[str, Any]], symbol: str) -> np.ndarray:
    """The first seq of each recording session of ``symbol``, from ``session_start`` events."""
    out = []
    for e in events:
        d = e.get("detail") or {}
        if e.get("kind") == "session_start" and symbol in d.get("symbols", []):
            out.append(int(d["start_seq"][d["symbols"].index(symbol)]))
    return np.array(out, dtype=np.uint64)


def analyze_stream(s: Stream, *, stall_factor: float = 10.0, stall_min_ns: int = 50_000_000,
                   events: list[dict[str, Any]] | None = None,
                   windows: list[SessionWindow] | None = None) -> StreamReport:
    """All numbers of one collector's stream (see the module docstring).

    ``windows``: the trading sessions (a calendar's); default: those the
    recorder's ``session_open`` events name, if any. Gaps across closed time
    are then neither stalls nor long gaps, and each window gets a row.
    """
    seqc, keep = seq_check(s)
    all_kept = bool(keep.all())

    def kept(a: np.ndarray) -> np.ndarray:
        return a if all_kept else a[keep]  # a view in the normal case: a day is 10 M rows

    mid = s.t_after - s.t_before
    dur = mid if all_kept else mid[keep]
    mid = mid // 2
    mid += s.t_before
    step = clock_step_ns(s.t_before)
    order = order_check(s, keep, mid, step)
    pdur, hdur = percentiles(dur), log_hist(dur)
    del dur
    # Gaps on the time-sorted states (equal to storage order when order is kept).
    m = kept(mid)
    srt = None if (order.kept and order.clock_ties == 0) else np.argsort(m, kind="stable")
    if srt is not None:
        m = m[srt]
    un = kept(s.unchanged) if srt is None else kept(s.unchanged)[srt]
    sq = kept(s.seq) if srt is None else kept(s.seq)[srt]
    del mid
    gap = np.diff(m)
    polls_in = un[1:].astype(np.int64)
    polls_in += 1
    poll_iv = gap / polls_in
    pg = weighted_percentiles(poll_iv, polls_in)
    hpg = log_hist(poll_iv)
    del poll_iv
    typical = pg["p50"] if pg["count"] else 0.0
    idle = polls_in * -typical
    idle += gap
    stall_thr = int(max(stall_factor * typical, stall_min_ns))
    # The pause between two recording sessions is nobody's stall: the recorder was off.
    new_session = np.isin(sq[1:], session_first_seqs(events or [], s.symbol))
    # Closed hours and scheduled pauses (issue 12): the market was shut, nothing to miss.
    wins = windows if windows is not None else windows_from_events(events or [])
    closed = ~gaps_in_windows(m, wins) if wins else np.zeros(gap.size, dtype=bool)
    stall_mask = (idle > stall_thr - typical) & ~new_session & ~closed
    stalls, n_stalls = gaps_over(m, gap, polls_in, sq, stall_mask, typical)
    del idle
    sg = percentiles(gap)
    long_thr = int(max(stall_factor * (sg["p50"] if gap.size else 0), stall_min_ns))
    long_gaps, n_long = gaps_over(m, gap, polls_in, sq, (gap > long_thr) & ~closed, typical)
    sessions = session_rows(m, gap, stall_mask, wins) if wins else []
    n_states = int(m.size)
    polls = n_states + int(un.sum(dtype=np.int64))
    return StreamReport(
        symbol=s.symbol, collector=s.collector, source=s.source, clock_step_ns=step,
        states=n_states, polls=polls, unchanged=polls - n_states,
        change_rate=n_states / polls if polls else 0.0,
        t_first_ns=int(m[0]) if m.size else None, t_last_ns=int(m[-1]) if m.size else None,
        poll_duration=pdur, poll_gap=pg, state_gap=sg,
        stall_threshold_ns=stall_thr, stalls=stalls, stall_count=n_stalls,
        long_gap_threshold_ns=long_thr, long_gaps=long_gaps, long_gap_count=n_long,
        order=order, seq=seqc, parts=part_stats(s),
        hist_poll_duration=hdur, hist_poll_gap=hpg,
        hist_state_gap=log_hist(gap), timeline=timeline(m, gap), events=events or [],
        sessions=sessions)

