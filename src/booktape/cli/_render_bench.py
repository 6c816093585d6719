"""Terminal rendering of ``booktape bench``: the progress bar, the ranked tables, ``--compare``."""

from __future__ import annotations

import math
from typing import Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..bench.rank import fmt_latency, fmt_size
from ..bench.report import TERMINAL, cell
from ._render import Table, console, err_console


class BenchProgress:
    """A progress bar with the run in progress and an ETA (from the runs done so far)."""

    def __init__(self, quiet: bool = False) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(),
                                 console=err_console, disable=quiet)
        self.task = self.progress.add_task("starting", total=None)
        # Quiet is never started: rich 13.0's disabled display still wrote a newline to
        # stderr when it stopped (see StatesProgress).
        self._quiet = quiet

    def __enter__(self) -> BenchProgress:
        if not self._quiet:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._quiet:
            self.progress.__exit__(*exc)

    def update(self, done: int, total: int, run: Any, rec: Any) -> None:
        c = run.combo
        desc = (f"{c.topology} {fmt_size(c.threshold)} @ {fmt_latency(c.latency_ns)} "
                f"(round {run.repeat + 1})")
        self.progress.update(self.task, total=total, completed=done, description=desc)
        if rec is not None and rec.error:
            self.progress.console.print(f"[red]failed[/] {escape(desc)}: {escape(rec.error)}")


def render_bench(doc: dict[str, Any], out: str) -> None:
    lats = sorted({r["latency_ns"] for r in doc["rows"]}, key=lambda x: -1 if x is None else x)
    for lat in lats:
        t = Table(title=f"Source latency {fmt_latency(lat)} (median of repeats; gaps between "
                        "poll starts; seal columns: gaps overlapping a seal)", title_justify="left")
        for _, h in TERMINAL:
            t.add_column(h, justify="left" if h == "topology" else "right")
        for r in (r for r in doc["rows"] if r["latency_ns"] == lat):
            t.add_row(*[cell(r, k) for k, _ in TERMINAL], style="red" if r["disqualified"] else None)
        console.print(t)
    for s in doc.get("notes", []):
        console.print(f"[yellow]note:[/] {escape(s)}")
    for s in doc["recommendations"]:
        console.print(f"[bold green]{escape(s)}[/]")
    console.print(f"wrote {out}/results.csv, results.json, gaps.png, p999.png, report.html")


def _cell(v: float, ratio: bool = False) -> str:
    if not math.isfinite(v):
        return "–"
    if ratio:
        return f"{v:.2f}×"
    return f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"


def render_compare(res: dict[str, Any]) -> None:
    shown = ("polls_s", "gap_p999_us", "gap_range_us", "seal_gap_p999_us", "cpu_s", "lost")
    t = Table(title=f"bench {res['old']} → {res['new']} (ratio new/old; green = better)",
              title_justify="left")
    for h in ("topology", "threshold", "latency", "status"):
        t.add_column(h)
    for m in shown:
        t.add_column(f"{m} old→new", justify="right")
        t.add_column("ratio", justify="right")
    for r in res["rows"]:
        cells = [r["topology"], fmt_size(r["threshold"]), fmt_latency(r["latency_ns"]), r["status"]
                 + (f" [red]({r['why_new']})[/]" if r.get("why_new") else "")]
        for m in shown:
            d = r["metrics"][m]
            color = {True: "green", False: "red"}.get(d["better"], "")
            cells.append(f"{_cell(d['old'])}→{_cell(d['new'])}")
            cells.append(f"[{color}]{_cell(d['ratio'], True)}[/]" if color else _cell(d["ratio"], True))
        t.add_row(*cells)
    console.print(t)
    for label, recs in (("old", res["recommendations_old"]), ("new", res["recommendations_new"])):
        for s in recs:
            console.print(f"{label}: {escape(s)}")
