"""Terminal tables of ``analyze`` and ``verify`` (rich; the CLI side of issue 5)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from ..units import human_ns
from ._render import console

TIME_COLS = ("first", "last", "start", "end", "time", "t_mid_before", "t_mid_after")


def _cell(col: str, v: Any) -> str:
    if isinstance(v, pd.Timestamp):
        return "-" if pd.isna(v) else v.strftime("%H:%M:%S.%f")[:-3]
    if isinstance(v, float):
        if v != v:
            return "-"
        if col == "change_rate":
            return f"{v:.2%}"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def df_table(df: pd.DataFrame, title: str, limit: int = 20) -> Table:
    t = Table(title=title, title_justify="left")
    for c in df.columns:
        t.add_column(str(c), justify="left" if c in ("symbol", "collector", "file", "message",
                                                       "detail", "kind", "metric") else "right",
                     overflow="fold")
    for rec in df.head(limit).itertuples(index=False):
        cells = [_cell(str(c), v) for c, v in zip(df.columns, rec)]
        if "severity" in df.columns:
            sev = cells[list(df.columns).index("severity")]
            style = "red" if sev == "error" else "yellow"
            cells = [f"[{style}]{x}[/]" if i == 0 else x for i, x in enumerate(cells)]
        t.add_row(*cells)
    if len(df) > limit:
        t.caption = f"{len(df) - limit:,} more rows (see --json or --html)"
    return t


def _latency(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("mean", "p50", "p90", "p99", "p99.9", "max", "min"):
        if c in out:
            out[c] = [human_ns(v) if v == v else "-" for v in out[c]]
    return out


def render_report(tables: dict[str, pd.DataFrame], ok: bool, explanations: list[str],
                  pngs: list[str], html_path: str | None) -> None:
    verdict = ("[green]OK: no loss, duplicates or disorder[/]" if ok else
               "[red]FAILED: loss, duplicates, disorder or damage found[/]")
    console.print(f"[bold]booktape analyze[/]: {verdict}")
    s = tables["summary"].drop(columns=["first", "last"], errors="ignore")
    console.print(df_table(s, "Capture per symbol and collector"))
    for line in explanations:
        console.print(f"  {line}")
    console.print(df_table(_latency(tables["latency"]), "Poll duration and gaps"))
    for key, title in (("stalls", "Stalls (polls stopped)"),
                       ("long_gaps", "Long gaps between stored states"),
                       ("order", "Time order breaks"), ("seq", "Missing / duplicated seq"),
                       ("bursts", "Bursts a collector missed")):
        if not tables[key].empty:
            console.print(df_table(tables[key], title))
    if not tables.get("sessions", pd.DataFrame()).empty:
        console.print(df_table(tables["sessions"], "Per trading session (closed hours and "
                                                   "scheduled pauses are not gaps)"))
    ev = tables["events"]
    if not ev.empty:
        console.print(df_table(ev[~ev["kind"].isin(["seal"])], "Recorded events"))
    console.print(df_table(tables["parts"], "Per part"))
    pr = tables["problems"]
    if pr.empty:
        console.print("[green]no problems found[/]")
    else:
        console.print(df_table(pr.drop(columns=["file"]), "Problems", limit=50))
    if pngs:
        console.print("plots: " + ", ".join(pngs))
    if html_path:
        console.print(f"report page: {html_path}")


def render_verify(res: Any) -> None:
    if res.ok:
        console.print(f"[green]verified[/] {res.parts} part(s), {res.journals} journal(s), "
                      f"{res.rows:,} rows, {res.snapshots:,} states: no problems")
        return
    t = Table(title=f"{len(res.problems)} problem(s) in {res.data}", title_justify="left")
    for c in ("kind", "symbol", "collector", "file", "problem"):
        t.add_column(c, overflow="fold")
    for p in res.problems:
        t.add_row(f"[red]{p.kind}[/]", p.symbol, p.collector, p.file, p.message)
    console.print(t)
