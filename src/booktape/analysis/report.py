"""``booktape.analysis.report``: the numbers behind ``booktape analyze``.

Scans a tape (or a folder of the notebook's CSVs) once, one row per snapshot,
computes a :class:`~booktape.analysis.quality.StreamReport` per symbol and
collector, compares collectors of the same symbol (a burst one of them
missed), checks part checksums, and names every problem found.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadArgument, TapeNotFound
from ..events import read_events
from ..read.filters import check_filters
from ..read.reader import damaged, warn_problems
from ..tape.manifest import sha256_file
from ..tape.tape import Tape
from ..units import parse_duration, parse_time
from ._scan import Stream
from .bound import StreamBound, stream_bound
from .notebook import is_csv_folder, scan
from .quality import LIST_MAX, StreamReport, analyze_stream
from .sessions import SessionWindow

QUIET_EVENTS = ("session_start", "session_stop", "seal")
#: Problem kinds that make ``analyze`` exit 1 (loss, duplicates, disorder, damage).
ERROR_KINDS = ("missing", "duplicate", "disorder", "seq-order", "corrupt", "unreadable",
               "skipped")


@dataclass
class Problem:
    """One named finding: what, where, and how bad."""

    kind: str
    severity: str  # "error" (exit 1) or "warning"
    symbol: str
    collector: str
    message: str
    file: str = ""


@dataclass
class Burst:
    """States one collector stored while another, recording the same symbol, stored none."""

    symbol: str
    collector: str  # the one that missed them
    other: str
    t_start_ns: int
    t_end_ns: int
    states_missed: int


@dataclass
class Report:
    """What ``booktape analyze`` shows, as data. ``ok`` is False on loss, dupes or disorder."""

    data: str
    source: str  # "tape" or "csv"
    streams: list[StreamReport]
    problems: list[Problem] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    checksums_checked: int = 0
    bounds: list[StreamBound] = field(default_factory=list)  # issue 13: blind_ns per stream

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ok"] = self.ok
        return d

    def tables(self) -> dict[str, Any]:
        """The report as pandas DataFrames (see :mod:`booktape.analysis.tables`)."""
        from .tables import report_tables

        return report_tables(self)


def _hash_parts(files: list[Any], stop: threading.Event | None = None) -> dict[str, str]:
    out = {}
    for f in files:
        if stop is not None and stop.is_set():
            break
        try:
            digest = sha256_file(f.path, stop)
        except OSError as e:
            digest = f"unreadable: {e}"
        if stop is not None and stop.is_set():
            break  # a prefix's digest: the caller is giving up and reads none of this
        out[str(f.path)] = digest
    return out


def scan_and_hash(files: list[Any], scan_rows: Callable[[], list[Stream]]
                  ) -> tuple[list[Stream], dict[str, str]]:
    """``scan_rows()`` while the parts ``files`` are hashed beside it: their sha256 by path.

    Whatever ends this early (an error, or Ctrl-C in the scan *or while waiting for the
    hashes*, where it lands when the scan finishes first) tells the hashing to stop, within
    a block of the file at hand: leaving the executor joins its thread, and a Ctrl-C must
    not wait for a day's parts to be hashed (issue 14).
    """
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        try:
            hashes = pool.submit(_hash_parts, files, stop)
            return scan_rows(), hashes.result()
        except BaseException:
            stop.set()
            raise


def report(data: str | Path, symbol: str | None = None, collector: str | None = None,
           start: object = None, end: object = None, *, stall_factor: float = 10.0,
           stall_min: str | int = "50ms", burst_min: int = 10,
           check_checksums: bool = True, skip_damaged: bool = False,
           strict: bool = False,
           windows: Callable[[int, int], list[SessionWindow]] | None = None,
           blind_min: str | int = "1ms", blind_factor: float = 10.0,
           by: str | int | None = None) -> Report:
    """Analyse the capture quality of a tape or of a folder of notebook CSVs.

    Args:
        data: a booktape tape directory, or a folder of the notebook's ``N.csv`` files.
        symbol, collector: analyse only these.
        start, end: only snapshots with ``start <= t_before < end`` (ISO text, datetime, ns).
        stall_factor: a gap is a stall when over ``stall_factor`` x the median.
        stall_min: ... and over this duration (text like ``"50ms"`` or ns).
        burst_min: states another collector stored inside one gap to call it a missed burst.
        check_checksums: hash every sealed part against its manifest (in parallel with the scan).
        skip_damaged: leave out parts and journal batches that fail their checksum (each
            named in a ``skipped`` problem) instead of refusing to analyse.
        strict: damaged manifest lines or parts no manifest lists are an error, not a warning.
        windows: the trading sessions between two times (ns), from a calendar: closed
            time is neither stall nor gap, and each window is reported; default: the
            windows the recorder's ``session_open`` events name.
        blind_min, blind_factor: a stored state's ``blind_ns`` marks a blind spot when over
            ``blind_min`` and over ``blind_factor`` x the stream's median.
        by: also report the guaranteed lifetime per bin of this length (``"1min"``).

    Returns:
        A :class:`Report`; ``report.tables()`` gives DataFrames, ``report.to_dict()`` JSON.

    Raises:
        TapeNotFound: nothing to analyse at ``data``.
        BadArgument: a malformed time, duration or CSV.
        TapeDamaged: a part or journal batch fails its checksum and not ``skip_damaged``.
    """
    start_ns, end_ns = parse_time(start, "--start"), parse_time(end, "--end")
    if not stall_factor > 0:
        raise BadArgument(f"invalid --stall-factor {stall_factor}: must be positive "
                          "(a gap is a stall when over this many times the median)")
    stall_min_ns = stall_min if isinstance(stall_min, int) else parse_duration(stall_min,
                                                                               "--stall-min")
    check_filters(data, symbol, collector, start_ns, end_ns)
    blind_min_ns = blind_min if isinstance(blind_min, int) else parse_duration(blind_min,
                                                                               "--blind-min")
    by_ns = None if by is None else by if isinstance(by, int) else parse_duration(by, "--by")
    if by_ns is not None and by_ns <= 0:
        raise BadArgument(f"--by {by!r} must be a positive duration, e.g. 1min")
    csv = is_csv_folder(data)
    tape = None if csv else Tape.of(data)
    if tape is not None:
        warn_problems(tape, symbol, collector, strict)
    parts = [] if tape is None else [f for f in tape.files(symbol, collector, start_ns, end_ns)
                                     if f.sealed]
    streams, digests = scan_and_hash(
        [f for f in parts if f.listed] if check_checksums else [],
        lambda: scan(tape or data, symbol, collector, start_ns, end_ns))
    if not streams and (symbol or collector or start_ns is not None or end_ns is not None):
        raise TapeNotFound(f"no snapshots in {data} match {_filters(symbol, collector, start, end)}")
    events = [] if csv else read_events(Path(data), collector)
    rep = Report(str(data), "csv" if csv else "tape", [], checksums_checked=len(digests))
    bad = {str(f.path): f"checksum mismatch in {f.path}: the part changed after sealing"
           for f in parts if f.entry is not None and digests.get(str(f.path)) not in
           (None, f.entry.sha256)}
    bad.update({str(f.path): f"part {f.path} is in no manifest and unreadable: {f.problem}"
                for f in parts if f.problem})
    for st in streams:
        bad.update({i.path: f"journal {i.path} is damaged: {i.damaged}"
                    for i in st.files if i.damaged})
    for path, msg in bad.items():
        damaged(msg, skip_damaged)  # refuses (TapeDamaged) unless told to skip
        f = next((f for f in parts if str(f.path) == path), None)
        rep.problems.append(Problem("skipped", "warning", f.symbol if f else "",
                                    f.collector if f else "", f"skipped: {msg}", path))
    if bad and any(p in {str(f.path) for f in parts} for p in bad):
        # The parts' rows were scanned before their hashes were known: scan again without.
        streams = scan(tape or data, symbol, collector, start_ns, end_ns,
                       exclude=frozenset(bad))
    for s in streams:
        ev = _events_for(events, s, start_ns, end_ns)
        wins = None
        if windows is not None and s.t_before.size:
            wins = windows(int(s.t_before.min()), int(s.t_after.max()))
        r = analyze_stream(s, stall_factor=stall_factor, stall_min_ns=stall_min_ns, events=ev,
                           windows=wins)
        rep.streams.append(r)
        rep.problems.extend(stream_problems(r))
        if not csv:
            sb = stream_bound(s, ev, by_ns=by_ns, blind_min_ns=blind_min_ns, factor=blind_factor,
                              windows=wins)
            rep.bounds.append(sb)
            rep.problems.extend(bound_problems(sb))
    rep.bursts = missed_bursts(streams, burst_min)
    for b in rep.bursts[:LIST_MAX]:
        rep.problems.append(Problem(
            "missed-burst", "warning", b.symbol, b.collector,
            f"collector {b.collector} missed a burst: {b.states_missed:,} states that "
            f"{b.other} stored between {_t(b.t_start_ns)} and {_t(b.t_end_ns)} "
            f"({(b.t_end_ns - b.t_start_ns) / 1e6:,.1f} ms)"))
    return rep


def _filters(symbol: str | None, collector: str | None, start: object, end: object) -> str:
    given = {"--symbol": symbol, "--collector": collector, "--start": start, "--end": end}
    return " ".join(f"{k} {v}" for k, v in given.items() if v is not None)


def _t(ns: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime(
        "%Y-%m-%d %H:%M:%S.%f")


def _events_for(events: list[dict[str, Any]], s: Stream, start_ns: int | None,
                end_ns: int | None) -> list[dict[str, Any]]:
    out = []
    for e in events:
        if e.get("collector") not in (None, s.collector):
            continue
        if e.get("symbol") not in (None, s.symbol):
            continue
        t = int(e.get("t_ns", 0))
        if (start_ns is not None and t < start_ns) or (end_ns is not None and t >= end_ns):
            continue
        out.append(e)
    return out


def stream_problems(r: StreamReport) -> list[Problem]:
    """The named problems of one stream's report."""
    out: list[Problem] = []

    def add(kind: str, sev: str, msg: str, file: str = "") -> None:
        out.append(Problem(kind, sev, r.symbol, r.collector, msg, file))

    for f in r.parts:
        if f.error:
            add("unreadable", "error", f"{f.file} cannot be read: {f.error}", f.file)
    q = r.seq
    if q.missing:
        rngs = ", ".join(f"{m.first}" if m.count == 1 else f"{m.first}..{m.last}"
                         for m in q.missing_ranges[:10])
        add("missing", "error", f"{q.missing:,} seq missing (lost states): {rngs}"
            + (" …" if len(q.missing_ranges) > 10 else ""))
    if q.duplicated:
        rngs = "; ".join(f"{d.first}..{d.last} in {', '.join(d.files)}"
                         for d in q.duplicate_ranges[:5])
        add("duplicate", "error", f"{q.duplicated:,} duplicated seq: {rngs}")
    if q.out_of_order:
        add("seq-order", "error", f"rows stored out of seq order {q.out_of_order:,} time(s)")
    if not r.order.kept:
        add("disorder", "error", r.order.explanation,
            r.order.rows[0].file if r.order.rows else "")
    if r.stall_count:
        g = max(r.stalls, key=lambda x: x.gap_ns)
        add("stall", "warning",
            f"{r.stall_count:,} stall(s) (polls stopped for over "
            f"{r.stall_threshold_ns / 1e6:,.1f} ms); longest {g.gap_ns / 1e6:,.1f} ms "
            f"from {_t(g.t_start_ns)} (seq {g.seq_before} → {g.seq_after})")
    for f in r.parts:
        if f.kind == "journal":
            add("open-journal", "warning", f"{f.file} is an unsealed journal (recording, or "
                "left by a crash: run `booktape recover`)", f.file)
    for e in r.events:
        if e.get("kind") in ("drop",):
            add("drop", "error", f"a drop event: {e.get('count', 0)} lost at {_t(int(e['t_ns']))}")
    return out


