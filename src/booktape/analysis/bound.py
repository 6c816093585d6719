"""The guaranteed lifetime and blind spots of each stream, per session, hour and ``--by`` bin.

A thin layer over :mod:`booktape.read.guarantee`: it orders a scanned stream
in time, adds each session's trailing bound (the ``session_stop`` event's
``trailing_blind_ns``: after the last stored state, up to the last poll) and
groups the states by session, by UTC hour and, when asked, by a fixed bin
(``--by 1min``). The blind-spot threshold is the stream's own (one median per
symbol and collector), so a minute and the whole session call the same
interval a blind spot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..read.guarantee import (
    BLIND_FACTOR,
    BLIND_MIN_NS,
    Guarantee,
    clip_to_open,
    guarantee,
    guarantees_by,
    threshold_ns,
)
from ._scan import Stream
from .sessions import SessionWindow, windows_from_events

HOUR_NS = 3_600_000_000_000
SERIES_BINS = 800


@dataclass
class StreamBound:
    """One symbol and collector: the whole stream, and per session, hour and bin."""

    symbol: str
    collector: str
    threshold_ns: int
    overall: Guarantee
    sessions: list[Guarantee] = field(default_factory=list)
    hours: list[Guarantee] = field(default_factory=list)
    bins: list[Guarantee] = field(default_factory=list)
    by_ns: int | None = None
    # For the plot: the largest blind_ns per time bin (-1: no state / unknown).
    series_t0_ns: int = 0
    series_bin_ns: int = 1
    series_max_ns: list[int] = field(default_factory=list)


def _iso(ns: int, step_ns: int = HOUR_NS) -> str:
    fmt = "%Y-%m-%d %H:%M" if step_ns >= 60_000_000_000 else "%Y-%m-%d %H:%M:%S"
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime(fmt)


def stream_arrays(s: Stream, events: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
    """blind, t_before, t_after in time order, with each session's trailing bound appended."""
    blind = s.blind if s.blind is not None else np.full(s.size, -1, np.int64)
    order = np.argsort(s.t_after, kind="stable")
    b, tb, ta = blind[order], s.t_before[order], s.t_after[order]
    tails = []
    for e in events:
        tr = (e.get("detail") or {}).get("trailing_blind_ns")
        if e.get("kind") == "session_stop" and isinstance(tr, dict) and s.symbol in tr \
                and e.get("collector") in (None, s.collector):
            t = int(e["t_ns"])
            if ta.size and ta[0] <= t <= ta[-1] + HOUR_NS * 24:
                tails.append((t, int(tr[s.symbol])))
    if tails:
        tt = np.array([t for t, _ in tails], np.int64)
        b = np.concatenate([b, np.array([v for _, v in tails], np.int64)])
        tb, ta = np.concatenate([tb, tt]), np.concatenate([ta, tt])
        o = np.argsort(ta, kind="stable")
        b, tb, ta = b[o], tb[o], ta[o]
    return b, tb, ta


def stream_bound(s: Stream, events: list[dict[str, Any]], *, by_ns: int | None = None,
                 blind_min_ns: int = BLIND_MIN_NS, factor: float = BLIND_FACTOR,
                 windows: list[SessionWindow] | None = None) -> StreamBound:
    """The bound of one stream; ``events`` are its collector's event rows.

    ``windows``: the trading sessions (a calendar's; default: those the
    recorder's ``session_open`` events name). Each bound is cut to the open time
    of the interval it covers: closed hours and scheduled pauses hold no state,
    so they are no blind spot (:func:`~booktape.read.guarantee.clip_to_open`).
    """
    b, tb, ta = stream_arrays(s, events)
    wins = windows if windows is not None else windows_from_events(events)
    b, clipped = clip_to_open(b, tb, ta, np.array([w.open_ns for w in wins], np.int64),
                              np.array([w.close_ns for w in wins], np.int64))
    thr = threshold_ns(b, blind_min_ns, factor)
    out = StreamBound(s.symbol, s.collector, thr, guarantee(b, tb, ta, thr, "all", clipped),
                      by_ns=by_ns)
    starts = sorted((int(e["t_ns"]), str((e.get("detail") or {}).get("session", "")))
                    for e in events if e.get("kind") == "session_start"
                    and e.get("collector") in (None, s.collector))
    if starts:
        st = np.array([t for t, _ in starts], np.int64)
        keys = np.maximum(np.searchsorted(st, ta, "right") - 1, 0)
        out.sessions = guarantees_by(b, tb, ta, keys, dict(enumerate(n for _, n in starts)), thr,
                                     clipped)
    hk = ta // HOUR_NS
    out.hours = guarantees_by(b, tb, ta, hk, {int(k): _iso(int(k) * HOUR_NS)
                                             for k in np.unique(hk).tolist()}, thr, clipped)
    if ta.size:
        span = int(ta[-1] - ta[0]) + 1
        out.series_t0_ns = int(ta[0])
        out.series_bin_ns = max(span // SERIES_BINS + 1, 1)
        ser = np.full(span // out.series_bin_ns + 1, -1, np.int64)
        np.maximum.at(ser, (ta - ta[0]) // out.series_bin_ns, b)
        out.series_max_ns = ser.tolist()
    if by_ns:
        bk = ta // by_ns
        out.bins = guarantees_by(b, tb, ta, bk, {int(k): _iso(int(k) * by_ns, by_ns)
                                                for k in np.unique(bk).tolist()}, thr, clipped)
    return out


def bound_rows(bounds: list[StreamBound]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the ``guarantee`` and ``blind_spots`` tables (times as ns)."""
    rows, spots = [], []
    for sb in bounds:
        key = {"symbol": sb.symbol, "collector": sb.collector}
        for scope, gs in (("all", [sb.overall]), ("session", sb.sessions), ("hour", sb.hours),
                          ("bin", sb.bins)):
            for g in gs:
                rows.append({**key, "scope": scope, "label": g.label, "start_ns": g.start_ns,
                             "end_ns": g.end_ns, "states": g.states,
                             "bound": "known" if g.known else "unknown",
                             "B_p50_us": _us(g.lifetime_p50_ns), "B_p99.9_us": _us(g.lifetime_p999_ns),
                             "B_max_us": _us(g.lifetime_max_ns), "blind_spots": g.spot_count,
                             "blind_total_ms": g.spot_total_ns / 1e6,
                             "blind_worst_ms": g.spot_worst_ns / 1e6,
                             "closed_clipped": g.closed_count})
        for p in sb.overall.spots:
            spots.append({**key, "since_ns": p.since_ns, "until_ns": p.until_ns,
                          "blind_ms": p.blind_ns / 1e6})
    return rows, spots


def _us(ns: float | None) -> float:
    return float("nan") if ns is None else ns / 1e3
