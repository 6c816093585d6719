"""Pure ranking: repeats → one row per configuration, disqualification, the recommendation.

Configurations are compared within one source latency (a property of the
user's terminal, not a choice). Two rankings: the notebook's criterion, the
smallest gap *range* (max − min, dominated by the single worst gap), and the
gap p99.9 (what a recording feels like in its worst second). A configuration
that lost or duplicated a snapshot, or failed, in *any* repeat is
disqualified: it is never ranked and never recommended, whatever its speed.
The recommendation goes by p99.9 (range breaks ties), the more repeatable of
the two — the worse of the p99.9 of all gaps and of the gaps during seals, so
a topology that stalls for every seal cannot hide a 100 ms stall among a
million fast polls — and prefers configurations whose rotation was exercised
(at least two seals during the run). ``notebook`` is the baseline and is never
recommended.

With the simulated market every run is also scored against the sim's true
timeline (issue 13), and the recommendation goes first by the fewest **true
missed states** (what the notebook's "fastest and lowest latency" was for: no
book state missed), then by the p99.9 as above; a run in which a missed state
outlived its ``blind_ns`` bound is disqualified (the tape's promise was false).
It quotes the guaranteed lifetime and the blind-spot time per minute too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from .plan import NOTEBOOK

RANK_KEYS = {"range": "gap_range_us", "p99.9": "gap_p999_us"}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _num(x: Any) -> float:
    """A finite number as float, anything else (None, NaN, text) as NaN."""
    return float(x) if _finite(x) else math.nan


def _median(vals: Iterable[float]) -> float:
    v = [x for x in vals if _finite(x)]
    return statistics.median(v) if v else math.nan


def aggregate(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs (``RunRecord.as_dict()``) → one row per configuration, medians of its repeats."""
    groups: dict[tuple[str, int, Any], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["topology"], r["threshold"], r["latency_ns"]), []).append(r)
    rows = []
    for (topo, th, lat), rs in groups.items():
        ok = [r for r in rs if not r.get("error")]
        names = sorted({k for r in ok for k in r.get("metrics", {})})
        row: dict[str, Any] = {"topology": topo, "threshold": th, "latency_ns": lat,
                               "runs": len(rs), "failed": len(rs) - len(ok)}
        for k in names:
            row[k] = _median(r["metrics"].get(k, math.nan) for r in ok)
        worst_lost = max((r["metrics"].get("lost", 0) for r in ok), default=0.0)
        worst_dup = max((r["metrics"].get("duplicated", 0) for r in ok), default=0.0)
        worst_viol = max((r["metrics"].get("truth_violations", 0) for r in ok), default=0.0)
        row["lost"], row["duplicated"] = worst_lost, worst_dup
        # Each repeat's own score: the spread is the run-to-run noise the ranking must beat.
        row["score_runs"] = sorted(s for s in (score(r["metrics"]) for r in ok) if _finite(s))
        reasons = []
        if row["failed"]:
            reasons.append(f"{row['failed']} run(s) failed: {next(r['error'] for r in rs if r.get('error'))}")
        if worst_lost:
            reasons.append(f"lost {worst_lost:.0f} snapshots")
        if worst_dup:
            reasons.append(f"duplicated {worst_dup:.0f} snapshots")
        if worst_viol:
            reasons.append(f"{worst_viol:.0f} missed states outlived their blind_ns bound")
        row["disqualified"] = bool(reasons)
        row["reason"] = "; ".join(reasons)
        rows.append(row)
    rank(rows)
    return rows


def _latency_key(lat: Any) -> float:
    return -1.0 if lat is None else float(lat)


