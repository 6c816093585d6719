"""The bench's files: ``results.json`` (everything), ``results.csv`` (one row per
configuration), ``gaps.png`` (gap distributions overlaid, log axes), ``p999.png``
(p99.9 per configuration) and ``report.html`` (the table and both figures)."""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadArgument
from .measure import HIST_EDGES
from .plan import BenchConfig
from .rank import aggregate, fmt_latency, fmt_size, fmt_us, recommendations
from .run import RunRecord

#: results.csv columns, in order (a row's other keys stay in results.json).
CSV_COLUMNS = [
    "topology", "threshold", "latency_ns", "runs", "failed", "disqualified", "reason",
    "rank_range", "rank_p999", "p999_vs_best", "polls_s", "gap_p50_us", "gap_p99_us", "gap_p999_us", "gap_max_us",
    "gap_range_us", "gaps_over_1ms_per_10k", "gaps_over_10ms", "seals", "seal_gaps",
    "seal_gap_p50_us", "seal_gap_p999_us", "seal_gap_max_us", "poll_p50_us", "poll_p99_us",
    "poll_p999_us", "durable_p50_ms", "durable_p99_ms", "durable_max_ms", "stall_events",
    "cpu_s", "rss_mb", "polls", "expected", "snapshots", "lost", "duplicated", "rows",
    "bytes_per_row", "p999_vs_notebook", "polls_vs_notebook", "B_p50_us", "B_p999_us",
    "B_max_us", "blind_spots", "blind_ms_per_min", "true_states", "true_missed",
    "true_missed_pct", "true_missed_ge1ms", "truth_violations", "pair_gap_p50_us",
    "pair_gap_p999_us", "pair_B_p999_us", "pair_blind_ms_per_min", "pair_true_missed_pct",
    "pair_cpu_s", "pair_lost", "union_missed_pct", "union_missed_ge1ms", "union_blind_ms_per_min",
]


