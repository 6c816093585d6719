"""Metrics of one finished run, from the files it left: poll stamps, seal windows, the tape.

Gaps are between consecutive poll starts. A gap is "in a seal window" when it
overlaps one (a ``seal`` event of the recorder, a ``to_csv`` of the notebook),
so rotation's cost is shown apart from steady state. Loss and duplicates come
from reading the output back, never from the recorder's counters alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ._types import TapeCheck

#: Log-spaced gap histogram edges (ns): 100 ns .. 10 s, 20 bins per decade.
HIST_EDGES = np.logspace(2, 10, 161)


def pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if x.size else math.nan


def seal_windows(root: Path, diag: Path, notebook: bool) -> np.ndarray:
    """Start/end wall ns of every seal (recorder) or ``to_csv`` (notebook), shape (n, 2)."""
    if notebook:
        w = diag / "windows.npy"
        return np.load(w) if w.exists() else np.zeros((0, 2), np.int64)
    from ..events import read_events

    rows = [(e["t_ns"], e["t_ns"] + e.get("duration_ns", 0))
            for e in read_events(root) if e["kind"] == "seal"]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def in_windows(t: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """For each gap ``t[i]..t[i+1]``: does it overlap any window?"""
    mask = np.zeros(max(t.size - 1, 0), dtype=bool)
    for a, b in windows:
        mask |= (t[1:] >= a) & (t[:-1] < b)
    return mask


def check_tape(root: Path, symbol: str, expected: int, seq_first: int,
               collector: str | None = None) -> TapeCheck:
    """Seq contiguity of the session's snapshots as read back from the sealed parts."""
    from ..read.reader import read_arrow
    from ..tape.layout import partition_dirs

    snaps = read_arrow(root, symbol, collector, columns=["seq", "t_before_ns", "t_after_ns"],
                       snapshots_only=True, verify=True)
    seq = snaps.column("seq").to_numpy().astype(np.int64)
    keep = (seq >= seq_first) & (seq < seq_first + expected)
    uniq = np.unique(seq[keep])
    dur = (snaps.column("t_after_ns").to_numpy() - snaps.column("t_before_ns").to_numpy())[keep]
    rows = read_arrow(root, symbol, collector, columns=["seq"], verify=False).num_rows
    parts = [p for d in partition_dirs(root, collector=collector) for p in Path(d).glob("*.parquet")]
    return TapeCheck(expected=expected, snapshots=int(uniq.size),
                     duplicated=int(seq.size - np.unique(seq).size), rows=rows,
                     bytes=sum(p.stat().st_size for p in parts), poll_durations=dur.astype(np.int64))


def bound_guarantee(root: Path, symbol: str, seq_first: int, expected: int,
                    collector: str | None = None) -> Any:
    """The run's :class:`~booktape.read.guarantee.Guarantee` (None when it stored nothing)."""
    from ..events import read_events
    from ..read.guarantee import guarantee, threshold_ns
    from ..read.reader import read_arrow

    t = read_arrow(root, symbol, collector, columns=["seq", "t_before_ns", "t_after_ns", "blind_ns"],
                   snapshots_only=True, verify=False)
    seq = t.column("seq").to_numpy().astype(np.int64)
    keep = (seq >= seq_first) & (seq < seq_first + expected)
    blind = t.column("blind_ns").fill_null(-1).to_numpy()[keep]
    tb = t.column("t_before_ns").to_numpy()[keep]
    ta = t.column("t_after_ns").to_numpy()[keep]
    for e in read_events(root, collector):
        tail = (e.get("detail") or {}).get("trailing_blind_ns") or {}
        if e["kind"] == "session_stop" and symbol in tail and ta.size and e["t_ns"] >= ta[-1]:
            blind = np.append(blind, int(tail[symbol]))
            tb, ta = np.append(tb, int(e["t_ns"])), np.append(ta, int(e["t_ns"]))
    if not blind.size:
        return None
    return guarantee(blind, tb, ta, threshold_ns(blind))


def bound_metrics(root: Path, symbol: str, seq_first: int, expected: int,
                  collector: str | None = None) -> dict[str, float]:
    """The guaranteed lifetime and blind-spot time of the run's tape (issue 13)."""
    g = bound_guarantee(root, symbol, seq_first, expected, collector)
    if g is None:
        return {}
    minutes = (g.end_ns - g.start_ns) / 60e9
    nan = math.nan
    return {"B_p50_us": (g.lifetime_p50_ns or nan) / 1e3,
            "B_p999_us": (g.lifetime_p999_ns or nan) / 1e3,
            "B_max_us": (g.lifetime_max_ns or nan) / 1e3, "blind_spots": float(g.spot_count),
            "blind_ms_per_min": g.spot_total_ns / 1e6 / minutes if minutes else nan}