def bound_problems(sb: StreamBound) -> list[Problem]:
    """A warning per stream with blind spots: where states of some length may be missing."""
    g = sb.overall
    if not g.spot_count:
        return []
    w = max(g.spots, key=lambda p: p.blind_ns)
    return [Problem("blind-spot", "warning", sb.symbol, sb.collector,
                    f"{g.spot_count:,} blind spot(s) ({g.spot_total_ns / 1e6:,.1f} ms in all) where "
                    f"states up to their length may be missing; worst {w.blind_ns / 1e6:,.1f} ms "
                    f"ending {_t(w.until_ns)}")]


def missed_bursts(streams: list[Stream], burst_min: int = 10) -> list[Burst]:
    """Gaps of one collector inside which another collector of the symbol stored many states."""
    by_sym: dict[str, list[Stream]] = {}
    for s in streams:
        by_sym.setdefault(s.symbol, []).append(s)
    out: list[Burst] = []
    for sym, ss in by_sym.items():
        if len(ss) < 2:
            continue
        mids = {s.collector: np.sort(s.t_before + (s.t_after - s.t_before) // 2) for s in ss}
        for a_name, a in mids.items():
            for b_name, b in mids.items():
                if a_name == b_name or a.size < 2 or b.size == 0:
                    continue
                lo = max(a[0], b[0])
                hi = min(a[-1], b[-1])
                cnt = np.searchsorted(b, a[1:], "left") - np.searchsorted(b, a[:-1], "right")
                hit = np.flatnonzero((cnt >= burst_min) & (a[:-1] >= lo) & (a[1:] <= hi))
                out.extend(Burst(sym, a_name, b_name, int(a[i]), int(a[i + 1]), int(cnt[i]))
                           for i in hit)
    return out