def _clean(x: Any) -> Any:
    """JSON has no NaN: write null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def config_dict(cfg: BenchConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)


def write_results(cfg: BenchConfig, records: list[RunRecord], out: Path) -> dict[str, Any]:
    """Write every file of a bench into ``out``; returns what went into results.json."""
    runs = [r.as_dict() for r in records]
    rows = aggregate(runs)
    rows.sort(key=lambda r: (-1 if r["latency_ns"] is None else r["latency_ns"], r["threshold"],
                             r["rank_p999"] if r["rank_p999"] is not None else 1 << 30, r["topology"]))
    doc = {"format": 1, "config": config_dict(cfg), "recommendations": recommendations(rows),
           "notes": notes(rows), "hist_edges_ns": HIST_EDGES.tolist(), "rows": rows, "runs": runs}
    (out / "results.json").write_text(json.dumps(_clean(doc), indent=1), encoding="utf-8")
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    plot_gaps(doc, out / "gaps.png")
    plot_p999(doc, out / "p999.png")
    write_html(doc, out / "report.html")
    return doc


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """Warnings a reader must see: disqualifications, and rotation not exercised."""
    out = [f"disqualified: {label(r)} at {fmt_latency(r['latency_ns'])}: {r['reason']}"
           for r in rows if r["disqualified"]]
    few = [r for r in rows if not r["disqualified"] and not (_num(r.get("seals"), 0) >= 2)]
    if few:
        names = ", ".join(f"{label(r)} at {fmt_latency(r['latency_ns'])}" for r in few)
        out.append(f"fewer than 2 seals in: {names} — rotation was not exercised there "
                   "(use a longer --duration or smaller --thresholds)")
    return out


def load_results(path: str | Path) -> dict[str, Any]:
    """A bench directory's (or file's) ``results.json``.

    Raises:
        BadArgument: no results there.
    """
    p = Path(path)
    f = p / "results.json" if p.is_dir() else p
    if not f.is_file():
        raise BadArgument(f"no bench results at {path}: expected a directory with results.json "
                          "(written by `booktape bench --out DIR`)")
    try:
        doc: dict[str, Any] = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BadArgument(f"{f} is not a bench results file: {e}") from None
    if "rows" not in doc:
        raise BadArgument(f"{f} is not a bench results file (no rows)")
    return doc


def label(r: dict[str, Any]) -> str:
    return f"{r['topology']} {fmt_size(r['threshold'])}"


def _latencies(doc: dict[str, Any]) -> list[Any]:
    return sorted({r["latency_ns"] for r in doc["rows"]}, key=lambda x: -1 if x is None else x)


def plot_gaps(doc: dict[str, Any], path: Path) -> None:
    """Per latency, the poll-gap distribution of every configuration (summed over repeats)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.asarray(doc["hist_edges_ns"]) / 1e3
    mids = np.sqrt(edges[:-1] * edges[1:])
    lats = _latencies(doc)
    fig, axes = plt.subplots(1, len(lats), figsize=(7 * len(lats), 5), squeeze=False)
    topos = sorted({r["topology"] for r in doc["rows"]})
    colors = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(topos)}
    ths = sorted({r["threshold"] for r in doc["rows"]})
    styles = {th: ["-", "--", ":", "-."][i % 4] for i, th in enumerate(ths)}
    for ax, lat in zip(axes[0], lats):
        for row in (r for r in doc["rows"] if r["latency_ns"] == lat):
            hs = [np.asarray(x["hist"]) for x in doc["runs"] if x["topology"] == row["topology"]
                  and x["threshold"] == row["threshold"] and x["latency_ns"] == lat and x["hist"]]
            if not hs:
                continue
            h = np.sum(hs, axis=0).astype(float)
            if h.sum() == 0:
                continue
            frac = np.where(h > 0, h / h.sum(), np.nan)
            ax.step(mids, frac, where="mid", color=colors[row["topology"]],
                    linestyle=styles[row["threshold"]], label=label(row) + _why(row))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gap between consecutive polls (µs)")
        ax.set_ylabel("fraction of gaps")
        ax.set_title(f"Poll gaps, source latency {fmt_latency(lat)}")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_p999(doc: dict[str, Any], path: Path) -> list[str]:
    """Bar chart: gap p99.9 per configuration; lossy ones hatched red. Returns the bar
    labels drawn, latency by latency.

    A linear axis from zero: on a log axis starting at 4 µs a 1.3x difference
    looked like 10x (issue 14). Each bar is labelled with its value and its ratio
    to the best qualified configuration (:func:`p999_bars`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lats = _latencies(doc)
    fig, axes = plt.subplots(1, len(lats), figsize=(7 * len(lats), 5), squeeze=False)
    drawn: list[str] = []
    for ax, lat in zip(axes[0], lats):
        rows, vals, texts = p999_bars(doc, lat)
        # A failed configuration gets a zero-height bar, so its "failed" label shows.
        bars = ax.bar(range(len(rows)), [v if math.isfinite(v) else 0.0 for v in vals], color=["tab:red" if r["disqualified"] else
                                                     "tab:gray" if r["topology"] == "notebook" else
                                                     "tab:blue" for r in rows])
        for b, r in zip(bars, rows):
            if r["disqualified"]:
                b.set_hatch("//")
        ax.set_xticks(range(len(rows)), [label(r) for r in rows], rotation=60, ha="right", fontsize=8)
        ax.bar_label(bars, labels=texts, fontsize=7)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("poll gap p99.9 (µs)")
        ax.set_title(f"p99.9 per configuration, source latency {fmt_latency(lat)}")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        drawn.extend(t.get_text() for t in ax.texts)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def ratio_text(v: Any) -> str:
    return f"{v:.2f}×" if isinstance(v, (int, float)) and math.isfinite(v) else "–"


def p999_bars(doc: dict[str, Any], lat: Any) -> tuple[list[dict[str, Any]], list[float],
                                                      list[str]]:
    """The p99.9 chart's bars at one latency, best first: rows, values (µs), labels."""
    rows = [r for r in doc["rows"] if r["latency_ns"] == lat]
    rows.sort(key=lambda r: _num(r.get("gap_p999_us"), math.inf))
    vals = [_num(r.get("gap_p999_us"), math.nan) for r in rows]
    texts = [f"{fmt_us(v)}\n{ratio_text(r.get('p999_vs_best'))}" if math.isfinite(v) else "failed"
             for v, r in zip(vals, rows)]
    return rows, vals, texts


def _why(row: dict[str, Any]) -> str:
    """A disqualified row's tag: a run that failed is not a run that lost data."""
    if not row.get("disqualified"):
        return ""
    return " (failed)" if row.get("failed") else " (lossy)"