def rank(rows: list[dict[str, Any]]) -> None:
    """Add ``rank_range`` / ``rank_p999`` (1 = best, ties share a rank, None = not ranked),
    ``p999_vs_best`` (p99.9 / the best qualified p99.9) and the ratios against the
    notebook baseline, in place, per latency."""
    for lat in {r["latency_ns"] for r in rows}:
        group = [r for r in rows if r["latency_ns"] == lat]
        base = _best_baseline(group)
        for name, key in RANK_KEYS.items():
            col = "rank_" + name.replace(".", "")
            ok = sorted((r for r in group if not r["disqualified"] and _finite(r.get(key))),
                        key=lambda r: r[key])
            for r in group:
                r[col] = None
            prev, prev_rank = None, 0
            for i, r in enumerate(ok, 1):
                if r[key] != prev:
                    prev, prev_rank = r[key], i
                r[col] = prev_rank
        # Each p99.9 over the best qualified one's (1.00 = the best): the bar chart's
        # and table's ratio view, so a 1.3x difference reads as 1.3x (issue 14).
        best_p = min((r["gap_p999_us"] for r in group if not r["disqualified"]
                      and _finite(r.get("gap_p999_us"))), default=None)
        for r in group:
            r["p999_vs_best"] = _ratio(r.get("gap_p999_us"), best_p)
            r["p999_vs_notebook"] = _ratio(base.get("gap_p999_us") if base else None, r.get("gap_p999_us"))
            r["polls_vs_notebook"] = _ratio(r.get("polls_s"), base.get("polls_s") if base else None)


def _ratio(a: Any, b: Any) -> float:
    return a / b if _finite(a) and _finite(b) and b else math.nan


