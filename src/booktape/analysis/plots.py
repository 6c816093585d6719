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


def _hist(ax, h: Histogram, title: str, color: str) -> None:  # type: ignore[no-untyped-def]
    if h.counts:
        e = np.asarray(h.edges) / 1e6  # ms
        ax.bar(e[:-1], h.counts, width=np.diff(e), align="edge", color=color, edgecolor="none")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_title(title + (f" ({h.zeros:,} zero)" if h.zeros else ""), fontsize=10)
    ax.set_xlabel("ms (log)")
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
    """Longest state gap per time bin (log), stalls marked; and states per second."""
    tl = r.timeline
    fig = _figure(12, 5.2)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    if tl.states:
        t = _times(r)
        g = np.asarray(tl.max_gap_ns, dtype=np.float64) / 1e6
        ax1.plot(t, np.where(g > 0, g, np.nan), lw=0.7, color="#c44e52")
        ax1.set_yscale("log")
        ax1.axhline(r.stall_threshold_ns / 1e6, color="k", lw=0.8, ls="--",
                    label=f"stall threshold {r.stall_threshold_ns / 1e6:g} ms")
        for s in r.stalls:
            ax1.axvline(np.datetime64(s.t_start_ns, "ns"), color="orange", lw=1)
        ax1.legend(loc="upper right", fontsize=8)
        rate = np.asarray(tl.states, dtype=np.float64) / (tl.bin_ns / 1e9)
        ax2.plot(t, rate, lw=0.7, color="#4c72b0")
    ax1.set_ylabel("longest gap, ms (log)")
    ax1.set_title(f"{r.symbol} / {r.collector}: gaps over time (per {tl.bin_ns / 1e9:g} s)",
                  fontsize=10)
    ax2.set_ylabel("states / s")
    ax2.set_xlabel("time (UTC)")
    ax2.set_title("states per second over time", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
    return _png(fig)


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