def _num(v: Any, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else default


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


TABLE = [("topology", "topology"), ("threshold", "threshold"), ("rank_range", "rank range"),
         ("rank_p999", "rank p99.9"), ("polls_s", "polls/s"), ("gap_p50_us", "gap p50 µs"),
         ("gap_p99_us", "p99 µs"), ("gap_p999_us", "p99.9 µs"),
         ("p999_vs_best", "p99.9 ÷ best"), ("gap_max_us", "max µs"),
         ("gap_range_us", "range µs"), ("seals", "seals"), ("seal_gap_p999_us", "seal p99.9 µs"),
         ("seal_gap_max_us", "seal max µs"), ("poll_p99_us", "poll p99 µs"),
         ("durable_p50_ms", "durable p50 ms"), ("durable_p99_ms", "durable p99 ms"),
         ("stall_events", "stalls"), ("cpu_s", "CPU s"), ("rss_mb", "RSS MiB"), ("lost", "lost"),
         ("duplicated", "dup"), ("bytes_per_row", "B/row"), ("p999_vs_notebook", "× notebook"),
         ("B_p999_us", "B p99.9 µs"), ("B_max_us", "B max µs"),
         ("blind_ms_per_min", "blind ms/min"), ("true_missed_pct", "missed %"),
         ("true_missed_ge1ms", "missed ≥1ms"), ("pair_gap_p999_us", "2 coll. p99.9 µs"),
         ("pair_B_p999_us", "2 coll. B p99.9 µs"), ("pair_cpu_s", "2 coll. CPU s"),
         ("pair_true_missed_pct", "2 coll. missed % (worse)"),
         ("union_missed_pct", "union missed %"), ("union_blind_ms_per_min", "union blind ms/min")]


#: The terminal's narrower table (every column is in results.csv and report.html).
TERMINAL = [c for c in TABLE if c[0] in (
    "topology", "threshold", "rank_range", "rank_p999", "polls_s", "gap_p50_us", "gap_p999_us",
    "p999_vs_best", "gap_range_us", "seals", "seal_gap_p999_us", "durable_p99_ms", "cpu_s", "rss_mb", "lost",
    "bytes_per_row", "p999_vs_notebook", "B_p999_us", "blind_ms_per_min", "true_missed_pct")]


def cell(r: dict[str, Any], k: str) -> str:
    if k == "threshold":
        return fmt_size(r[k])
    if k == "p999_vs_best":
        return ratio_text(r.get(k))
    if k == "lost" and r.get("disqualified"):
        return f"{_fmt(r.get(k))} ✗"
    return _fmt(r.get(k))


def markdown_table(doc: dict[str, Any]) -> str:
    """One Markdown table per latency (for BENCHMARKS.md)."""
    out = []
    for lat in _latencies(doc):
        out.append(f"\n**Source latency {fmt_latency(lat)}**\n")
        out.append("| " + " | ".join(h for _, h in TABLE) + " |")
        out.append("|" + "---|" * len(TABLE))
        for r in (r for r in doc["rows"] if r["latency_ns"] == lat):
            out.append("| " + " | ".join(cell(r, k) for k, _ in TABLE) + " |")
    return "\n".join(out) + "\n"


def write_html(doc: dict[str, Any], path: Path) -> None:
    def img(name: str) -> str:
        p = path.with_name(name)
        data = base64.b64encode(p.read_bytes()).decode() if p.exists() else ""
        return f'<img alt="{name}" src="data:image/png;base64,{data}" style="max-width:100%">'

    parts = ["<!doctype html><meta charset='utf-8'><title>booktape bench</title>",
             "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             ".dq{background:#fdd}</style><h1>booktape bench</h1>"]
    parts += [f"<p><b>{html.escape(s)}</b></p>" for s in doc["recommendations"]]
    parts += [f"<p><i>note: {html.escape(s)}</i></p>" for s in doc.get("notes", [])]
    for lat in _latencies(doc):
        parts.append(f"<h2>Source latency {html.escape(fmt_latency(lat))}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for _, h in TABLE) + "</tr>")
        for r in (r for r in doc["rows"] if r["latency_ns"] == lat):
            cls = " class='dq'" if r["disqualified"] else ""
            title = f" title='{html.escape(r['reason'])}'" if r["reason"] else ""
            parts.append(f"<tr{cls}{title}>" + "".join(f"<td>{html.escape(cell(r, k))}</td>"
                                                       for k, _ in TABLE) + "</tr>")
        parts.append("</table>")
    parts += ["<h2>Poll-gap distributions</h2>", img("gaps.png"),
              "<h2>p99.9 per configuration</h2>", img("p999.png"),
              f"<h2>Configuration</h2><pre>{html.escape(json.dumps(doc['config'], indent=1))}</pre>"]
    path.write_text("\n".join(parts), encoding="utf-8")


def rerank(path: str | Path) -> dict[str, Any]:
    """Rewrite a bench directory's files from its recorded runs (ranking, notes, plots),
    e.g. after the ranking rules changed; the runs themselves are not repeated."""
    doc = load_results(path)
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in doc["config"].items()}
    cfg = BenchConfig(**fields)
    keys = ("topology", "threshold", "latency_ns", "repeat", "index", "hist", "error")
    records = [RunRecord(**{k: r[k] for k in keys},
                         metrics={k: math.nan if v is None else v for k, v in r["metrics"].items()})
               for r in doc["runs"]]
    out = Path(path)
    return write_results(cfg, records, out if out.is_dir() else out.parent)
