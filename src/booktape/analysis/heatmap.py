"""``booktape heatmap``: resting volume by price (y) over time (x), best bid/ask on top.

Binned with NumPy, never plotted row by row: each time column shows the book
as it stood at the end of that column (the last snapshot in it, carried
forward through columns with no change), each row one price step. A 15-minute
window of a busy tape (~10 M level rows) bins in about a second; a whole day
streams in bounded memory (only the books shown are kept).

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
from ..read.reader import read_arrow, tape_files
from ..units import parse_duration, parse_time
from ._scan import scan_tape

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
            max_prices: int = 300, ticks: Any = None) -> Heatmap:
    """Bin a window of the tape into a price x time grid of resting volume.

    Args:
        data: the tape. symbol: required. collector: default the first one.
        start, end: the window (default: ``window`` from the tape's first state,
            or ending at ``end`` / starting at ``start`` when only one is given).
        window: length of the default window (``"15m"``).
        width: time columns. max_prices: price rows (coarser steps beyond it).
        ticks: trades to mark (table with ``t_ns``, ``price``, ``volume``);
            default: the tape's ``--ticks`` stream, if recorded.
    """
    wns = window if isinstance(window, int) else parse_duration(window, "--window")
    s, e, col = _window(data, symbol, collector, start, end, wns)
    # Streamed (issue 12): a day's window is 320 M level rows, but the picture shows one
    # book per column. Pass 1 scans one row per state (DuckDB, level <= 0 pushed down) to
    # place the columns; pass 2 streams the level rows and keeps only the books shown.
    streams = scan_tape(data, symbol, col, s, e)
    if not streams or streams[0].size == 0:
        raise TapeNotFound(f"no {symbol} states of collector {col} between "
                           f"{np.datetime64(s, 'ns')} and {np.datetime64(e, 'ns')}")
    snaps = streams[0]
    seq_all, first = np.unique(snaps.seq, return_index=True)  # a journal may repeat a part
    tb, ta = snaps.t_before[first], snaps.t_after[first]
    snap_t = tb + (ta - tb) // 2
    n_snaps = int(seq_all.size)
    s_win, e_win = s, e
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
    shown_all = np.where(fill >= 0, last[np.maximum(fill, 0)], -1)
    want = np.unique(seq_all[shown_all[shown_all >= 0]])
    pieces, n_rows = [], 0
    for b in iter_batches(data, symbol, col, s_win, e_win,
                          columns=["seq", "level", "type", "price", "volume"]):
        n_rows += b.num_rows
        hit = np.isin(b.column("seq").to_numpy(), want)
        if hit.any():
            pieces.append(b.filter(pa.array(hit)))
    t = pa.concat_tables(pieces) if pieces else None
    if t is None or t.num_rows == 0:
        raise TapeNotFound(f"the {symbol} books between the window's bounds are all empty")
    seq = t.column("seq").to_numpy()
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    # ``shown``: per column, the index of its book among the books read in pass 2.
    shown = np.where(shown_all >= 0, np.searchsorted(seq[starts], seq_all[np.maximum(shown_all, 0)]),
                     -1)
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
    # Price rows: the tick (smallest step between prices) over the range the window shows.
    sel_rows = np.isin(snap_of_row, shown[shown >= 0]) & (level >= 0)
    p = price[sel_rows]
    if p.size == 0:
        raise TapeNotFound(f"the {symbol} books between the window's bounds are all empty")
    up = np.unique(p)
    tick = float(np.min(np.diff(up))) if up.size > 1 else 1.0
    lo, hi = float(up[0]), float(up[-1])
    steps = int(round((hi - lo) / tick)) + 1
    step = tick * int(np.ceil(steps / max_prices))
    H = int(np.floor((hi - lo) / step)) + 1
    p_edges = lo - step / 2 + step * np.arange(H + 1)
    # Scatter-add the volume of each shown snapshot into every column that shows it.
    cols_of_snap: dict[int, list[int]] = {}
    for c, sn in enumerate(shown):
        if sn >= 0:
            cols_of_snap.setdefault(int(sn), []).append(c)
    grid = np.zeros((H, W), np.float64)
    uniq_snaps = np.array(sorted(cols_of_snap), dtype=np.int64)
    first_col = np.full(starts.size, -1, np.int64)
    first_col[uniq_snaps] = [cols_of_snap[int(x)][0] for x in uniq_snaps]
    r_idx = np.flatnonzero(sel_rows)
    prow = np.clip(((price[r_idx] - lo) / step + 0.5).astype(np.int64), 0, H - 1)
    flat = prow * W + first_col[snap_of_row[r_idx]]
    grid.ravel()[:] = np.bincount(flat, weights=vol[r_idx], minlength=H * W)
    for cs in cols_of_snap.values():  # carried-forward columns copy their first column
        if len(cs) > 1:
            grid[:, cs[1:]] = grid[:, [cs[0]]]
    valid = shown >= 0
    best_ask = np.where(valid, ask[np.maximum(shown, 0)], np.nan)
    best_bid = np.where(valid, bid[np.maximum(shown, 0)], np.nan)
    best_ask[~np.isfinite(best_ask)] = np.nan
    best_bid[~np.isfinite(best_bid)] = np.nan
    if ticks is None:
        ticks = _ticks(data, symbol, col, s, e)
    elif not isinstance(ticks, pa.Table):
        ticks = pa.Table.from_pandas(ticks, preserve_index=False)
    return Heatmap(symbol, col, t_edges, p_edges, grid, best_bid, best_ask, n_snaps, n_rows,
                   ticks)


def heatmap_png(h: Heatmap, width_in: float = 13, height_in: float = 6.5) -> bytes:
    """The picture: log-scaled volume colour map, bid/ask lines, trades as dots."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=96, layout="constrained")
    ax = fig.subplots()
    x0 = np.datetime64(int(h.t_edges_ns[0]), "ns")
    x1 = np.datetime64(int(h.t_edges_ns[-1]), "ns")
    import matplotlib.dates as mdates

    ext = (mdates.date2num(x0), mdates.date2num(x1), h.price_edges[0], h.price_edges[-1])  # type: ignore[no-untyped-call]
    g = np.where(h.grid > 0, h.grid, np.nan)
    vmax = np.nanmax(g) if np.isfinite(np.nanmax(g)) else 1.0
    im = ax.imshow(g, origin="lower", aspect="auto", extent=ext, cmap="magma",
                   norm=LogNorm(vmin=1, vmax=max(vmax, 2)), interpolation="nearest")
    ax.set_facecolor("black")
    xc = mdates.date2num(((h.t_edges_ns[:-1] + h.t_edges_ns[1:]) // 2).astype("datetime64[ns]"))  # type: ignore[no-untyped-call]
    ax.step(xc, h.best_ask, where="mid", color="#ff5252", lw=1.0, label="best ask")
    ax.step(xc, h.best_bid, where="mid", color="#69f0ae", lw=1.0, label="best bid")
    if h.trades is not None and h.trades.num_rows:
        tt = mdates.date2num(h.trades.column("t_ns").to_numpy().astype("datetime64[ns]"))  # type: ignore[no-untyped-call]
        v = h.trades.column("volume").to_numpy().astype(np.float64)
        ax.scatter(tt, h.trades.column("price").to_numpy(), s=4 + 30 * v / max(v.max(), 1),
                   color="white", edgecolor="k", lw=0.3, label="trades", zorder=3)
    ax.xaxis_date()
    loc = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))  # type: ignore[no-untyped-call]
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("price")
    ax.set_title(f"{h.symbol} / {h.collector}: resting volume by price, {h.snapshots:,} states, "
                 f"{x0.astype('datetime64[ms]')} → {x1.astype('datetime64[ms]')} UTC", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, facecolor="#333", labelcolor="white")
    fig.colorbar(im, ax=ax, label="resting volume (log)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def heatmap_html(h: Heatmap, png: bytes | None = None) -> str:
    """A self-contained page with the picture inlined."""
    import base64
    import html

    b64 = base64.b64encode(png if png is not None else heatmap_png(h)).decode("ascii")
    title = html.escape(f"booktape heatmap: {h.symbol} / {h.collector}")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head><body style=\"font-family:sans-serif\">"
            f"<h1>{title}</h1><p>{h.snapshots:,} states, {h.rows:,} level rows</p>"
            f"<img alt=\"heatmap\" style=\"max-width:100%\" src=\"data:image/png;base64,{b64}\">"
            "</body></html>")