def _best_baseline(group: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The notebook row a group is compared against: its best threshold by p99.9."""
    nb = [r for r in group if r["topology"] == NOTEBOOK and _finite(r.get("gap_p999_us"))]
    return min(nb, key=lambda r: r["gap_p999_us"]) if nb else None


def score(r: dict[str, Any]) -> float:
    """The recommendation's criterion: the worse of p99.9 overall and p99.9 during seals."""
    p, sp = _num(r.get("gap_p999_us")), _num(r.get("seal_gap_p999_us"))
    if not math.isfinite(p):
        return math.nan
    return max(p, sp) if math.isfinite(sp) else p


def rotation_exercised(r: dict[str, Any]) -> bool:
    return _num(r.get("seals")) >= 2


def missed(r: dict[str, Any]) -> float:
    """True missed states as a share of true states (sim runs only; NaN otherwise)."""
    return _num(r.get("true_missed_pct"))


def _sort_key(r: dict[str, Any]) -> tuple[float, float, float, float, str, int]:
    rng, pps, m = _num(r.get("gap_range_us")), _num(r.get("polls_s")), missed(r)
    return (m if math.isfinite(m) else math.inf, score(r), rng if math.isfinite(rng) else math.inf,
            -pps if math.isfinite(pps) else 0.0, str(r["topology"]), int(r["threshold"]))


def _candidates(rows: Sequence[dict[str, Any]], latency_ns: Any) -> list[dict[str, Any]]:
    cands = [r for r in rows if r["latency_ns"] == latency_ns and not r["disqualified"]
             and r["topology"] != NOTEBOOK and _finite(score(r))]
    proven = [r for r in cands if rotation_exercised(r)]
    return proven or cands


def best(rows: Sequence[dict[str, Any]], latency_ns: Any) -> dict[str, Any] | None:
    """The recommended row at one latency: qualified, not the baseline, finite p99.9,
    rotation exercised if any such row exists."""
    cands = _candidates(rows, latency_ns)
    return min(cands, key=_sort_key) if cands else None


def fmt_us(us: float) -> str:
    if not _finite(us):
        return "n/a"
    return f"{us:.0f} µs" if us < 10_000 else f"{us / 1000:.1f} ms"


def _times(x: float) -> str:
    return f"{x:.1f}×" if x < 10 else f"{x:,.0f}×"


def fmt_size(n: int) -> str:
    """16777216 → ``16 MiB`` (binary units, as ``--thresholds`` reads them)."""
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            v = n / k
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def fmt_latency(lat: Any) -> str:
    return "the source's own" if lat is None else f"{lat / 1000:g} µs"


def _span(v: list[float]) -> str:
    return f"{fmt_us(min(v))}–{fmt_us(max(v))}"


def recommend(rows: Sequence[dict[str, Any]], latency_ns: Any) -> str:
    """One sentence: what to use at this source latency, and by how much it wins."""
    pick = best(rows, latency_ns)
    where = f"at {fmt_latency(latency_ns)} source latency"
    if pick is None:
        return (f"No configuration finished without loss {where}: use none of them as is "
                "and see the disqualified rows.")
    if not rotation_exercised(pick):
        # A bench that never sealed twice says nothing about the seal path, where a
        # topology stalls or loses data: naming a winner would be unfounded (issue 14).
        return (f"No recommendation {where}: no run sealed twice, so sealing (and the "
                "safety of the data across it) was not exercised; lengthen --duration or "
                "lower --thresholds.")
    others = [r for r in _candidates(rows, latency_ns) if r["topology"] != pick["topology"]]
    p, sp = _num(pick["gap_p999_us"]), _num(pick.get("seal_gap_p999_us"))
    head = f"p99.9 gap {fmt_us(p)}" + (f" ({fmt_us(sp)} during seals)" if math.isfinite(sp) else "")
    m = missed(pick)
    if math.isfinite(m):
        # The notebook's aim was no missed book state: the sim tells us which were.
        head = (f"fewest true missed states ({m:.1f} % of the market's states, "
                f"{_num(pick.get('true_missed_ge1ms')):.0f} of them lasting ≥ 1 ms; ranked by "
                f"that first, then by the p99.9 gap), {head}")
    bp, bl = _num(pick.get("B_p999_us")), _num(pick.get("blind_ms_per_min"))
    if math.isfinite(bp):
        head += f", guaranteed lifetime {fmt_us(bp)} (p99.9)"
    if math.isfinite(bl):
        head += f", {bl:.1f} ms of blind spots per minute"
    parts = [f"{where.capitalize()}, use `{pick['topology']}` with {fmt_size(pick['threshold'])}: {head}"]
    if others:
        runner = min(others, key=_sort_key)
        mr = missed(runner)
        x = score(runner) / score(pick)
        a, b = pick.get("score_runs") or [], runner.get("score_runs") or []
        if math.isfinite(m) and math.isfinite(mr) and mr > m:
            parts.append(f"`{runner['topology']}` (the best other topology) missed {mr:.1f} %")
        elif len(a) >= 2 and len(b) >= 2 and min(b) <= max(a):
            parts.append(f"but within run-to-run noise of `{runner['topology']}` (p99.9 per "
                         f"run {_span(a)} vs {_span(b)}): no clear winner on this machine")
        else:
            # Below 5 % the two are tied on this machine's run-to-run noise: say so.
            parts.append(f"tied with `{runner['topology']}` (within {100 * (x - 1):.0f} %)"
                         if x < 1.05 else
                         f"{_times(x)} tighter than `{runner['topology']}` (the best other topology)")
    nb = _best_baseline([r for r in rows if r["latency_ns"] == latency_ns])
    if nb is not None:
        x = score(nb) / score(pick)
        parts.append(f"{_times(x)} tighter than the notebook loop" if x >= 1
                     else f"{_times(1 / x)} looser than the notebook loop")
    pp, um = _num(pick.get("pair_gap_p999_us")), _num(pick.get("union_missed_pct"))
    if math.isfinite(pp):
        # The notebook's question: does a second process on the machine add latency?
        parts.append(f"two collectors side by side: p99.9 gap {fmt_us(pp)} (worse of the two) "
                     f"against {fmt_us(p)} alone"
                     + (f", together missing {um:.1f} % of states against {m:.1f} % alone"
                        if math.isfinite(um) and math.isfinite(m) else ""))
    n = pick["runs"]
    parts.append(f"no loss in {n} run{'s' if n != 1 else ''}")
    if n < 2 and others:
        parts.append("one run each, so run-to-run noise was not measured (use --repeat 3)")
    return ", ".join(parts) + "."


def recommendations(rows: Sequence[dict[str, Any]]) -> list[str]:
    lats = sorted({r["latency_ns"] for r in rows}, key=_latency_key)
    return [recommend(rows, lat) for lat in lats]
