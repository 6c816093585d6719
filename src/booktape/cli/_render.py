"""Terminal rendering (the only module that imports rich)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table as _RichTable
from rich.text import Text

from ..capture.stats import Stats
from ..model import BOOK_TYPE_NAMES
from ..read.summary import Summary
from ..units import human_bytes, human_ns

# Piped output (CI logs, `| tee`, cron mail) gets room for the widest table (the bench's)
# instead of rich's 80 columns; $COLUMNS still wins when set, to the column: rich takes one
# off it on Windows for a console that wraps at its last column, which a pipe does not do.
_COLUMNS = os.environ.get("COLUMNS", "")
PIPED_WIDTH = None if sys.stdout.isatty() else int(_COLUMNS) if _COLUMNS.isdigit() else 240
console = Console(width=PIPED_WIDTH)
err_console = Console(stderr=True)


class Table(_RichTable):
    """rich's table, except that a cell too wide for its column wraps instead of being cut:
    a number is never shown as ``1,1…`` on a narrow terminal (issue 14). Every table of
    the CLI is this one."""

    def add_column(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("overflow", "fold")
        super().add_column(*args, **kw)


def fmt_ns_time(t_ns: int | None) -> str:
    if t_ns is None:
        return "-"
    return dt.datetime.fromtimestamp(t_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class StatusLine:
    """One live line while recording (rates, rows, buffer, parts), drawn by its own process.

    Drawing in the recorder stalls polling: rich's refresh thread takes the
    GIL from the capture loop. Measured at 80 us polls for 10 s: 8 gaps over
    1 ms and one of 36 ms with the line drawn in-process, none with
    ``--quiet``. The counters already live in shared memory, so a low-priority
    helper reads them and draws, and the recorder never renders anything.
    """

    def __init__(self, stats: Stats) -> None:
        from ..capture.loop import StopFlag
        from ..transport._child import mp_context

        ctx = mp_context()
        # A plain shared word, never a multiprocessing Event: Event.set() waits
        # in Condition.notify for a waiter that may have been killed (CPython
        # gh-75158), which hung the recorder at exit when this helper died.
        self._stop = StopFlag()
        self._proc = ctx.Process(target=_status_main, args=(stats, self._stop),
                                 name="booktape-status", daemon=True)
        #: Set at exit when the helper had died during the recording (e.g. killed).
        self.died: str | None = None

    def __enter__(self) -> StatusLine:
        self._proc.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._proc.join(5)
        code = self._proc.exitcode
        if code is None:
            self._proc.kill()
            self._proc.join(5)
        elif code != 0:
            # It exits 0 when told to stop; anything else means it died on its own.
            self.died = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            err_console.print(f"[yellow]note:[/] the status line's process died during the "
                              f"recording ({self.died}); the recording went on without it")


def _status_main(stats: Stats, stop: Any) -> None:
    from ..transport._child import become_helper, parent_gone

    ppid = become_helper()
    prev: tuple[float, int, int] | None = None
    next_draw = 0.0
    with Live(Text("starting..."), console=err_console, auto_refresh=False,
              transient=True) as live:
        while not stop.is_set() and not parent_gone(ppid):
            if time.monotonic() < next_draw:
                time.sleep(0.05)
                continue
            next_draw = time.monotonic() + 0.5
            s = stats.as_dict()
            if s.get("next_open_ns"):
                live.update(Text(_waiting_text(s["next_open_ns"])), refresh=True)
                prev = None
                continue
            now = time.monotonic()
            polls, stored = s["polls"], s["stored"]
            pps = sps = 0.0
            if prev is not None:
                dt_ = max(now - prev[0], 1e-9)
                pps = (polls - prev[1]) / dt_
                sps = (stored - prev[2]) / dt_
            prev = (now, polls, stored)
            live.update(Text(
                f"● recording  {pps:,.0f} polls/s  {sps:,.0f} changed/s  "
                f"{s['rows']:,} rows written  {human_bytes(s['buffered_bytes'])} buffered  "
                f"{s['sealed_parts']} parts sealed  last poll {human_ns(s['last_poll_ns'])}"
                + (f"  {s['restarts']} restarts" if s.get("restarts") else "")
                + (f"  {human_bytes(s['spilled_bytes'])} spilled" if s.get("spilled_bytes") else "")
            ), refresh=True)


def _waiting_text(open_ns: int) -> str:
    from ..clock import time_ns

    at = dt.datetime.fromtimestamp(open_ns / 1e9, tz=dt.UTC)
    left = max(0, open_ns - time_ns()) // 1_000_000_000
    return (f"○ waiting for the session: opens {at.astimezone():%Y-%m-%d %H:%M:%S %Z} "
            f"({at:%H:%M} UTC), in {left // 3600}h{left % 3600 // 60:02d}m{left % 60:02d}s")


def _pct_cells(d: dict[str, float]) -> list[str]:
    return [human_ns(d[k]) if d["count"] else "-" for k in ("p50", "p99", "p99.9", "max")]


def _bound_cells(y: Any) -> list[str]:
    if y.guaranteed_ns is None and y.guaranteed_max_ns is None:
        return ["unknown", "unknown", "-"]
    spots = (f"{y.blind_spots} ({human_ns(y.blind_spot_total_ns)})" if y.blind_spots else "0")
    return [human_ns(y.guaranteed_ns or 0), human_ns(y.guaranteed_max_ns or 0), spots]


def render_summary(s: Summary) -> None:
    ok = "[green]no loss[/]" if s.ok else f"[red]{s.lost} lost / problems found[/]"
    console.print(
        f"[bold]booktape[/] recorded {s.seconds:.1f} s from [cyan]{s.source}[/] "
        f"({s.topology}) into [cyan]{s.root}[/] as collector [cyan]{s.collector}[/]: {ok}"
    )
    # Tables of 7, 9 and 4 columns fit a 100-column terminal; one of 18 did not (issue 14).
    t = Table(title="Capture summary (read back from disk)", title_justify="left")
    for col in ("symbol", "states", "seq", "rows", "missing", "dup", "order"):
        t.add_column(col, justify="right")
    lat = Table(title="Poll duration and gap between stored states", title_justify="left")
    for col in ("symbol", "poll p50", "poll p99", "poll p99.9", "poll max",
                "gap p50", "gap p99", "gap p99.9", "gap max"):
        lat.add_column(col, justify="right")
    life = Table(title="Guaranteed lifetime B", title_justify="left")
    for col in ("symbol", "B p99.9", "B max", "blind spots"):
        life.add_column(col, justify="right")
    for y in s.symbols:
        t.add_row(y.symbol, f"{y.snapshots:,}", f"{y.seq_first}..{y.seq_last}", f"{y.rows:,}",
                  str(y.missing), str(y.duplicated), "ok" if y.time_order_ok else "[red]bad[/]")
        lat.add_row(y.symbol, *_pct_cells(y.poll_duration_ns), *_pct_cells(y.state_gap_ns))
        life.add_row(y.symbol, *_bound_cells(y))
    console.print(t)
    console.print(lat)
    console.print(life)
    console.print("poll = one source call (t_after − t_before); gap = time between consecutive "
                  "stored states (by t_mid); `booktape analyze` also gives the gaps between polls.")
    console.print("B = guaranteed lifetime: every state that lasted longer was recorded, outside "
                  "blind spots (count, total; states up to their length may be missing there).")
    rate = s.polls / s.seconds if s.seconds else 0
    console.print(
        f"polls {s.polls:,} ({rate:,.0f}/s) · changed states stored {s.stored:,} · "
        f"unchanged polls {s.unchanged:,} · empty results {s.none_results:,} · "
        f"parts sealed {s.parts_sealed} ({human_bytes(s.bytes_sealed)}, "
        f"{s.bytes_sealed / s.rows if s.rows else 0:.2f} B/row)"
        + (f" · journals recovered {s.recovered_journals}" if s.recovered_journals else "")
    )
    other = {k: v for k, v in s.events.items() if k not in ("session_start", "session_stop")}
    if other:
        console.print("events: " + ", ".join(f"{k} {v}" for k, v in sorted(other.items())))


def render_book(symbol: str, book: Any, t_ns: int, d: dict[str, Any] | None = None) -> None:
    t = Table(title=f"{symbol} order book at {fmt_ns_time(t_ns)} UTC", title_justify="left")
    t.add_column("side")
    t.add_column("price", justify="right")
    t.add_column("volume", justify="right")
    for lvl in book:
        kind = BOOK_TYPE_NAMES.get(int(lvl[0]), str(lvl[0]))
        style = "red" if int(lvl[0]) in (1, 3) else "green"
        t.add_row(f"[{style}]{kind}[/]", f"{lvl[1]:,.2f}", f"{lvl[2]:,}")
    console.print(t)
    if d is not None:
        def px(v: float | None) -> str:
            return "-" if v is None else f"{v:,.2f}"

        console.print(f"best bid {px(d['best_bid'])} · best ask {px(d['best_ask'])} · "
                      f"spread {px(d['spread'])}")


def render_ls(rows: list[dict[str, Any]], events: dict[str, int]) -> None:
    t = Table(title_justify="left")
    side = any(r.get("stream", "book") != "book" for r in rows)
    for col in ("stream",) * side + ("symbol", "date", "collector", "part", "state", "rows",
                                     "snapshots", "seq range", "time range (UTC)", "size"):
        t.add_column(col, justify="right" if col in ("rows", "snapshots", "size") else "left")
    for r in rows:
        state = "sealed" if r["sealed"] else "[yellow]open[/]"
        if r.get("listed") is False:
            state = "[yellow]unlisted[/]"
        if r.get("damaged"):
            state = "[red]damaged[/]"
        t.add_row(*[r.get("stream", "book")] * side, r["symbol"], r["date"], r["collector"],
                  r["part"], state, f"{r['rows']:,}",
                  f"{r['snapshots']:,}", f"{r['seq_min']}..{r['seq_max']}",
                  f"{fmt_ns_time(r['t_min_ns'])} → {fmt_ns_time(r['t_max_ns'])[11:]}",
                  human_bytes(r["bytes"]))
    console.print(t)
    if events:
        console.print("events: " + ", ".join(f"{k} {v}" for k, v in sorted(events.items())))
    for r in rows:
        if r.get("damaged"):
            console.print(f"[red]damaged[/] {r['path']}: {r['damaged']}", soft_wrap=True)


def _render_union_bound(b: Any, limit: int) -> None:
    """Guaranteed lifetime of each collector and of the union (issue 13)."""
    t = Table(title="Guaranteed lifetime B: every state that lasted longer was recorded, "
                    "outside blind spots", title_justify="left")
    for col in ("who", "B p50", "B p99.9", "B max", "blind spots", "total", "worst"):
        t.add_column(col, justify="left" if col == "who" else "right")
    for name, g in [*b.per_collector.items(), ("union", b.union)]:
        if not g.known:
            t.add_row(name, "unknown", "unknown", "unknown", "-", "-", "-")
            continue
        t.add_row(name, *[human_ns(v) if v is not None else "-" for v in
                          (g.lifetime_p50_ns, g.lifetime_p999_ns, g.lifetime_max_ns)],
                  f"{g.spot_count:,}", human_ns(g.spot_total_ns), human_ns(g.spot_worst_ns))
    console.print(t)
    if b.union.spots:
        t = Table(title="Blind spots no collector covered (every collector blind at once)",
                  title_justify="left")
        for col in ("from (UTC)", "to", "states up to"):
            t.add_column(col)
        for p in b.union.spots[:limit]:
            t.add_row(fmt_ns_time(p.since_ns), fmt_ns_time(p.until_ns)[11:], human_ns(p.blind_ns))
        console.print(t)
    if b.uncovered:
        console.print(f"[yellow]{len(b.uncovered):,} interval(s) no collector was polling[/] "
                      f"(merged blind_ns null there), first from {fmt_ns_time(b.uncovered[0].since_ns)}")


def render_merge(r: Any, limit: int = 20) -> None:
    """The report of ``booktape merge`` (a :class:`~booktape.read.merge_report.MergeReport`)."""
    status = "[green]no conflicts[/]" if r.ok else f"[red]{len(r.conflicts)} conflict(s)[/]"
    console.print(f"[bold]booktape merge[/] {r.symbol}: {', '.join(r.collectors)} → "
                  f"{r.merged_states:,} distinct states, {r.seen_by_all:,} seen by all: {status}")
    t = Table(title="Collectors", title_justify="left")
    for col in ("collector", "states", "only here", "missing", "first (UTC)", "last",
                "poll p50", "poll p99"):
        t.add_column(col, justify="left" if col in ("collector", "first (UTC)", "last") else "right")
    for c in r.per_collector:
        t.add_row(c.name, f"{c.states:,}", f"{c.only_here:,}", f"{c.missing:,}",
                  fmt_ns_time(c.t_first_ns), fmt_ns_time(c.t_last_ns)[11:],
                  human_ns(c.poll.duration_p50_ns), human_ns(c.poll.duration_p99_ns))
    console.print(t)
    for o in r.offsets:
        applied = f", applied {o.applied_ns / 1e6:+.3f} ms" if o.applied_ns else ", not applied"
        console.print(f"clock offset {o.collector} − {o.reference}: {o.offset_ns / 1e6:+.3f} ms "
                      f"± {o.uncertainty_ns / 1e6:.3f} ms (from {o.pairs:,} matched changes, "
                      f"spread {human_ns(o.spread_ns)}{applied})")
    console.print(f"conflict tolerance {human_ns(r.tolerance_ns)}"
                  + (f" · {r.reordered} states reordered by t_mid" if r.reordered else ""))
    if r.missing:
        t = Table(title=f"States a collector missed ({len(r.missing)} runs)", title_justify="left")
        for col in ("missing from", "from (UTC)", "to", "states", "seen by"):
            t.add_column(col, justify="right" if col == "states" else "left")
        for m in r.missing[:limit]:
            t.add_row(m.collector, fmt_ns_time(m.t_start_ns), fmt_ns_time(m.t_end_ns)[11:],
                      f"{m.states:,}", ",".join(m.seen_by))
        console.print(t)
        if len(r.missing) > limit:
            console.print(f"... and {len(r.missing) - limit} more runs (--json lists all)")
    if r.conflicts:
        t = Table(title="[red]Conflicts: different books at the same time[/]", title_justify="left")
        for col in ("collectors", "from (UTC)", "to", "longest", "seq", "difference"):
            t.add_column(col)
        for c in r.conflicts[:limit]:
            t.add_row(" vs ".join(c.collectors), fmt_ns_time(c.t_start_ns),
                      fmt_ns_time(c.t_end_ns)[11:], human_ns(c.overlap_ns),
                      f"{c.seq[0]} / {c.seq[1]}", c.detail)
        console.print(t)
    if r.bound is not None:
        _render_union_bound(r.bound, limit)
    for n in r.notes:
        console.print(f"[yellow]note:[/] {n}")
    if r.parts:
        console.print(f"wrote {r.merged_rows:,} rows in {len(r.parts)} part(s) under {r.out} "
                      f"(collector={r.name})")


def render_status(rows: list[Any]) -> None:
    """``booktape status``: one row per collector (a :class:`~booktape.service.status.CollectorStatus`)."""
    colour = {"healthy": "green", "stopped": "green", "waiting": "cyan", "closed": "cyan",
              "draining": "cyan"}
    t = Table(title_justify="left")
    for col in ("collector", "verdict", "why", "pid", "session", "last poll (UTC)", "polls/s",
                "states/s", "buffered", "parts", "restarts", "stale"):
        t.add_column(col, justify="right" if col in ("polls/s", "states/s", "parts",
                                                      "restarts") else "left")
    for r in rows:
        h = r.health
        c = colour.get(r.verdict, "red")
        stale = [s for s, v in (h.get("symbols") or {}).items() if v.get("stale")]
        t.add_row(r.collector, f"[{c}]{r.verdict}[/]", r.why, str(h.get("pid", "-")),
                  str(h.get("session", "-")), fmt_ns_time(h.get("last_poll_ns")),
                  f"{h.get('polls_per_s', 0):,.0f}", f"{h.get('states_per_s', 0):,.0f}",
                  human_bytes(int(h.get("buffered_bytes") or 0)), str(h.get("parts_sealed", "-")),
                  str(h.get("restarts", "-")), ", ".join(stale) or "-")
    console.print(t)
    for r in rows:
        for sym, v in (r.health.get("symbols") or {}).items():
            console.print(f"  {r.collector} {sym}: last change {fmt_ns_time(v.get('last_change_ns'))}"
                          f" UTC, next seq {v.get('next_seq')}"
                          + (" [red]stale[/]" if v.get("stale") else ""))
        if r.health.get("last_error"):
            console.print(f"  {r.collector} last error: {r.health['last_error']}")
