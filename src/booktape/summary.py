"""The capture summary printed after ``record``: measured from what reached disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .events import read_events
from .tape.layout import partition_dirs
from .tape.manifest import read_manifest

if TYPE_CHECKING:
    from .capture.loop import CaptureResult
    from .transport import RecordPlan

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


def summarize(root: Path, plan: RecordPlan, result: CaptureResult, stats: dict[str, int],
              t0: int, t1: int, recovered: int = 0) -> Summary:
    from .read.reader import read_arrow

    parts = [e for d in partition_dirs(root, collector=plan.collector)
             for e in read_manifest(d) if e.session == plan.session]
    evs = [e for e in read_events(root, plan.collector)
           if (e.get("detail") or {}).get("session", plan.session) == plan.session
           and t0 - 1_000_000_000 <= e.get("t_ns", 0) <= t1 + 1_000_000_000]
    ev_counts: dict[str, int] = {}
    for e in evs:
        ev_counts[e["kind"]] = ev_counts.get(e["kind"], 0) + 1
    out = Summary(root=str(root), collector=plan.collector, session=plan.session,
                  topology=plan.meta.get("topology", ""), source=plan.source.kind,
                  seconds=(t1 - t0) / 1e9, polls=result.polls, stored=result.stored,
                  unchanged=result.unchanged, none_results=result.none_results, rows=0,
                  parts_sealed=len(parts), bytes_sealed=sum(p.bytes for p in parts),
                  recovered_journals=recovered, events=ev_counts)
    for k, sym in enumerate(plan.capture.symbols):
        first, nxt = plan.start_seq[k], result.next_seq[k]
        t = read_arrow(root, sym, plan.collector, columns=["seq"], verify=False)
        seq_all = t.column("seq").to_numpy()
        in_session = (seq_all >= first) & (seq_all < max(nxt, first))
        rows = int(in_session.sum())
        lvl0 = read_arrow(root, sym, plan.collector, columns=["seq", "t_before_ns", "t_after_ns"],
                          snapshots_only=True, verify=False)
        seq = lvl0.column("seq").to_numpy().astype(np.int64)
        m = (seq >= first) & (seq < nxt)
        seq = seq[m]
        tb = lvl0.column("t_before_ns").to_numpy()[m]
        ta = lvl0.column("t_after_ns").to_numpy()[m]
        uniq = np.unique(seq)
        mid = tb + (ta - tb) // 2
        out.rows += rows
        out.symbols.append(SymbolSummary(
            symbol=sym, snapshots=int(uniq.size), expected=nxt - first,
            missing=(nxt - first) - int(uniq.size), duplicated=int(seq.size - uniq.size),
            rows=rows, seq_first=first, seq_last=nxt - 1,
            time_order_ok=bool(np.all(np.diff(mid) >= 0)) if mid.size else True,
            poll_duration_ns=percentiles((ta - tb).astype(np.float64)),
            state_gap_ns=percentiles(np.diff(mid).astype(np.float64)),
        ))
    return out
