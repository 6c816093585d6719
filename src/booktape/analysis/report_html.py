"""One self-contained HTML page: the report's tables and its plots inlined as data URIs.

No scripts, no external fonts, styles or images: the file opens offline, mails
as one attachment and renders the same in any browser.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from .report import Report

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
h3{font-size:15px}table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.ok{color:#16803c;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.warn{color:#b26a00}img{max-width:100%;border:1px solid #eee;margin:6px 0}
p.note{color:#666;font-size:12px}
div.scroll{overflow-x:auto;max-width:100%;max-height:70vh;overflow-y:auto}
div.scroll thead th{position:sticky;top:0}
"""

TITLES = {
    "problems": "Problems found",
    "summary": "Summary per symbol and collector",
    "latency": "Poll duration and gaps",
    "stalls": "Stalls (polls stopped)",
    "long_gaps": "Long gaps between stored states",
    "order": "Time order breaks",
    "seq": "Sequence continuity (missing / duplicated seq)",
    "events": "Recorded events",
    "parts": "Per part",
    "bursts": "Bursts one collector missed",
    "guarantee": "Guaranteed lifetime: every state that lasted longer than B was recorded, "
                 "outside blind spots (B from blind_ns)",
    "blind_spots": "Blind spots (states up to their length may be missing)",
}


#: Latency-table columns in ns, shown as the CLI shows them (issue 14: raw ns in the page).
NS_COLS = ("mean", "p50", "p90", "p99", "p99.9", "max", "min")
PCT_COLS = ("change_rate",)


def _cell(col: str, v: Any, ns_cols: bool) -> str:
    """One cell in human units: durations as ns/µs/ms/s, rates as percentages."""
    from ..units import human_ns

    if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
        if ns_cols and col in NS_COLS:
            return human_ns(float(v))
        if col.endswith("_ms"):
            return human_ns(float(v) * 1e6)
        if col.endswith("_s") and col != "states_per_s":
            return human_ns(float(v) * 1e9)
        if col in PCT_COLS:
            return f"{float(v):.2%}"
    return _fmt(v)


def _header(col: str) -> str:
    for suffix in ("_ms", "_s"):
        if col.endswith(suffix) and col != "states_per_s":
            return col[: -len(suffix)]
    return col.replace("_", " ")


def _fmt(v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if not pd.isna(v) else "-"
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table_html(df: pd.DataFrame, table_id: str) -> str:
    if df.empty:
        return f'<p class="note" id="{table_id}">none</p>'
    ns_cols = "metric" in df.columns  # the latency table
    cols = [str(c) for c in df.columns]
    head = "".join(f"<th>{html.escape(_header(c))}</th>" for c in cols)
    rows = []
    for rec in df.itertuples(index=False):
        rows.append("<tr>" + "".join(f"<td>{html.escape(_cell(c, v, ns_cols))}</td>"
                                     for c, v in zip(cols, rec)) + "</tr>")
    # Wide tables scroll inside their box instead of being cut off at the page's edge.
    return (f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def report_html(rep: Report, pngs: dict[str, bytes] | None = None) -> str:
    """The page as a string (``pngs`` defaults to :func:`~booktape.analysis.plots.report_pngs`)."""
    from .plots import report_pngs

    if pngs is None:
        pngs = report_pngs(rep)
    tables = rep.tables()
    verdict = ('<span class="ok">OK: no loss, duplicates or disorder</span>' if rep.ok else
               '<span class="bad">FAILED: loss, duplicates, disorder or damage found</span>')
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>booktape analyze: {html.escape(rep.data)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>booktape capture report: {html.escape(rep.data)}</h1>",
        f'<p id="verdict">{verdict}</p>',
        f'<p class="note">source: {rep.source} · {len(rep.streams)} stream(s) · '
        f"{rep.checksums_checked} part checksum(s) checked · generated {now}</p>",
    ]
    for key in ("problems", "summary", "latency", "guarantee", "blind_spots", "stalls",
                "long_gaps", "order", "seq", "bursts", "events", "parts"):
        parts.append(f"<h2>{TITLES[key]}</h2>")
        for r in rep.streams if key == "summary" else []:
            parts.append(f'<p class="note">{html.escape(r.symbol)}/{html.escape(r.collector)}: '
                         f"{html.escape(r.order.explanation)}</p>")
        parts.append(table_html(tables[key], f"table-{key}"))
    parts.append("<h2>Plots</h2>")
    for name, data in pngs.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" '
                     f'src="data:image/png;base64,{b64}">')
    parts.append("</body></html>")
    return "\n".join(parts)
