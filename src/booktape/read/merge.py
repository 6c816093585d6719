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
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..clock import Clock, SystemClock
from ..errors import BadArgument, TapeNotFound
from ..tape.layout import check_name, parse_partition, partition_dirs
from ..units import parse_duration
from ._merge_write import MergedWriter
from .align import OffsetEstimate, estimate_offset
from .guarantee import Guarantee
from .merge_bound import CollectorStates, collector_guarantees, union_bound
from .merge_report import CollectorSummary, MergeReport
from .merge_rounds import ROUND_STATES, MergePlan, Rounds
from .merge_scan import CollectorScan, expected_states, scan_collector
from .merge_spill import DaySpill
from .sample import OFFSET_SAMPLE

I64 = npt.NDArray[np.int64]
_NO_STATES = CollectorStates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
U64 = npt.NDArray[np.uint64]
Offset = None | str | int | dict[str, int | str]
#: ``progress(phase, done, total)``: phase "read" (first pass) or "merge", in states.
Progress = Callable[[str, int, int], None]

#: Tolerance floor: below this, disagreements are clock-stamp noise on any OS.
MIN_TOLERANCE_NS = 200_000
#: A partial hash sample this large with no book in common: the collectors share none.
_DECIDING_SAMPLE = 10_000


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


def _overlap_notes(scans: list[CollectorScan]) -> list[str]:
    ref = scans[0]
    return [f"{s.name} recorded at other times than {ref.name} (no overlap): the merged tape "
            "is their union, nothing was compared"
            for s in scans[1:] if min(ref.t_last_ns, s.t_last_ns) <= max(ref.t_first_ns,
                                                                        s.t_first_ns)]


def _check_shared(ref: CollectorScan, s: CollectorScan, ha: U64, hb: U64, level: int) -> None:
    """Collectors recording at the same time that share no book did not record one market
    (issue 14: this was an IndexError after minutes of work). Only asked when the offset
    estimate found too few states in common, so a normal merge pays nothing for it.

    ``ha``, ``hb``: the two samples at one ``level`` (:mod:`.sample`). A complete sample
    (level 0) decides; a partial one decides only when it is large enough that books the
    collectors share would have shown up in it (a small sample is only forced in tests).
    """
    overlap = min(ref.t_last_ns, s.t_last_ns) - max(ref.t_first_ns, s.t_first_ns)
    decides = level == 0 or min(len(ha), len(hb)) >= _DECIDING_SAMPLE
    if overlap > 0 and decides and not len(np.intersect1d(ha, hb)):
        raise BadArgument(
            f"collectors {ref.name!r} and {s.name!r} share no book state ({ref.states:,} and "
            f"{s.states:,} states over the same time): they did not record the same market; "
            "check --symbol and the tape each collector wrote")