def truth_metrics(root: Path, truth: Path, collector: str | None = None) -> dict[str, float]:
    """True states, stored and missed (by the sim's own timeline), for runs on the sim."""
    from ..analysis.truth import score_truth

    rep = score_truth(root, truth, collector=collector)
    s = rep.scores[0]
    return {"true_states": float(s.true_states), "true_missed": float(s.missed),
            "true_missed_pct": 100.0 * s.missed / s.true_states if s.true_states else math.nan,
            "true_missed_ge1ms": float(s.missed_by_lifetime["<10ms"]
                                       + s.missed_by_lifetime[">=10ms"]),
            "truth_violations": float(len(s.violations))}


def gap_metrics(t: np.ndarray, windows: np.ndarray) -> dict[str, float]:
    gaps = np.diff(t).astype(np.float64)
    sg = gaps[in_windows(t, windows)]
    span = (t[-1] - t[0]) / 1e9 if t.size > 1 else math.nan
    return {
        "polls_s": gaps.size / span if span and span > 0 else math.nan,
        "gap_p50_us": pct(gaps, 50) / 1e3, "gap_p99_us": pct(gaps, 99) / 1e3,
        "gap_p999_us": pct(gaps, 99.9) / 1e3,
        "gap_max_us": float(gaps.max()) / 1e3 if gaps.size else math.nan,
        "gap_range_us": float(gaps.max() - gaps.min()) / 1e3 if gaps.size else math.nan,
        "gaps_over_1ms_per_10k": float((gaps > 1e6).sum()) * 1e4 / gaps.size if gaps.size else math.nan,
        "gaps_over_10ms": float((gaps > 1e7).sum()),
        "seals": float(len(windows)), "seal_gaps": float(sg.size),
        "seal_gap_p50_us": pct(sg, 50) / 1e3, "seal_gap_p999_us": pct(sg, 99.9) / 1e3,
        "seal_gap_max_us": float(sg.max()) / 1e3 if sg.size else math.nan,
    }


def gap_histogram(t: np.ndarray) -> list[int]:
    gaps = np.clip(np.diff(t).astype(np.float64), HIST_EDGES[0], HIST_EDGES[-1] * 0.999)
    counts, _ = np.histogram(gaps, bins=HIST_EDGES)
    return [int(c) for c in counts]


def measure_run(root: Path, diag: Path, child: dict[str, Any], *, notebook: bool,
                symbol: str, collector: str | None = None,
                truth: Path | None = None) -> tuple[dict[str, float], list[int]]:
    """Every per-run metric (flat, floats; µs for gaps, ms for latency) and the gap histogram."""
    t = np.load(diag / "polls.npy")
    windows = seal_windows(root, diag, notebook)
    m = gap_metrics(t, windows)
    if notebook:
        from .notebook import read_back

        chk = read_back(root, child["expected"])
        lat = np.load(diag / "latency.npy")
    else:
        chk = check_tape(root, symbol, child["expected"], child.get("seq_first", 0), collector)
        files = sorted(diag.glob("latency-*.npy"))
        lat = np.concatenate([np.load(f) for f in files]) if files else np.array([])
    ev = child.get("events", {})
    d = chk.poll_durations.astype(np.float64)
    m.update({
        "polls": float(child["polls"]), "stored": float(child.get("stored", 0)),
        "poll_p50_us": pct(d, 50) / 1e3, "poll_p99_us": pct(d, 99) / 1e3,
        "poll_p999_us": pct(d, 99.9) / 1e3,
        "durable_p50_ms": pct(lat, 50) / 1e6, "durable_p99_ms": pct(lat, 99) / 1e6,
        "durable_max_ms": float(lat.max()) / 1e6 if lat.size else math.nan,
        "stall_events": float(sum(ev.get(k, 0) for k in ("stall", "spill", "drop"))),
        "expected": float(chk.expected), "snapshots": float(chk.snapshots),
        "lost": float(chk.lost), "duplicated": float(chk.duplicated),
        "rows": float(chk.rows), "bytes_on_disk": float(chk.bytes),
        "bytes_per_row": chk.bytes / chk.rows if chk.rows else math.nan,
    })
    if not notebook:
        m.update(bound_metrics(root, symbol, child.get("seq_first", 0), child["expected"],
                               collector))
        truth = truth or root.parent / "truth.json"
        if truth.exists():
            m.update(truth_metrics(root, truth, collector))
    return m, gap_histogram(t)
