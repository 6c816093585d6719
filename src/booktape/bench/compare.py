"""``booktape bench --compare OLD NEW``: what changed between two benches, per configuration."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .report import load_results

#: The metrics compared, and whether a larger value is better.
COMPARED = [("polls_s", True), ("gap_p50_us", False), ("gap_p999_us", False),
            ("gap_range_us", False), ("seal_gap_p999_us", False), ("durable_p99_ms", False),
            ("cpu_s", False), ("rss_mb", False), ("lost", False), ("bytes_per_row", False)]


def _key(r: dict[str, Any]) -> tuple[str, int, Any]:
    return (r["topology"], r["threshold"], r["latency_ns"])


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.nan


def _why(r: dict[str, Any] | None) -> str | None:
    """Why a row is disqualified: ``failed`` (runs did not finish) is not ``lossy``."""
    if not r or not r.get("disqualified"):
        return None
    return "failed" if r.get("failed") else "lossy"


def compare(old: str | Path, new: str | Path) -> dict[str, Any]:
    """Rows matched by (topology, threshold, latency): old, new, new/old per metric.

    Returns a dict with ``rows`` (one per configuration in either bench, with
    ``status`` ``both``/``only old``/``only new`` and per metric
    ``{"old", "new", "ratio", "better"}``), and both benches' recommendations.

    Raises:
        BadArgument: either directory holds no ``results.json``.
    """
    a, b = load_results(old), load_results(new)
    ra = {_key(r): r for r in a["rows"]}
    rb = {_key(r): r for r in b["rows"]}
    rows = []
    for k in sorted(set(ra) | set(rb), key=lambda k: (-1 if k[2] is None else k[2], k[1], k[0])):
        o, n = ra.get(k), rb.get(k)
        row: dict[str, Any] = {"topology": k[0], "threshold": k[1], "latency_ns": k[2],
                               "status": "both" if o and n else ("only old" if o else "only new"),
                               "disqualified_old": bool(o and o["disqualified"]),
                               "disqualified_new": bool(n and n["disqualified"]),
                               "why_old": _why(o), "why_new": _why(n), "metrics": {}}
        for m, higher_better in COMPARED:
            vo, vn = _num(o.get(m)) if o else math.nan, _num(n.get(m)) if n else math.nan
            ratio = vn / vo if math.isfinite(vo) and math.isfinite(vn) and vo else math.nan
            better = None
            if math.isfinite(vo) and math.isfinite(vn) and vo != vn:
                better = (vn > vo) == higher_better
            row["metrics"][m] = {"old": vo, "new": vn, "ratio": ratio, "better": better}
        rows.append(row)
    return {"old": str(old), "new": str(new), "rows": rows,
            "recommendations_old": a.get("recommendations", []),
            "recommendations_new": b.get("recommendations", [])}
