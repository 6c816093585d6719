"""``booktape merge``: align redundant collectors by book content, report, write one tape.

Collectors of one symbol (processes on one machine, or machines with their own
clocks) number their states independently, so states are matched by content:
a 64-bit hash per snapshot (:mod:`.states`), aligned in time order, tolerant
of states missing on either side (:mod:`.align`). ``offset="auto"`` measures
each collector's clock against the first one's from the matched transitions and
corrects it. Conflicts — both collectors confirmed holding different books for
longer than poll timing explains — are found by :mod:`.conflicts`. The merged
tape (:mod:`._merge_write`) holds every distinct state once, ordered by t_mid,
tagged with who saw it (``seen_by``).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..clock import Clock, SystemClock
from ..errors import BadArgument, TapeNotFound
from ..tape.layout import check_name, parse_partition, partition_dirs
from ..units import parse_duration
from ._merge_write import describe_difference, write_merged
from .align import OffsetEstimate, align, estimate_offset, union_order
from .conflicts import confirmed_intervals, conflicting_overlaps, episodes
from .merge_bound import UnionBound, union_blind, union_bound
from .merge_report import CollectorSummary, Conflict, MergeReport, Run
from .reader import read_arrow
from .states import STATE_COLUMNS, States, distinct_runs, poll_stats, snapshot_states

I64 = npt.NDArray[np.int64]
Offset = None | str | int | dict[str, int | str]

#: Tolerance floor: below this, disagreements are clock-stamp noise on any OS.
MIN_TOLERANCE_NS = 200_000


def _signed_duration(v: int | str, what: str) -> int:
    if isinstance(v, int):
        return v
    s = v.strip()
    sign = -1 if s.startswith("-") else 1
    return sign * parse_duration(s.lstrip("+-"), what)


def parse_collectors(collectors: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"zero,one"`` or a list → validated names (at least two, no repeats)."""
    names = [c.strip() for c in collectors.split(",")] if isinstance(collectors, str) else list(collectors)
    names = [check_name("collector", c) for c in names if c]
    if len(names) < 2:
        raise BadArgument(f"--collectors needs at least two names, e.g. zero,one; got {names}")
    if len(set(names)) != len(names):
        raise BadArgument(f"--collectors names a collector twice: {','.join(names)}")
    return tuple(names)


def _pick_symbol(root: Path, collectors: tuple[str, ...], symbol: str | None) -> str:
    have = [{parse_partition(d)["symbol"] for d in partition_dirs(root, symbol, c)}
            for c in collectors]
    for c, s in zip(collectors, have):
        if not s:
            what = f"symbol {symbol}" if symbol else "data"
            raise TapeNotFound(f"collector {c!r} has no {what} in {root}; "
                               "run `booktape ls` to see what the tape holds")
    common = sorted(set.intersection(*have))
    if symbol is not None:
        return symbol
    if not common:
        raise BadArgument(f"collectors {', '.join(collectors)} share no symbol")
    if len(common) > 1:
        raise BadArgument(f"the collectors share several symbols; give --symbol (one of: "
                          f"{', '.join(common)})")
    return common[0]


def _offsets_wanted(offset: Offset, collectors: tuple[str, ...]) -> dict[str, int | str]:
    if offset is None:
        return {}
    if isinstance(offset, dict):
        unknown = set(offset) - set(collectors[1:])
        if unknown:
            raise BadArgument(f"--offset names {sorted(unknown)}; give offsets of "
                              f"{', '.join(collectors[1:])} relative to {collectors[0]}")
        return dict(offset)
    if isinstance(offset, str) and "=" in offset:
        pairs = dict(p.split("=", 1) for p in offset.split(",") if p)
        return _offsets_wanted({k.strip(): v.strip() for k, v in pairs.items()}, collectors)
    if isinstance(offset, str) and offset.strip().lower() == "auto":
        return {c: "auto" for c in collectors[1:]}
    if len(collectors) > 2:
        raise BadArgument("with more than two collectors give --offset auto or "
                          "--offset NAME=DURATION,... (one per collector after the first)")
    return {collectors[1]: offset}


