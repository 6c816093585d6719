"""``booktape heatmap``: resting volume by price (y) over time (x), best bid/ask on top.

Binned with NumPy, never plotted row by row: each time column shows the book
as it stood at the end of that column (the last snapshot in it, carried
forward through columns with no change), each row one price step. A 15-minute
window of a busy tape (~10 M level rows) bins in about a second; a whole day
streams in snapshot-aligned batches (two passes), in memory that grows with the
number of snapshots (three numbers each), not with the level rows.

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
from ..read.batches import iter_batches
from ..read.filters import check_filters
from ..read.reader import read_arrow, tape_files
from ..units import parse_duration, parse_time

#: Level rows per batch of the two passes (module-level so tests can force many batches).
BATCH_ROWS = 1 << 18
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
    s_read, e_read = s, e
    # Two passes over snapshot-aligned batches, never the window whole (a day of a
    # busy symbol is 300 M level rows): the books' times and best prices first,
    # then each selected row's volume by exact price and column.
    snaps = _snapshots(data, symbol, col, s_read, e_read)
    if snaps is None:
        raise TapeNotFound(f"no {symbol} states of collector {col} between "
                           f"{np.datetime64(s, 'ns')} and {np.datetime64(e, 'ns')}")
    snap_t, bid, ask, n_rows = snaps
    n_snaps = snap_t.size
    # Never draw past the data: a window longer than the tape ends at its last state.
    s, e = max(s, int(snap_t.min())), min(e, int(snap_t.max()) + 1)
    W = int(max(1, min(width, n_snaps)))
    t_edges = np.linspace(s, e, W + 1).astype(np.int64)
    col_of_snap = np.clip(np.searchsorted(t_edges, snap_t, "right") - 1, 0, W - 1)
    # The last snapshot in each column; empty columns keep the previous column's book.
    last = np.full(W, -1, np.int64)
    last[col_of_snap] = np.arange(n_snaps)  # later snapshots overwrite earlier ones
    present = last >= 0
    fill = np.maximum.accumulate(np.where(present, np.arange(W), -1))
    shown = np.where(fill >= 0, last[np.maximum(fill, 0)], -1)
    mean = agg == "mean" or (agg == "auto" and (e - s) / W > 1e9)
    in_win = (snap_t >= s) & (snap_t < e)
    # Each selected snapshot's column: mean mode, its own; last mode, the first
    # column that shows it (carried-forward columns copy that one below).
    target = np.full(n_snaps, -1, np.int64)
    if mean:
        target[in_win] = col_of_snap[in_win]
    else:
        valid_cols = np.flatnonzero(shown >= 0)
        first = np.unique(shown[valid_cols], return_index=True)
        target[first[0]] = valid_cols[first[1]]
    prices, by_price = _volume_by_price(data, symbol, col, s_read, e_read, target, W)
    if prices.size == 0:
        raise TapeNotFound(f"the {symbol} books between the window's bounds are all empty")
    # Price rows: the tick (smallest step between prices) over the range the window shows.
    tick = float(np.min(np.diff(prices))) if prices.size > 1 else 1.0
    lo, hi = float(prices[0]), float(prices[-1])
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
    prow = np.floor((prices - lo) / step + 0.5).astype(np.int64)
    keep = (prow >= 0) & (prow < H)  # levels outside the zoom are left out, not piled up
    np.add.at(grid, prow[keep], by_price[keep])
    if mean:
        # Each column: the average book of the states in it; empty columns carry forward.
        n = np.bincount(col_of_snap[in_win], minlength=W).astype(np.float64)
        grid[:, n > 0] /= n[n > 0]
        for ci in np.flatnonzero(n == 0):
            if ci > 0:
                grid[:, ci] = grid[:, ci - 1]
    else:
        for ci in np.flatnonzero(shown >= 0):  # carried-forward columns copy their first
            c0 = target[shown[ci]]
            if c0 != ci:
                grid[:, ci] = grid[:, c0]
    valid = shown >= 0
    best_ask = np.where(valid, ask[np.maximum(shown, 0)], np.nan)
    best_bid = np.where(valid, bid[np.maximum(shown, 0)], np.nan)
    best_ask[~np.isfinite(best_ask)] = np.nan
    best_bid[~np.isfinite(best_bid)] = np.nan
    return Heatmap(symbol, col, t_edges, p_edges, grid, best_bid, best_ask, n_snaps, n_rows,
                   ticks)


def _snapshots(data: str | Path, symbol: str, col: str, s: int, e: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """Per snapshot of the window: mid time, best bid, best ask; and the level rows read."""
    times, bids, asks, rows = [], [], [], 0
    for t in iter_batches(data, symbol, col, s, e,
                          columns=["seq", "t_before_ns", "t_after_ns", "level", "type", "price"],
                          batch_rows=BATCH_ROWS):
        seq = t.column("seq").to_numpy()
        starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
        tb = t.column("t_before_ns").to_numpy()[starts]
        ta = t.column("t_after_ns").to_numpy()[starts]
        times.append(tb + (ta - tb) // 2)
        level, typ = t.column("level").to_numpy(), t.column("type").to_numpy()
        price = t.column("price").to_numpy()
        # Best ask / bid of every snapshot, by reduceat over its contiguous rows.
        asks.append(np.minimum.reduceat(
            np.where(np.isin(typ, SELL_TYPES) & (level >= 0), price, np.inf), starts))
        bids.append(np.maximum.reduceat(
            np.where(np.isin(typ, BUY_TYPES) & (level >= 0), price, -np.inf), starts))
        rows += t.num_rows
    if not rows:
        return None
    return np.concatenate(times), np.concatenate(bids), np.concatenate(asks), rows


def _volume_by_price(data: str | Path, symbol: str, col: str, s: int, e: int,
                     target: np.ndarray, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Resting volume by exact price and column of the snapshots with a target column.

    Returns the sorted distinct prices and a ``len(prices) x W`` matrix. Exact
    prices (a few thousand a day) rather than price rows: the rows' size and
    zoom depend on every price shown, known only once all are read.
    """
    acc: dict[float, np.ndarray] = {}
    first = 0
    for t in iter_batches(data, symbol, col, s, e, columns=["seq", "level", "price", "volume"],
                          verify=False, batch_rows=BATCH_ROWS):  # pass 1 checked the parts
        seq = t.column("seq").to_numpy()
        starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
        snap_of_row = first + np.repeat(np.arange(starts.size), np.diff(np.r_[starts, seq.size]))
        first += starts.size
        cs = target[snap_of_row]
        sel = (cs >= 0) & (t.column("level").to_numpy() >= 0)
        if not sel.any():
            continue
        up, inv = np.unique(t.column("price").to_numpy()[sel], return_inverse=True)
        m = np.bincount(inv * W + cs[sel],
                        weights=t.column("volume").to_numpy()[sel].astype(np.float64),
                        minlength=up.size * W).reshape(up.size, W)
        for k, pr in enumerate(up.tolist()):
            row = acc.get(pr)
            if row is None:
                acc[pr] = m[k].copy()
            else:
                row += m[k]
    prices = np.array(sorted(acc), dtype=np.float64)
    return prices, (np.stack([acc[pr] for pr in prices.tolist()]) if acc
                    else np.zeros((0, W)))



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
