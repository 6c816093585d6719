"""The report's plots as PNG bytes (matplotlib, Agg backend, no display needed).

Plots are drawn from the report's pre-binned data (histograms, per-bin
timelines), never from rows, so a full day draws as fast as a minute.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .bound import StreamBound
    from .quality import Histogram, StreamReport
    from .report import Report


def _figure(w: float = 10, h: float = 3.2) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=96, layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def human_ms(v: float) -> str:
    """A duration in ms as the CLI prints it: ``800 ns``, ``12 µs``, ``3 ms``, ``1.5 s``."""
    if v <= 0:
        return "0"
    for unit, scale in (("s", 1e3), ("ms", 1.0), ("µs", 1e-3), ("ns", 1e-6)):
        if v >= scale or unit == "ns":
            return f"{v / scale:g} {unit}"
    return f"{v:g} ms"


def _log_axis(axis, human: bool) -> None:  # type: ignore[no-untyped-def]
    """Decade ticks only, so labels never overlap; durations in human units."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, numticks=8))
    axis.set_minor_formatter(NullFormatter())
    if human:
        axis.set_major_formatter(FuncFormatter(lambda v, _: human_ms(v)))


def _hist(ax, h: Histogram, title: str, color: str) -> None:  # type: ignore[no-untyped-def]
    if h.counts:
        e = np.asarray(h.edges) / 1e6  # ms
        ax.bar(e[:-1], h.counts, width=np.diff(e), align="edge", color=color, edgecolor="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axis(ax.xaxis, human=True)
        _log_axis(ax.yaxis, human=False)
    ax.set_title(title + (f" ({h.zeros:,} zero)" if h.zeros else ""), fontsize=10)
    ax.set_xlabel("duration (log)")
    ax.set_ylabel("count (log)")
    ax.grid(True, which="major", alpha=0.3)


def latency_png(r: StreamReport) -> bytes:
    """Histograms of poll duration, poll gap and state gap on log axes."""
    fig = _figure(12, 3.2)
    axes = fig.subplots(1, 3)
    _hist(axes[0], r.hist_poll_duration, "poll duration (t_after − t_before)", "#4c72b0")
    _hist(axes[1], r.hist_poll_gap, "gap between polls", "#55a868")
    _hist(axes[2], r.hist_state_gap, "gap between stored states", "#c44e52")
    fig.suptitle(f"{r.symbol} / {r.collector}: latency distributions", fontsize=11)
    return _png(fig)


def _times(r: StreamReport) -> np.ndarray:
    tl = r.timeline
    t = tl.t0_ns + np.arange(len(tl.states), dtype=np.int64) * tl.bin_ns
    return t.astype("datetime64[ns]")


def timeline_png(r: StreamReport) -> bytes:
    """Longest pause per time bin against the stall threshold (log), longest state gap
    against the long-gap threshold, stalls marked; and states per second."""
    return _png(timeline_figure(r))


def timeline_figure(r: StreamReport) -> Figure:
    """The figure of :func:`timeline_png`. Its first line is the longest pause between
    polls per bin, the quantity a stall is judged on, so a point over the stall line
    is a stall in the table (issue 14: state gaps of a quiet market were drawn against
    the stall threshold, and seemed to contradict "0 stalls")."""
    tl = r.timeline
    fig = _figure(12, 5.2)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    if tl.states:
        t = _times(r)
        p = np.asarray(tl.max_pause_ns or tl.max_gap_ns, dtype=np.float64) / 1e6
        g = np.asarray(tl.max_gap_ns, dtype=np.float64) / 1e6
        ax1.plot(t, np.where(p > 0, p, np.nan), lw=0.9, color="#c44e52", marker=".", ms=2,
                 label="longest pause between polls")
        ax1.plot(t, np.where(g > 0, g, np.nan), lw=0.6, color="#999999",
                 label="longest gap between stored states")
        ax1.set_yscale("log")
        _log_axis(ax1.yaxis, human=True)
        ax1.axhline(r.stall_threshold_ns / 1e6, color="#c44e52", lw=0.9, ls="--",
                    label=f"stall threshold {human_ms(r.stall_threshold_ns / 1e6)}")
        ax1.axhline(r.long_gap_threshold_ns / 1e6, color="#999999", lw=0.8, ls=":",
                    label=f"long-gap threshold {human_ms(r.long_gap_threshold_ns / 1e6)}")
        for s in r.stalls:
            ax1.axvline(np.datetime64(s.t_start_ns, "ns"), color="orange", lw=1)
        ax1.legend(loc="upper right", fontsize=7)
        rate = np.asarray(tl.states, dtype=np.float64) / (tl.bin_ns / 1e9)
        ax2.plot(t, rate, lw=0.7, color="#4c72b0", drawstyle="steps-post")
        ax2.set_ylim(bottom=0)
    ax1.set_ylabel("duration (log)")
    ax1.set_title(f"{r.symbol} / {r.collector}: gaps over time (per {tl.bin_ns / 1e9:g} s)",
                  fontsize=10)
    ax2.set_ylabel("states / s")
    ax2.set_xlabel("time (UTC)")
    ax2.set_title("states per second over time", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
    return fig


def blind_png(sb: StreamBound) -> bytes:
    """``blind_ns`` over time (largest per bin, log), the blind-spot threshold and the spots."""
    fig = _figure(12, 3.4)
    ax = fig.subplots(1, 1)
    v = np.asarray(sb.series_max_ns, dtype=np.float64)
    if v.size and (v >= 0).any():
        t = (sb.series_t0_ns + np.arange(v.size, dtype=np.int64) * sb.series_bin_ns)
        ax.plot(t.astype("datetime64[ns]"), np.where(v > 0, v / 1e3, np.nan), lw=0.7,
                color="#8172b2", label="blind_ns (largest per bin)")
        ax.set_yscale("log")
        ax.axhline(sb.threshold_ns / 1e3, color="k", lw=0.8, ls="--",
                   label=f"blind-spot threshold {sb.threshold_ns / 1e6:g} ms")
        for p in sb.overall.spots:
            ax.axvspan(np.datetime64(p.since_ns, "ns"),  # type: ignore[arg-type]
                       np.datetime64(p.until_ns, "ns"),  # type: ignore[arg-type]
                       color="orange", alpha=0.4)
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.set_title("bound unknown: the tape has no blind_ns", fontsize=10)
    g = sb.overall
    b = "unknown" if g.lifetime_p999_ns is None else f"{g.lifetime_p999_ns / 1e3:,.0f} us (p99.9)"
    ax.set_title(f"{sb.symbol} / {sb.collector}: no state longer than blind_ns was missed; "
                 f"guaranteed lifetime {b}, {g.spot_count} blind spot(s)", fontsize=10)
    ax.set_ylabel("us (log)")
    ax.set_xlabel("time (UTC)")
    ax.grid(True, alpha=0.3)
    return _png(fig)


def report_pngs(rep: Report) -> dict[str, bytes]:
    """Every plot of a report, keyed by a file name (``RIU2_zero_latency.png``, …)."""
    out = {}
    for r in rep.streams:
        base = f"{r.symbol}_{r.collector}".replace("/", "_")
        out[f"{base}_latency.png"] = latency_png(r)
        out[f"{base}_timeline.png"] = timeline_png(r)
    for sb in rep.bounds:
        out[f"{sb.symbol}_{sb.collector}_blind.png".replace("/", "_")] = blind_png(sb)
    return out
