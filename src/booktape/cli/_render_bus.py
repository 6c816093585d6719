"""Rendering of ``booktape sink``'s summary."""

from __future__ import annotations

from rich.console import Console

from ..bus.sink import SinkSummary


def render_sink_summary(s: SinkSummary) -> None:
    c = s.counts
    con = Console(highlight=False)
    if not s.session:
        con.print(f"Stopped while standing by for durable {s.durable} ({s.waited_s:.1f} s).")
        return
    con.print(f"[bold]Sink {s.durable}[/] → {s.out} (session {s.session})")
    if s.waited_s > 0.5:
        con.print(f"  stood by {s.waited_s:.1f} s before taking over")
    con.print(f"  messages {c.messages}, chunks written {c.chunks_written}, "
              f"states written {c.snapshots_written}")
    for coll, n in sorted(c.collectors.items()):
        con.print(f"    collector {coll}: {n} states")
    con.print(f"  duplicates dropped {c.duplicates} (+{c.trimmed_rows} overlapping rows), "
              f"held out of order {c.held}, gaps {c.gaps}, quarantined {c.quarantined}")