def merge(data: str | Path, collectors: str | list[str] | tuple[str, ...], out: str | Path | None,
          symbol: str | None = None, *, offset: Offset = None, tolerance: str | int | None = None,
          window: str | int = "1s", name: str = "merged", clock: Clock | None = None,
          write: bool = True, force: bool = False, progress: Progress | None = None,
          round_states: int = ROUND_STATES, sample_states: int = OFFSET_SAMPLE) -> MergeReport:
    """Align redundant collectors of one symbol, report what differs, write the merged tape.

    Streams: a first pass reads each collector once for the clock offsets and poll
    timing (keeping bounded samples, :mod:`.sample`), a second aligns and writes the collectors
    window by window (:mod:`.merge_rounds`), so a full day merges in bounded memory.

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
            (without it that is an error, found before any work; with it the old one
            is removed once the first pass has succeeded).
        progress: called as ``progress(phase, done, total)`` with phase ``"read"`` (first
            pass) or ``"merge"`` (second), counting states against the manifests' total.
        round_states: states per collector aligned at a time (memory against speed; the
            result does not depend on it).
        sample_states: distinct states per collector kept for the clock-offset estimate
            (:mod:`.sample`; a tape with fewer is estimated from all of them).

    Raises:
        BadArgument: malformed collectors/offset, ``"auto"`` with too few common states,
            or collectors that share no state over the same time.
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
    for v in wanted.values():  # bad input is found before minutes of reading
        if v != "auto":
            _signed_duration(v, "--offset")
    if tolerance is not None:
        _signed_duration(tolerance, "--tolerance")
    window_ns = _signed_duration(window, "--window")
    total = sum(expected_states(root, sym, c) for c in cols)

    def tick(phase: str) -> Callable[[int], None] | None:
        if progress is None:
            return None
        done = [0]
        progress(phase, 0, total)

        def step(n: int) -> None:
            done[0] += n
            progress(phase, done[0], max(total, done[0]))
        return step

    read_tick = tick("read")
    with closing(DaySpill(len(cols))) as spill:
        scans = []
        for k, c in enumerate(cols):
            s = scan_collector(root, sym, c, read_tick, sample_states=sample_states)
            # The day-long arrays wait on disk for the offsets: one collector in memory at a time.
            spill.put(k, s.times)
            scans.append(replace(s, times=_NO_STATES))
            del s
        for s in scans:
            if not s.states:
                raise TapeNotFound(f"collector {s.name!r} has no {sym} states in {root}")
        notes = _overlap_notes(scans)

        # Offsets: each collector against the reference, on distinct states (the first one left
        # out, :mod:`.merge_scan`), sampled by hash at the coarser of the two sides' levels so
        # both keep the same books. Why the sample costs no precision: the estimate is a median
        # of per-pair differences whose spread is poll timing (tens of us); its standard error
        # is 1.25 * spread / sqrt(pairs), ~0.02 us at the 1 M pairs a sample keeps, against a
        # stated uncertainty that also carries the poll-timing bound (~10 us) -- and the sample
        # is the same books on both sides, so it is the full estimate's pairs, thinned at random.
        offsets: list[OffsetEstimate] = []
        applied = [0] * len(cols)
        match_shift = [0] * len(cols)
        ref, st0 = scans[0], scans[0].poll
        for k in range(1, len(cols)):
            sk = scans[k]
            bound = (abs(sk.poll.period_p50_ns - st0.period_p50_ns)
                     + max(sk.poll.duration_p50_ns, st0.duration_p50_ns)) // 2
            level = max(ref.sample.level, sk.sample.level)
            (ha, ta), (hb, tb) = ref.sample.at_level(level), sk.sample.at_level(level)
            est = estimate_offset(ha, ta, hb, tb, bound_ns=bound, collector=cols[k],
                                  reference=cols[0])
            if est is None:
                _check_shared(ref, sk, ha, hb, level)
            del ha, ta, hb, tb
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
        stats = [s.poll for s in scans]
        spans = [(s.t_first_ns - a, s.t_last_ns - a) for s, a in zip(scans, applied)]
        summary_counts = [(s.states, s.distinct) for s in scans]
        # The second pass needs none of the first pass's samples.
        del scans, ref, sk

        # Tolerance: how long two honest collectors can disagree.
        if tolerance is not None:
            tol = _signed_duration(tolerance, "--tolerance")
        else:
            # Poll timing as stamped, or the measured spread of when the collectors saw
            # the same changes (it includes preemption between polls, which stamps miss).
            tol = max(max(p.duration_p99_ns for p in stats) + 2 * max(p.period_p99_ns for p in stats),
                      max((o.jitter_ns for o in offsets), default=0), MIN_TOLERANCE_NS)
            tol += max((o.uncertainty_ns for o in offsets if o.applied_ns), default=0)

        # Reads on clocks the merge was told are one (no offset, or one given) order exactly;
        # an estimated offset is good to its uncertainty.
        margin = [0] * len(cols)
        for o in offsets:
            if o.applied_ns and o.applied_ns == o.offset_ns:
                margin[cols.index(o.collector)] = o.uncertainty_ns
        plan = MergePlan(root, sym, cols, applied, match_shift, window_ns, tol, stats, spans, margin)
        # The collectors' per-state arrays for the union's bound live on disk from here on;
        # each round maps them (:mod:`.merge_spill`).
        guarantees = _collector_bounds(applied, spill, list(cols))
        writer = None
        if write:
            for d in old:  # --force: only once the first pass found the collectors mergeable
                shutil.rmtree(d)
            now = (clock or SystemClock()).now_ns()
            span = (min(a for a, _ in spans) - 1_000_000_000, max(b for _, b in spans) + 1_000_000_000)
            writer = MergedWriter(Path(str(out)), sym, name, cols, applied, tol, now, span)
        try:
            rounds = Rounds(plan, writer, tick("merge"), round_states, spill.all)
            totals = rounds.run()
            parts = writer.close()[0] if writer is not None else []
        except BaseException:
            if writer is not None:
                writer.abort()
            raise

        # The day-long arrays go as soon as they are used; the collectors' guarantees were
        # taken before the merged times grew.
        m_times = rounds.merged_times()
        del rounds
        union = union_bound(guarantees, *m_times)
        del m_times
        summaries = []
        for k, c in enumerate(cols):
            lo, hi = spans[k]
            summaries.append(CollectorSummary(
                c, summary_counts[k][0], summary_counts[k][1], lo, hi, totals.only_here[k],
                sum(r.states for r in totals.missing if r.collector == c), stats[k]))
        return MergeReport(
            symbol=sym, collectors=cols, out=str(out or ""), name=name, per_collector=summaries,
            merged_states=totals.merged_states, merged_rows=totals.merged_rows,
            seen_by_all=totals.seen_by_all, missing=totals.missing,
            conflicts=sorted(totals.conflicts, key=lambda x: x.t_start_ns), offsets=offsets,
            tolerance_ns=tol, reordered=totals.reordered, parts=parts, notes=notes,
            bound=union)


def _collector_bounds(applied: list[int], spill: DaySpill, names: list[str]
                      ) -> dict[str, Guarantee]:
    """Each collector's states (one each, offsets applied, by t_after) for blind_ns -- stamps,
    bound, book and whether unchanged polls followed it (:mod:`.merge_bound`) -- put in
    ``spill`` (as the first pass left them there); returns each collector's own guarantee.
    One collector's arrays are in memory at a time.

    Shifted in place and sorted only when out of order: stamps are monotonic within
    a collector, and a full day's copies would cost 240 MB a collector (issue 12).
    """
    out: dict[str, Guarantee] = {}
    for k, a in enumerate(applied):
        c = spill.get(k, mmap=False)  # in memory: shifted in place
        tb, ta, blind, h, reread = c.tb, c.ta, c.blind, c.hash, c.reread
        del c
        tb -= a
        ta -= a
        if len(ta) > 1 and not bool(np.all(ta[1:] >= ta[:-1])):
            o = np.argsort(ta, kind="stable")
            tb = tb[o]
            ta = ta[o]
            blind = blind[o]
            h = h[o] if h is not None else None
            reread = reread[o] if reread is not None else None
            del o
        cs = CollectorStates(tb, ta, blind, h, reread)
        out.update(collector_guarantees([names[k]], [cs]))
        spill.put(k, cs)
        del cs, tb, ta, blind, h, reread
    return out
