"""The capture summary printed after ``record``: measured from what reached disk.

It reads the session back from the tape alone — its ``session_start`` and
``session_stop`` event rows, the manifests and the parts — never the capture
loop's objects, so any past session can be summarised the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import TapeNotFound
from ..events import read_events
from ..tape.journal import read_journal
from ..tape.tape import Tape
from ._hist import LogHist

PCTS = (50, 90, 99, 99.9)


def percentiles(x: np.ndarray) -> dict[str, float]:
    """count/mean/p50/p90/p99/p99.9/max of an array (ns), NaN-safe for empty input."""
    if x.size == 0:
        return {"count": 0, "mean": float("nan"), **{f"p{p:g}": float("nan") for p in PCTS},
                "max": float("nan"), "min": float("nan")}
    q = np.percentile(x, PCTS)
    return {"count": int(x.size), "mean": float(x.mean()),
            **{f"p{p:g}": float(v) for p, v in zip(PCTS, q)},
            "max": float(x.max()), "min": float(x.min())}


@dataclass
class SymbolSummary:
    symbol: str
    snapshots: int
    expected: int
    missing: int
    duplicated: int
    rows: int
    seq_first: int
    seq_last: int
    time_order_ok: bool
    poll_duration_ns: dict[str, float]
    state_gap_ns: dict[str, float]


@dataclass
class Summary:
    """What a recording session did, read back from the tape."""

    root: str
    collector: str
    session: str
    topology: str
    source: str
    seconds: float
    polls: int
    stored: int
    unchanged: int
    none_results: int
    rows: int
    parts_sealed: int
    bytes_sealed: int
    recovered_journals: int
    symbols: list[SymbolSummary] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return sum(s.missing for s in self.symbols)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and all(s.duplicated == 0 and s.time_order_ok for s in self.symbols)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        d["lost"] = self.lost
        d["ok"] = self.ok
        return d


def _session_events(root: Path, collector: str, session: str) -> tuple[dict[str, Any], dict[str, Any]]:
    start = stop = None
    for e in read_events(root, collector):
        if (e.get("detail") or {}).get("session") == session:
            if e.get("kind") == "session_start":
                start = e
            elif e.get("kind") == "session_stop":
                stop = e
    if start is None or stop is None:
        raise TapeNotFound(f"session {session} of collector {collector} has no "
                           f"session_start/session_stop events under {root}")
    return start, stop


def empty_summary(root: Path, collector: str, source: str, topology: str) -> Summary:
    """The summary of a scheduled run that ended before any session opened."""
    return Summary(root=str(root), collector=collector, session="", topology=topology, source=source,
                   seconds=0.0, polls=0, stored=0, unchanged=0, none_results=0, rows=0,
                   parts_sealed=0, bytes_sealed=0, recovered_journals=0)


def summarize(data: Path | Tape, collector: str, session: str) -> Summary:
    """The summary of one finished recording session, read back from the tape.

    Raises:
        TapeNotFound: The session's start or stop event is not in the tape.
    """
    tape = Tape.of(data)
    root = tape.root
    start, stop = _session_events(root, collector, session)
    sd, pd_ = start["detail"], stop["detail"]
    t0, t1 = int(pd_.get("started_ns", start["t_ns"])), int(stop["t_ns"])
    parts = [e for e in tape.entries(collector=collector) if e.session == session]
    evs = [e for e in read_events(root, collector)
           if (e.get("detail") or {}).get("session", session) == session
           and t0 - 1_000_000_000 <= e.get("t_ns", 0) <= t1 + 1_000_000_000]
    ev_counts: dict[str, int] = {}
    for e in evs:
        ev_counts[e["kind"]] = ev_counts.get(e["kind"], 0) + 1
    out = Summary(root=str(root), collector=collector, session=session,
                  topology=sd.get("topology", ""), source=sd.get("source", ""),
                  seconds=(t1 - t0) / 1e9, polls=int(pd_["polls"]), stored=int(pd_["stored"]),
                  unchanged=int(pd_["unchanged"]), none_results=int(pd_["none_results"]), rows=0,
                  parts_sealed=len(parts), bytes_sealed=sum(p.bytes for p in parts),
                  recovered_journals=int(sd.get("recovered_journals", 0)), events=ev_counts)
    for sym, first, nxt in zip(sd["symbols"], sd["start_seq"], pd_["next_seq"]):
        y = _symbol_summary(tape, collector, sym, int(first), int(nxt))
        out.rows += y.rows
        out.symbols.append(y)
    return out


def _batches(tape: Tape, collector: str, sym: str, first: int,
             nxt: int) -> Iterator[tuple[pa.RecordBatch, bool]]:
    """The session's rows of one symbol, batch by batch, in seq order.

    Sealed parts never overlap in seq (sealing refuses it), so reading them in
    seq_min order one record batch at a time is seq order in bounded memory.
    """
    cols = ["seq", "level", "t_before_ns", "t_after_ns"]
    files = [f for f in tape.files(sym, collector) if not f.problem and (
        f.entry is None or (f.entry.seq_max >= first and f.entry.seq_min < nxt))]
    files.sort(key=lambda f: (f.entry is None, f.entry.seq_min if f.entry else 0, f.path.name))
    flt = (pc.field("seq") >= first) & (pc.field("seq") < nxt)
    for f in files:
        if f.entry is not None:
            for b in ds.dataset(str(f.path), format="parquet").to_batches(
                    columns=cols, filter=flt, batch_size=1 << 16):
                yield b, True
        else:
            t, _ = read_journal(f.path)
            for b in ds.dataset(t.select(cols)).to_batches(filter=flt):
                yield b, False


def _symbol_summary(tape: Tape, collector: str, sym: str, first: int, nxt: int) -> SymbolSummary:
    rows = snaps = dups = 0
    order_ok = True
    last_seq = first - 1
    last_mid: int | None = None
    durations, gaps = LogHist(), LogHist()
    for b, sealed in _batches(tape, collector, sym, first, nxt):
        if not sealed and last_seq >= 0:
            # A journal still holds rows a part already has only in the instant
            # between a seal's manifest line and the journal's removal: not duplicates.
            b = b.filter(pc.greater(b.column("seq"), pa.scalar(last_seq, pa.uint64())))
        rows += b.num_rows
        lvl = b.column("level").to_numpy()
        head = lvl <= 0
        seq = b.column("seq").to_numpy()[head].astype(np.int64)
        if not seq.size:
            continue
        tb = b.column("t_before_ns").to_numpy()[head]
        ta = b.column("t_after_ns").to_numpy()[head]
        # Ascending seq is new; anything at or below the last seen is a duplicate.
        prev = np.concatenate(([last_seq], np.maximum.accumulate(seq)[:-1]))
        new = seq > prev
        dups += int(seq.size - np.count_nonzero(new))
        snaps += int(np.count_nonzero(new))
        last_seq = max(last_seq, int(seq.max()))
        mid = tb + (ta - tb) // 2
        d = np.diff(mid) if last_mid is None else np.diff(mid, prepend=last_mid)
        if d.size and int(d.min()) < 0:
            order_ok = False
        last_mid = int(mid[-1])
        durations.add(ta - tb)
        gaps.add(np.maximum(d, 0))
    return SymbolSummary(
        symbol=sym, snapshots=snaps, expected=nxt - first, missing=(nxt - first) - snaps,
        duplicated=dups, rows=rows, seq_first=first, seq_last=nxt - 1,
        time_order_ok=order_ok, poll_duration_ns=durations.percentiles(),
        state_gap_ns=gaps.percentiles())
