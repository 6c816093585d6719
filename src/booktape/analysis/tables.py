"""A :class:`~booktape.analysis.report.Report` as pandas DataFrames (one per table).

The same tables are printed by ``booktape analyze`` and written into the HTML
page, so the terminal, the page and the Python API never disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .report import Report

PCT_KEYS = ("count", "mean", "p50", "p90", "p99", "p99.9", "max")


def _ts(ns: int | None) -> Any:
    return pd.NaT if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC")


def report_tables(rep: Report) -> dict[str, pd.DataFrame]:
    """``summary``, ``latency``, ``stalls``, ``long_gaps``, ``order``, ``seq``, ``events``,
    ``parts``, ``bursts``, ``problems``, ``sessions`` (one row per trading window),
    ``guarantee`` and ``blind_spots``."""
    summary: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    stalls: list[dict[str, Any]] = []
    longg: list[dict[str, Any]] = []
    order: list[dict[str, Any]] = []
    seq: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    for r in rep.streams:
        key = {"symbol": r.symbol, "collector": r.collector}
        summary.append({**key, "states": r.states, "polls": r.polls, "unchanged": r.unchanged,
                        "change_rate": r.change_rate, "first": _ts(r.t_first_ns),
                        "last": _ts(r.t_last_ns),
                        "span_s": ((r.t_last_ns or 0) - (r.t_first_ns or 0)) / 1e9,
                        "seq": f"{r.seq.first}..{r.seq.last}" if r.seq.checked else "-",
                        "missing": r.seq.missing, "duplicated": r.seq.duplicated,
                        "time_order": "kept" if r.order.kept else "invalid",
                        "stalls": r.stall_count,
                        "clock_step_ms": r.clock_step_ns / 1e6 if r.clock_step_ns else 0.0})
        for name, d in (("poll duration", r.poll_duration), ("poll gap", r.poll_gap),
                        ("state gap", r.state_gap)):
            latency.append({**key, "metric": name, **{k: d.get(k) for k in PCT_KEYS},
                            "min": d.get("min")})
        for lst, out in ((r.stalls, stalls), (r.long_gaps, longg)):
            for g in lst:
                out.append({**key, "start": _ts(g.t_start_ns), "end": _ts(g.t_end_ns),
                            "gap_ms": g.gap_ns / 1e6, "unexplained_ms": g.idle_ns / 1e6,
                            "polls": g.polls, "seq_before": g.seq_before,
                            "seq_after": g.seq_after})
        for b in r.order.rows:
            order.append({**key, "row": b.index, "file": b.file, "seq_before": b.seq_before,
                          "seq_after": b.seq_after, "t_mid_before": _ts(b.t_mid_before_ns),
                          "t_mid_after": _ts(b.t_mid_after_ns), "back_ms": b.back_ns / 1e6})
        for m in r.seq.missing_ranges:
            seq.append({**key, "problem": "missing", "first": m.first, "last": m.last,
                        "count": m.count, "files": ", ".join(m.files)})
        for m in r.seq.duplicate_ranges:
            seq.append({**key, "problem": "duplicated", "first": m.first, "last": m.last,
                        "count": m.count, "files": ", ".join(m.files)})
        for e in r.events:
            detail = e.get("detail") or {}
            events.append({**key, "time": _ts(int(e.get("t_ns", 0))), "kind": e.get("kind"),
                           "count": e.get("count", 0),
                           "duration_ms": (e.get("duration_ns") or 0) / 1e6,
                           "detail": ", ".join(f"{k}={v}" for k, v in detail.items()
                                               if k not in ("symbols", "start_seq"))[:120]})
        for w in r.sessions:
            sessions.append({**key, "date": w.date, "calendar": w.calendar,
                             "open": _ts(w.open_ns), "close": _ts(w.close_ns), "states": w.states,
                             "start_late_s": None if w.start_late_ns is None else w.start_late_ns / 1e9,
                             "end_early_s": None if w.end_early_ns is None else w.end_early_ns / 1e9,
                             "max_gap_ms": w.max_gap_ns / 1e6, "stalls": w.stalls})
        for p in r.parts:
            parts.append({**key, "file": p.file, "kind": p.kind, "rows": p.rows,
                          "snapshots": p.snapshots,
                          "seq": f"{p.seq_first}..{p.seq_last}" if p.seq_first is not None
                          else "-", "first": _ts(p.t_first_ns), "last": _ts(p.t_last_ns),
                          "span_s": ((p.t_last_ns or 0) - (p.t_first_ns or 0)) / 1e9,
                          "states_per_s": p.rate, "error": p.error})
    from .bound import bound_rows

    grows, srows = bound_rows(rep.bounds)
    guarantee = [{k: v for k, v in r.items() if k not in ("start_ns", "end_ns")}
                 | {"start": _ts(r["start_ns"]), "end": _ts(r["end_ns"])} for r in grows]
    spots = [{"symbol": r["symbol"], "collector": r["collector"], "since": _ts(r["since_ns"]),
              "until": _ts(r["until_ns"]), "blind_ms": r["blind_ms"]} for r in srows]
    bursts = [{"symbol": b.symbol, "collector": b.collector, "seen_by": b.other,
               "start": _ts(b.t_start_ns), "end": _ts(b.t_end_ns),
               "states_missed": b.states_missed} for b in rep.bursts]
    problems = [{"severity": p.severity, "kind": p.kind, "symbol": p.symbol,
                 "collector": p.collector, "message": p.message, "file": p.file}
                for p in rep.problems]
    cols = {
        "stalls": ["symbol", "collector", "start", "end", "gap_ms", "unexplained_ms", "polls",
                   "seq_before", "seq_after"],
        "order": ["symbol", "collector", "row", "file", "seq_before", "seq_after",
                  "t_mid_before", "t_mid_after", "back_ms"],
        "seq": ["symbol", "collector", "problem", "first", "last", "count", "files"],
        "events": ["symbol", "collector", "time", "kind", "count", "duration_ms", "detail"],
        "bursts": ["symbol", "collector", "seen_by", "start", "end", "states_missed"],
        "problems": ["severity", "kind", "symbol", "collector", "message", "file"],
        "sessions": ["symbol", "collector", "date", "calendar", "open", "close", "states",
                     "start_late_s", "end_early_s", "max_gap_ms", "stalls"],
        "guarantee": ["symbol", "collector", "scope", "label", "states", "bound", "B_p50_us",
                      "B_p99.9_us", "B_max_us", "blind_spots", "blind_total_ms",
                      "blind_worst_ms", "closed_clipped", "start", "end"],
        "blind_spots": ["symbol", "collector", "since", "until", "blind_ms"],
    }
    cols["long_gaps"] = cols["stalls"]

    def df(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=cols.get(name)) if not rows else pd.DataFrame(rows)

    return {"summary": df("summary", summary), "latency": df("latency", latency),
            "stalls": df("stalls", stalls), "long_gaps": df("long_gaps", longg),
            "order": df("order", order), "seq": df("seq", seq), "events": df("events", events),
            "parts": df("parts", parts), "bursts": df("bursts", bursts),
            "problems": df("problems", problems), "sessions": df("sessions", sessions),
            "guarantee": df("guarantee", guarantee), "blind_spots": df("blind_spots", spots)}
