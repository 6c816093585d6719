"""The capture summary printed after ``record``: measured from what reached disk.

It reads the session back from the tape alone — its ``session_start`` and
``session_stop`` event rows, the manifests and the parts — never the capture
loop's objects, so any past session can be summarised the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TapeNotFound
from ..events import read_events
from ..tape.tape import Tape
from .batches import collector_files, iter_batches
from .guarantee import guarantee, threshold_ns

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
    #: issue 13: every state that lasted longer than this was recorded, outside blind spots
    #: (p99.9 of blind_ns); None when the bound is unknown
    guaranteed_ns: float | None = None
    guaranteed_max_ns: float | None = None
    blind_spots: int = 0
    blind_spot_total_ns: int = 0
    blind_spot_worst_ns: int = 0


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
        rows, seq, tb, ta, blind, pruned = _session_states(tape, sym, collector, first,
                                                           max(nxt, first))
        uniq = np.unique(seq)
        mid = tb + (ta - tb) // 2
        bl = blind
        tail = (pd_.get("trailing_blind_ns") or {}).get(sym)
        if tail is not None:  # the bound after the last stored state, up to the last poll
            bl, tb_g, ta_g = np.append(bl, int(tail)), np.append(tb, t1), np.append(ta, t1)
        else:
            tb_g, ta_g = tb, ta
        g = guarantee(bl, tb_g, ta_g, threshold_ns(bl))
        out.rows += rows
        n = int(uniq.size) + pruned
        out.symbols.append(SymbolSummary(
            symbol=sym, snapshots=n, expected=nxt - first,
            missing=(nxt - first) - n, duplicated=int(seq.size - uniq.size),
            rows=rows, seq_first=first, seq_last=nxt - 1,
            time_order_ok=bool(np.all(np.diff(mid) >= 0)) if mid.size else True,
            poll_duration_ns=percentiles((ta - tb).astype(np.float64)),
            state_gap_ns=percentiles(np.diff(mid).astype(np.float64)),
            guaranteed_ns=g.lifetime_p999_ns, guaranteed_max_ns=g.lifetime_max_ns,
            blind_spots=g.spot_count, blind_spot_total_ns=g.spot_total_ns,
            blind_spot_worst_ns=g.spot_worst_ns,
        ))
    return out


def _session_states(root: Path | Tape, symbol: str, collector: str, first: int, end: int
                    ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Level rows, and seq/t_before/t_after/blind_ns (-1: null) per state of seq
    ``[first, end)``, streamed.

    Parts that ``record --no-local`` deleted once the bus acknowledged them are
    counted from their manifest lines (rows and states; no timing from them).
    """
    files, pruned, rows = [], 0, 0
    for f in collector_files(root, symbol, collector):
        e = f.entry
        if e is not None and e.seq_max < first or e is not None and e.seq_min >= end:
            continue
        if e is not None and not f.path.exists():
            pruned += e.snapshots
            rows += e.rows
            continue
        files.append(f)
    seqs, tbs, tas, bls = [], [], [], []
    for t in iter_batches(root, symbol, collector, verify=False, files=files,
                          columns=["seq", "t_before_ns", "t_after_ns", "blind_ns"]):
        seq = t.column("seq").to_numpy().astype(np.int64)
        m = (seq >= first) & (seq < end)
        rows += int(m.sum())
        starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]] & m)
        seqs.append(seq[starts])
        tbs.append(t.column("t_before_ns").to_numpy()[starts])
        tas.append(t.column("t_after_ns").to_numpy()[starts])
        bls.append(t.column("blind_ns").fill_null(-1).to_numpy()[starts])

    def cat(a: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(a) if a else np.zeros(0, np.int64)
    return rows, cat(seqs), cat(tbs), cat(tas), cat(bls), pruned
