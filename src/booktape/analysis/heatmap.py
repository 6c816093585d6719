"""``booktape heatmap``: resting volume by price (y) over time (x), best bid/ask on top.

Binned with NumPy, never plotted row by row: each time column shows the book
as it stood at the end of that column (the last snapshot in it, carried
forward through columns with no change), each row one price step. A 15-minute
window of a busy tape (~10 M level rows) bins in about a second.

Trades are marked when a ticks stream exists (``record --ticks`` writes
``DATA/_ticks/...``; trade times are moved onto the local clock with the
``server_time`` samples), or from a table passed as ``ticks=``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import BadArgument, TapeNotFound
from ..read.filters import check_filters
from ..read.reader import read_arrow, tape_files
from ..units import parse_duration, parse_time

SELL_TYPES = (1, 3)
BUY_TYPES = (2, 4)


@dataclass
class Heatmap:
    """The binned picture: ``grid[price_row, time_col]`` = resting volume."""

    symbol: str
    collector: str
    t_edges_ns: np.ndarray  # len W + 1
    price_edges: np.ndarray  # len H + 1
    grid: np.ndarray  # H x W float64
    best_bid: np.ndarray  # per column (NaN when the side is empty)
    best_ask: np.ndarray
    snapshots: int
    rows: int
    trades: pa.Table | None = None


def _window(data: str | Path, symbol: str, collector: str | None, start: object,
            end: object, window_ns: int) -> tuple[int, int, str]:
    check_filters(data, symbol, collector, parse_time(start, "--start"), parse_time(end, "--end"))
    files = tape_files(data, symbol, collector)
    if not files:
        if not tape_files(data):
            raise TapeNotFound(f"no tape at {data}: no sealed parts or journals found")
        raise TapeNotFound(f"no data for symbol {symbol!r}"
                           + (f" and collector {collector!r}" if collector else "")
                           + f" in {data}")
    col = collector or sorted({f.collector for f in files})[0]
    s, e = parse_time(start, "--start"), parse_time(end, "--end")
    if s is None and e is None:
        firsts = [f.entry.t_min_ns for f in files if f.entry is not None and f.collector == col]
        if not firsts:
            t = read_arrow(data, symbol, col, columns=["t_before_ns"], snapshots_only=True)
            firsts = [int(t.column("t_before_ns").to_numpy().min())] if t.num_rows else [0]
        s = min(firsts)
    if s is None:
        s = e - window_ns  # type: ignore[operator]
    if e is None:
        e = s + window_ns
    if e <= s:
        raise BadArgument(f"--end must be after --start (got {start!r} .. {end!r})")
    return int(s), int(e), col


def _ticks(data: str | Path, symbol: str, collector: str, s: int, e: int) -> pa.Table | None:
    """Trades of the ``--ticks`` stream on the local clock, inside the window.

    Trade times are the server's (``time_msc``); the ``server_time`` samples
    recorded beside the book give the offset to the local clock (median of
    ``t_mid - time_msc``), so trades land where the book shows them.
    """
    try:
        from ..read.side_streams import read_stream
    except ImportError:  # pragma: no cover - the ticks stream is another module's
        return None
    tr = read_stream(data, "ticks", symbol, collector)
    if tr.num_rows == 0:
        return None
    st = read_stream(data, "server_time", symbol, collector)
    off = 0
    if st.num_rows:
        tb, ta = st.column("t_before_ns").to_numpy(), st.column("t_after_ns").to_numpy()
        off = int(np.median(tb + (ta - tb) // 2 - st.column("time_msc").to_numpy() * 1_000_000))
    t = tr.column("time_ns").to_numpy() + off
    keep = (t >= s) & (t < e)
    if not keep.any():
        return None
    return pa.table({"t_ns": t[keep], "price": tr.column("last").to_numpy()[keep],
                     "volume": tr.column("volume").to_numpy()[keep]})


def heatmap(data: str | Path, symbol: str, collector: str | None = None, start: object = None,
            end: object = None, *, window: str | int = "15m", width: int = 900,
            max_prices: int = 300, ticks: Any = None, agg: str = "auto",
            pad_ticks: int = 10) -> Heatmap:
    """Bin a window of the tape into a price x time grid of resting volume.

    Args:
        data: the tape. symbol: required. collector: default the first one.
        start, end: the window (default: ``window`` from the tape's first state,
            or ending at ``end`` / starting at ``start`` when only one is given).
        window: length of the default window (``"15m"``).
        width: time columns. max_prices: price rows (coarser steps beyond it).
        ticks: trades to mark (table with ``t_ns``, ``price``, ``volume``);
            default: the tape's ``--ticks`` stream, if recorded.
        agg: ``"last"`` (each column shows the book at its end), ``"mean"`` (the
            average book of the states in it) or ``"auto"``: mean once a column
            spans over a second, so an hour or a day does not show one instant per column.
        pad_ticks: price steps shown beyond the range the best bid and ask (and
            trades) took; deeper levels are left out so the inside of the book is
            not squeezed into a line.
    """
    if agg not in ("auto", "last", "mean"):
        raise BadArgument(f"invalid agg {agg!r}: use auto, last or mean")
    wns = window if isinstance(window, int) else parse_duration(window, "--window")
    if wns <= 0:
        raise BadArgument(f"invalid --window {window!r}: must be positive, e.g. 15m or 1h")
    s, e, col = _window(data, symbol, collector, start, end, wns)
    t = read_arrow(data, symbol, col, s, e,
                   columns=["seq", "t_before_ns", "t_after_ns", "level", "type", "price",
                            "volume"])
    if t.num_rows == 0:
        raise TapeNotFound(f"no {symbol} states of collector {col} between "
                           f"{np.datetime64(s, 'ns')} and {np.datetime64(e, 'ns')}")
    seq = t.column("seq").to_numpy()
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    tb = t.column("t_before_ns").to_numpy()[starts]
    ta = t.column("t_after_ns").to_numpy()[starts]
    snap_t = tb + (ta - tb) // 2
    # Never draw past the data: a window longer than the tape ends at its last state.
    s, e = max(s, int(snap_t.min())), min(e, int(snap_t.max()) + 1)
    level = t.column("level").to_numpy()
    typ = t.column("type").to_numpy()
    price = t.column("price").to_numpy()
    vol = t.column("volume").to_numpy().astype(np.float64)
    snap_of_row = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, seq.size]))
    # Best ask / bid of every snapshot, by reduceat over its contiguous rows.
    ask = np.minimum.reduceat(np.where(np.isin(typ, SELL_TYPES) & (level >= 0), price, np.inf),
                              starts)
    bid = np.maximum.reduceat(np.where(np.isin(typ, BUY_TYPES) & (level >= 0), price, -np.inf),
                              starts)
    W = int(max(1, min(width, starts.size)))
    t_edges = np.linspace(s, e, W + 1).astype(np.int64)
    col_of_snap = np.clip(np.searchsorted(t_edges, snap_t, "right") - 1, 0, W - 1)
    # The last snapshot in each column; empty columns keep the previous column's book.
    last = np.full(W, -1, np.int64)
    last[col_of_snap] = np.arange(starts.size)  # later snapshots overwrite earlier ones
    present = last >= 0
    fill = np.maximum.accumulate(np.where(present, np.arange(W), -1))
    shown = np.where(fill >= 0, last[np.maximum(fill, 0)], -1)
    mean = agg == "mean" or (agg == "auto" and (e - s) / W > 1e9)
    in_win = (snap_t >= s) & (snap_t < e)
    # Price rows: the tick (smallest step between prices) over the range the window shows.
    sel_rows = (in_win[snap_of_row] if mean else np.isin(snap_of_row, shown[shown >= 0])) \
        & (level >= 0)
    p = price[sel_rows]
    if p.size == 0:
        raise TapeNotFound(f"the {symbol} books between the window's bounds are all empty")
    up = np.unique(p)
    tick = float(np.min(np.diff(up))) if up.size > 1 else 1.0
    lo, hi = float(up[0]), float(up[-1])
    if ticks is None:
        ticks = _ticks(data, symbol, col, s, e)
    elif not isinstance(ticks, pa.Table):
        ticks = pa.Table.from_pandas(ticks, preserve_index=False)
    # Zoom to where the market traded: the best bid/ask range (and trades), padded.
    used = shown[shown >= 0] if not mean else np.flatnonzero(in_win)
    inside = np.r_[bid[used][np.isfinite(bid[used])], ask[used][np.isfinite(ask[used])]]
    if ticks is not None and ticks.num_rows:
        inside = np.r_[inside, ticks.column("price").to_numpy().astype(np.float64)]
    if inside.size:
        lo = max(lo, float(inside.min()) - pad_ticks * tick)
        hi = min(hi, float(inside.max()) + pad_ticks * tick)
    steps = int(round((hi - lo) / tick)) + 1
    step = tick * int(np.ceil(steps / max_prices))
    H = int(np.floor((hi - lo) / step + 1e-9)) + 1
    p_edges = lo - step / 2 + step * np.arange(H + 1)
    grid = np.zeros((H, W), np.float64)
    r_idx = np.flatnonzero(sel_rows)
    prow_f = np.floor((price[r_idx] - lo) / step + 0.5).astype(np.int64)
    keep = (prow_f >= 0) & (prow_f < H)  # levels outside the zoom are left out, not piled up
    r_idx, prow = r_idx[keep], prow_f[keep]
    if mean:
        # Each column: the average book of the states in it; empty columns carry forward.
        cs = col_of_snap[snap_of_row[r_idx]]
        grid.ravel()[:] = np.bincount(prow * W + cs, weights=vol[r_idx], minlength=H * W)
        n = np.bincount(col_of_snap[in_win], minlength=W).astype(np.float64)
        grid[:, n > 0] /= n[n > 0]
        for ci in np.flatnonzero(n == 0):
            if ci > 0:
                grid[:, ci] = grid[:, ci - 1]
    else:
        # Scatter-add the volume of each shown snapshot into every column that shows it.
        cols_of_snap: dict[int, list[int]] = {}
        for c, sn in enumerate(shown):
            if sn >= 0:
                cols_of_snap.setdefault(int(sn), []).append(c)
        uniq_snaps = np.array(sorted(cols_of_snap), dtype=np.int64)
        first_col = np.full(starts.size, -1, np.int64)
        first_col[uniq_snaps] = [cols_of_snap[int(x)][0] for x in uniq_snaps]
        flat = prow * W + first_col[snap_of_row[r_idx]]
        grid.ravel()[:] = np.bincount(flat, weights=vol[r_idx], minlength=H * W)
        for cl in cols_of_snap.values():  # carried-forward columns copy their first column
            if len(cl) > 1:
                grid[:, cl[1:]] = grid[:, [cl[0]]]
    valid = shown >= 0
    best_ask = np.where(valid, ask[np.maximum(shown, 0)], np.nan)
    best_bid = np.where(valid, bid[np.maximum(shown, 0)], np.nan)
    best_ask[~np.isfinite(best_ask)] = np.nan
    best_bid[~np.isfinite(best_bid)] = np.nan
    return Heatmap(symbol, col, t_edges, p_edges, grid, best_bid, best_ask, int(starts.size),
                   int(t.num_rows), ticks)


#: Price levels with no resting volume: white, apart from every colour of the map (issue 14:
#: they shared black with a volume of 1 on magma).
EMPTY_COLOUR = "#ffffff"
ASK_COLOUR, BID_COLOUR = "#d50000", "#0091ea"


def check_tz(tz: str) -> Any:
    """The ``ZoneInfo`` of an IANA name, or :class:`BadArgument`."""
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(tz)
    except Exception:
        raise BadArgument(f"unknown --tz {tz!r}; use an IANA name like UTC or "
                          "Europe/Moscow") from None


def heatmap_png(h: Heatmap, width_in: float = 13, height_in: float = 6.5,
                tz: str = "UTC") -> bytes:
    """The picture: log-scaled volume colour map, bid/ask lines, trades as dots.

    ``tz`` is the zone of the time axis (e.g. ``Europe/Moscow``, the exchange's).
    """
    fig = heatmap_mpl(h, width_in, height_in, tz)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def heatmap_mpl(h: Heatmap, width_in: float = 13, height_in: float = 6.5,
                tz: str = "UTC") -> Any:
    """The matplotlib figure of :func:`heatmap_png`."""
    import matplotlib.patheffects as pe
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    zone = check_tz(tz)
    fig = Figure(figsize=(width_in, height_in), dpi=96, layout="constrained")
    ax = fig.subplots()
    x0 = np.datetime64(int(h.t_edges_ns[0]), "ns")
    x1 = np.datetime64(int(h.t_edges_ns[-1]), "ns")
    import matplotlib.dates as mdates

    ext = (mdates.date2num(x0), mdates.date2num(x1), h.price_edges[0], h.price_edges[-1])  # type: ignore[no-untyped-call]
    g = np.where(h.grid > 0, h.grid, np.nan)
    finite = g[np.isfinite(g)]
    vmax = float(finite.max()) if finite.size else 1.0
    vmin = max(min(float(finite.min()), 1.0), 1e-3) if finite.size else 1.0
    # viridis starts dark purple: a level with volume 1 is never mistaken for an empty one.
    im = ax.imshow(g, origin="lower", aspect="auto", extent=ext, cmap="viridis",
                   norm=LogNorm(vmin=vmin, vmax=max(vmax, vmin * 2)), interpolation="nearest")
    ax.set_facecolor(EMPTY_COLOUR)
    xc = mdates.date2num(((h.t_edges_ns[:-1] + h.t_edges_ns[1:]) // 2).astype("datetime64[ns]"))  # type: ignore[no-untyped-call]
    halo = [pe.withStroke(linewidth=3.2, foreground="white")]
    ax.step(xc, h.best_ask, where="mid", color=ASK_COLOUR, lw=1.6, label="best ask",
            path_effects=halo)
    ax.step(xc, h.best_bid, where="mid", color=BID_COLOUR, lw=1.6, label="best bid",
            path_effects=halo)
    if h.trades is not None and h.trades.num_rows:
        tt = mdates.date2num(h.trades.column("t_ns").to_numpy().astype("datetime64[ns]"))  # type: ignore[no-untyped-call]
        v = h.trades.column("volume").to_numpy().astype(np.float64)
        ax.scatter(tt, h.trades.column("price").to_numpy(), s=4 + 30 * v / max(v.max(), 1),
                   color="white", edgecolor="k", lw=0.3, label="trades", zorder=3)
    ax.xaxis_date(tz=zone)
    loc = mdates.AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=zone))  # type: ignore[no-untyped-call]
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_xlabel(f"time ({tz})")
    ax.set_ylabel("price")

    def local(x: np.datetime64) -> str:
        import datetime as dt

        t = dt.datetime.fromtimestamp(int(x.astype("int64")) / 1e9, tz=zone)
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    ax.set_title(f"{h.symbol} / {h.collector}: resting volume by price, {h.snapshots:,} states, "
                 f"{local(x0)} → {local(x1)} {tz}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, facecolor="white", framealpha=0.9)
    fig.colorbar(im, ax=ax, label="resting volume (log)")
    return fig


def heatmap_figure(h: Heatmap, tz: str = "UTC") -> Any:
    """The picture as a plotly figure: zoom and pan in the browser, hover shows the volume.

    plotly writes one self-contained HTML file (its JavaScript inlined), so the
    page still opens offline and mails as one attachment.
    """
    import plotly.graph_objects as go

    zone = check_tz(tz)
    centers = ((h.t_edges_ns[:-1] + h.t_edges_ns[1:]) // 2).astype("datetime64[ns]")
    import pandas as pd

    x = pd.DatetimeIndex(centers).tz_localize("UTC").tz_convert(zone).tz_localize(None)
    y = (h.price_edges[:-1] + h.price_edges[1:]) / 2
    with np.errstate(divide="ignore"):
        z = np.where(h.grid > 0, np.log10(np.where(h.grid > 0, h.grid, 1)), np.nan)
    zmax = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    ticks = [v for v in range(0, int(np.ceil(zmax)) + 1)]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        x=x, y=y, z=z, colorscale="Viridis", zmin=min(0.0, float(np.nanmin(z))) if
        np.isfinite(z).any() else 0.0, zmax=max(zmax, 1.0), customdata=h.grid,
        hovertemplate="%{x}<br>price %{y}<br>volume %{customdata:,.0f}<extra></extra>",
        colorbar={"title": "volume", "tickvals": ticks, "ticktext": [f"{10 ** v:,}" for v in ticks]},
        hoverongaps=False))
    for name, series, colour in (("best ask", h.best_ask, ASK_COLOUR),
                                 ("best bid", h.best_bid, BID_COLOUR)):
        fig.add_trace(go.Scatter(x=x, y=series, name=name, mode="lines",
                                 line={"color": colour, "width": 2, "shape": "hv"}))
    if h.trades is not None and h.trades.num_rows:
        tt = pd.DatetimeIndex(h.trades.column("t_ns").to_numpy().astype("datetime64[ns]"))
        fig.add_trace(go.Scatter(
            x=tt.tz_localize("UTC").tz_convert(zone).tz_localize(None),
            y=h.trades.column("price").to_numpy(), name="trades", mode="markers",
            marker={"color": "white", "line": {"color": "black", "width": 1}, "size": 6},
            customdata=h.trades.column("volume").to_numpy(),
            hovertemplate="trade %{y} x %{customdata}<extra></extra>"))
    fig.update_layout(
        title=f"{h.symbol} / {h.collector}: resting volume by price, {h.snapshots:,} states",
        xaxis_title=f"time ({tz})", yaxis_title="price", plot_bgcolor=EMPTY_COLOUR,
        legend={"orientation": "h", "y": -0.15}, height=700)
    return fig


def heatmap_html(h: Heatmap, png: bytes | None = None, tz: str = "UTC") -> str:
    """A self-contained page: the zoomable plotly chart, and the PNG below it for print."""
    import base64
    import html

    b64 = base64.b64encode(png if png is not None else heatmap_png(h, tz=tz)).decode("ascii")
    title = html.escape(f"booktape heatmap: {h.symbol} / {h.collector}")
    chart = heatmap_figure(h, tz).to_html(include_plotlyjs=True, full_html=False,
                                          div_id="heatmap-chart")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head><body style=\"font-family:sans-serif\">"
            f"<h1>{title}</h1><p>{h.snapshots:,} states, {h.rows:,} level rows; drag to zoom, "
            "double-click to reset</p>"
            f"{chart}<h2>Static picture</h2>"
            f"<img alt=\"heatmap\" style=\"max-width:100%\" src=\"data:image/png;base64,{b64}\">"
            "</body></html>")