def _runs_missing(name: str, seen: npt.NDArray[np.bool_], tmid: I64, masks: npt.NDArray[np.uint64],
                  collectors: tuple[str, ...], lo: int, hi: int) -> list[Run]:
    idx = np.flatnonzero(~seen & (tmid >= lo) & (tmid <= hi))
    if not len(idx):
        return []
    cuts = np.flatnonzero(np.diff(idx) > 1) + 1
    out = []
    for g in np.split(idx, cuts):
        m = int(np.bitwise_or.reduce(masks[g]))
        out.append(Run(name, int(tmid[g[0]]), int(tmid[g[-1]]), len(g),
                       tuple(c for k, c in enumerate(collectors) if m >> k & 1)))
    return out


def merge(data: str | Path, collectors: str | list[str] | tuple[str, ...], out: str | Path | None,
          symbol: str | None = None, *, offset: Offset = None, tolerance: str | int | None = None,
          window: str | int = "1s", name: str = "merged", clock: Clock | None = None,
          write: bool = True, force: bool = False) -> MergeReport:
    """Align redundant collectors of one symbol, report what differs, write the merged tape.

    Args:
        data: the tape the collectors recorded into.
        collectors: ``"zero,one"`` or a list; the first one's clock is the reference.
        out: directory of the merged tape (may be ``data`` itself; None with ``write=False``).
        symbol: the symbol; may be omitted when the collectors share exactly one.
        offset: ``None`` (same clock), ``"auto"`` (estimate from the data and apply),
            a signed duration (``"250ms"``, ns int) of the second collector's clock
            minus the first's, or ``{"one": "250ms", ...}``.
        tolerance: disagreements shorter than this are poll timing, not conflicts
            (default: from the collectors' poll durations and periods).
        window: farthest apart in time two observations of one state may be matched.
        name: collector name of the merged tape (``collector=merged``).
        write: False only reports.
        force: replace a merged tape of this ``name`` and symbol already in ``out``
            (without it that is an error, found before any work).

    Raises:
        BadArgument: malformed collectors/offset, or ``"auto"`` with too few common states.
        TapeNotFound: a collector has no data for the symbol.
    """
    cols = parse_collectors(collectors)
    check_name("collector", name)
    if out is None and write:
        raise BadArgument("give --out, the directory for the merged tape")
    if out is not None and Path(out).resolve() == Path(data).resolve() and name in cols:
        raise BadArgument(f"--name {name} is one of the collectors being merged; choose another")
    root = Path(data)
    if not root.is_dir():
        raise TapeNotFound(f"no tape at {root}")
    sym = _pick_symbol(root, cols, symbol)
    old = partition_dirs(Path(out), sym, name) if write and out is not None else []
    if old and not force:
        raise BadArgument(f"{old[0]} already holds a tape; give --force to replace it, "
                          "or another --out/--name")
    wanted = _offsets_wanted(offset, cols)
    window_ns = _signed_duration(window, "--window")
    tables = [read_arrow(root, sym, c, columns=STATE_COLUMNS).select(STATE_COLUMNS) for c in cols]
    states = [snapshot_states(t) for t in tables]
    for c, s in zip(cols, states):
        if not len(s):
            raise TapeNotFound(f"collector {c!r} has no {sym} states in {root}")
    stats = [poll_stats(s) for s in states]
    keeps = [distinct_runs(s) for s in states]
    notes: list[str] = []

    # Offsets: each collector against the reference, on distinct states.
    ref_idx = np.flatnonzero(keeps[0])
    # A collector's first state is the book it found when it started, not a change
    # it saw happen: it says nothing about the clocks, so it is left out.
    offsets: list[OffsetEstimate] = []
    applied = [0] * len(cols)
    match_shift = [0] * len(cols)
    for k in range(1, len(cols)):
        idx = np.flatnonzero(keeps[k])
        bound = (abs(stats[k].period_p50_ns - stats[0].period_p50_ns)
                 + max(stats[k].duration_p50_ns, stats[0].duration_p50_ns)) // 2
        est = estimate_offset(states[0].hash[ref_idx[1:]], states[0].t_mid[ref_idx[1:]],
                              states[k].hash[idx[1:]], states[k].t_mid[idx[1:]], bound_ns=bound,
                              collector=cols[k], reference=cols[0])
        want = wanted.get(cols[k])
        if want == "auto":
            if est is None:
                raise BadArgument(
                    f"cannot estimate the clock offset of {cols[k]!r} against {cols[0]!r}: "
                    "fewer than 5 states seen by both; did they record the same symbol at "
                    "the same time?")
            applied[k] = est.offset_ns
        elif want is not None:
            applied[k] = _signed_duration(want, "--offset")
        match_shift[k] = est.offset_ns if est is not None else applied[k]
        if est is not None:
            offsets.append(replace(est, applied_ns=applied[k]))
            if abs(est.offset_ns - applied[k]) > 10 * (est.uncertainty_ns + est.spread_ns) + 1_000_000:
                notes.append(
                    f"{cols[k]}'s clock reads {(est.offset_ns - applied[k]) / 1e6:+.3f} ms from "
                    f"{cols[0]}'s after the offset applied: on different machines (or separate "
                    "simulated markets) use --offset auto")

    # Progressive alignment: collector k joins the union of collectors 0..k-1.
    shifted = [s.shifted(a) for s, a in zip(states, applied)]
    mh = states[0].hash[ref_idx]
    mt = shifted[0].t_mid[ref_idx]
    rep_c = np.zeros(len(ref_idx), np.int64)
    rep_i = ref_idx.astype(np.int64)
    mask = np.ones(len(ref_idx), np.uint64)
    run_ids = [np.cumsum(keep) - 1 for keep in keeps]
    ids: list[I64] = [run_ids[0].astype(np.int64)]
    for k in range(1, len(cols)):
        idx = np.flatnonzero(keeps[k])
        h, t = states[k].hash[idx], shifted[k].t_mid[idx]
        ia, jb = align(mh, mt, h, t + (applied[k] - match_shift[k]), window_ns)
        src_a, src_b = union_order(len(mh), len(h), ia, jb, mt, t)
        has_a, has_b = src_a >= 0, src_b >= 0
        ta = np.where(has_a, mt[np.maximum(src_a, 0)], np.iinfo(np.int64).max)
        tb = np.where(has_b, t[np.maximum(src_b, 0)], np.iinfo(np.int64).max)
        take_b = tb < ta
        mh = np.where(has_a, mh[np.maximum(src_a, 0)], h[np.maximum(src_b, 0)])
        mt = np.minimum(ta, tb)
        rep_c = np.where(take_b, k, rep_c[np.maximum(src_a, 0)])
        rep_i = np.where(take_b, idx[np.maximum(src_b, 0)], rep_i[np.maximum(src_a, 0)])
        mask = np.where(has_a, mask[np.maximum(src_a, 0)], np.uint64(0))
        mask = mask | np.where(has_b, np.uint64(1 << k), np.uint64(0))
        pos_a = np.empty(int(has_a.sum()), np.int64)
        pos_a[src_a[has_a]] = np.flatnonzero(has_a)
        pos_b = np.empty(len(h), np.int64)
        pos_b[src_b[has_b]] = np.flatnonzero(has_b)
        ids = [pos_a[i] for i in ids] + [pos_b[run_ids[k]]]
    reordered = int(np.sum(np.diff(mt) < 0))
    perm = np.argsort(mt, kind="stable")
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    mt, rep_c, rep_i, mask = mt[perm], rep_c[perm], rep_i[perm], mask[perm]
    ids = [inv[i] for i in ids]

    # Tolerance: how long two honest collectors can disagree.
    if tolerance is not None:
        tol = _signed_duration(tolerance, "--tolerance")
    else:
        # Poll timing as stamped, or the measured spread of when the collectors saw
        # the same changes (it includes preemption between polls, which stamps miss).
        tol = max(max(p.duration_p99_ns for p in stats) + 2 * max(p.period_p99_ns for p in stats),
                  max((o.jitter_ns for o in offsets), default=0), MIN_TOLERANCE_NS)
        tol += max((o.uncertainty_ns for o in offsets if o.applied_ns), default=0)

    full = np.uint64((1 << len(cols)) - 1)
    summaries, missing = [], []
    for k, c in enumerate(cols):
        seen = (mask >> np.uint64(k)) & np.uint64(1) == 1
        lo, hi = int(shifted[k].t_mid[0]), int(shifted[k].t_mid[-1])
        runs = _runs_missing(c, seen, mt, mask, cols, lo, hi)
        missing += runs
        summaries.append(CollectorSummary(
            c, len(states[k]), int(keeps[k].sum()), lo, hi,
            int(np.sum(mask == np.uint64(1 << k))), sum(r.states for r in runs), stats[k]))
    missing.sort(key=lambda r: (r.t_start_ns, r.collector))

    conflicts = []
    for a in range(len(cols)):
        for b in range(a + 1, len(cols)):
            sa, ea = confirmed_intervals(shifted[a], ids[a], stats[a].period_p50_ns)
            sb, eb = confirmed_intervals(shifted[b], ids[b], stats[b].period_p50_ns)
            ov = conflicting_overlaps(sa, ea, ids[a], sb, eb, ids[b], tol)
            for ep in episodes(ov, tol):
                worst = max(ep, key=lambda o: o.t_end_ns - o.t_start_ns)
                conflicts.append(Conflict(
                    (cols[a], cols[b]), ep[0].t_start_ns, max(o.t_end_ns for o in ep),
                    worst.t_end_ns - worst.t_start_ns,
                    (int(states[a].seq[worst.a]), int(states[b].seq[worst.b])),
                    describe_difference(cols[a], tables[a], states[a], worst.a,
                                        cols[b], tables[b], states[b], worst.b)))
    conflicts.sort(key=lambda x: x.t_start_ns)

    m_blind, ubound = _union_bound(root, sym, cols, applied, shifted, rep_c, rep_i)
    parts: list[str] = []
    if write:
        for d in old:  # --force: only now that the new merge is ready to be written
            shutil.rmtree(d)
        now = (clock or SystemClock()).now_ns()
        parts, n_rows = write_merged(Path(str(out)), sym, name, cols, tables, shifted, rep_c, rep_i,
                                     mask, applied, tol, now, m_blind)
    else:
        n_rows = int(np.sum(np.concatenate(
            [s.n_rows[rep_i[rep_c == k]] for k, s in enumerate(states)])))
    return MergeReport(
        symbol=sym, collectors=cols, out=str(out or ""), name=name, per_collector=summaries,
        merged_states=len(mt), merged_rows=n_rows, seen_by_all=int(np.sum(mask == full)),
        missing=missing, conflicts=conflicts, offsets=offsets, tolerance_ns=tol,
        reordered=reordered, parts=parts, notes=notes, bound=ubound)


def _union_bound(root: Path, sym: str, cols: tuple[str, ...], applied: list[int],
                 shifted: list[States], rep_c: I64, rep_i: I64) -> tuple[I64, UnionBound]:
    """Each merged state's blind_ns and the guarantees (see :mod:`.merge_bound`)."""
    per = []
    for k, c in enumerate(cols):
        t = read_arrow(root, sym, c, columns=["t_before_ns", "t_after_ns", "blind_ns"],
                       snapshots_only=True)
        ta = t.column("t_after_ns").to_numpy() - applied[k]
        o = np.argsort(ta, kind="stable")
        per.append(((t.column("t_before_ns").to_numpy() - applied[k])[o], ta[o],
                    t.column("blind_ns").fill_null(-1).to_numpy()[o]))
    m_tb = np.empty(len(rep_c), np.int64)
    m_ta = np.empty(len(rep_c), np.int64)
    for k, s in enumerate(shifted):
        sel = rep_c == k
        m_tb[sel], m_ta[sel] = s.t_before[rep_i[sel]], s.t_after[rep_i[sel]]
    m_blind = union_blind(m_tb, m_ta, per)
    return m_blind, union_bound(list(cols), m_tb, m_ta, m_blind, per)

