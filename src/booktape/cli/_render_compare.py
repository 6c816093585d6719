"""Rendering of ``booktape analyze DATA --compare OTHER``."""

from __future__ import annotations

from rich.console import Console

from ..analysis.compare import TapeComparison
from ._render import Table


def render_comparison(c: TapeComparison) -> None:
    con = Console(highlight=False)
    t = Table(title=f"{c.a} (A) vs {c.b} (B), state by state")
    for col in ("symbol", "collector", "states A", "states B", "same", "only A", "only B",
                "differ", "first seqs"):
        t.add_column(col, justify="left" if col in ("symbol", "collector", "first seqs")
                     else "right")
    for s in c.streams:
        ex = "; ".join(f"{k} {v}" for k, v in s.examples.items())
        t.add_row(s.symbol, s.collector, f"{s.states_a:,}", f"{s.states_b:,}", f"{s.same:,}",
                  str(s.only_a), str(s.only_b), str(s.differ), ex or "-")
    con.print(t)
    if c.equal:
        con.print("[green]same states, same bytes per state[/]: every state of A is in B "
                  "exactly once with the same content, and B has nothing else")
    elif not c.streams:
        con.print("[red]nothing to compare[/]: neither tape has states for these filters")
    else:
        con.print("[red]the tapes differ[/] (see only A / only B / differ)")
