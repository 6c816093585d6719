"""``booktape.analysis.heatmap``: binning of resting volume by price over time."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import booktape
from booktape.analysis.heatmap import heatmap, heatmap_png
from booktape.errors import TapeNotFound

from .analysis_tapes import clean_tape


def test_heatmap_grid_holds_the_last_book_of_each_column(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    h = heatmap(tape, "RIU2", width=50)
    df = booktape.read(tape, "RIU2")
    assert h.collector == "zero" and h.snapshots == df["seq"].nunique()
    H, W = h.grid.shape
    assert W == 50 and H == len(h.price_edges) - 1
    # The last column shows the last book: its total volume at the prices the zoom shows.
    last = df[(df["seq"] == df["seq"].max()) & (df["level"] >= 0)]
    shown = last[(last["price"] > h.price_edges[0]) & (last["price"] < h.price_edges[-1])]
    assert 0 < len(shown) < len(last)  # zoomed in: the deepest levels are left out
    assert h.grid[:, -1].sum() == pytest.approx(shown["volume"].sum())
    asks, bids = last[last["type"] == 1]["price"], last[last["type"] == 2]["price"]
    assert h.best_ask[-1] == asks.min() and h.best_bid[-1] == bids.max()
    assert np.all(h.best_bid[np.isfinite(h.best_bid)] < 1e7)
    png = heatmap_png(h)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_heatmap_marks_trades_when_given(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    h0 = heatmap(tape, "RIU2", width=20)
    t = int(h0.t_edges_ns[5])
    ticks = pa.table({"t_ns": [t], "price": [float(h0.best_bid[5])], "volume": [3]})
    h = heatmap(tape, "RIU2", width=20, ticks=ticks)
    assert h.trades is not None and h.trades.num_rows == 1
    assert heatmap_png(h)[:4] == b"\x89PNG"


def test_heatmap_unknown_symbol_is_tape_not_found(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    with pytest.raises(TapeNotFound, match="SiZ2"):
        heatmap(tape, "SiZ2")


def test_heatmap_zooms_to_the_range_of_the_best_prices(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    h = heatmap(tape, "RIU2", width=40, pad_ticks=3)
    lo, hi = np.nanmin(h.best_bid), np.nanmax(h.best_ask)
    tick = 10.0  # the sim's
    assert h.price_edges[0] >= lo - 3 * tick - tick and h.price_edges[-1] <= hi + 3 * tick + tick
    wide = heatmap(tape, "RIU2", width=40, pad_ticks=10_000)
    assert wide.price_edges[-1] - wide.price_edges[0] > h.price_edges[-1] - h.price_edges[0]


def test_heatmap_mean_columns_average_the_books_in_them(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    h = heatmap(tape, "RIU2", width=5, agg="mean", pad_ticks=10_000)
    df = booktape.read(tape, "RIU2")
    df = df[df["level"] >= 0]
    tmid = df["t_before_ns"] + (df["t_after_ns"] - df["t_before_ns"]) // 2
    col = np.clip(np.searchsorted(h.t_edges_ns, tmid.to_numpy(), "right") - 1, 0, 4)
    per_snap = df.assign(col=col).groupby(["col", "seq"])["volume"].sum()
    want = per_snap.groupby(level="col").mean()
    for c in range(5):
        assert h.grid[:, c].sum() == pytest.approx(want[c])
    assert heatmap(tape, "RIU2", width=5).grid[:, 0].sum() != pytest.approx(want[0])  # last


def test_heatmap_png_empty_is_not_volume_1_and_the_lines_stand_out(tmp_path: Path) -> None:
    from matplotlib.colors import to_rgba

    from booktape.analysis.heatmap import heatmap_mpl

    tape = clean_tape(tmp_path / "data")
    h = heatmap(tape, "RIU2", width=40)
    ax = heatmap_mpl(h).axes[0]
    im = ax.images[0]
    empty = np.array(to_rgba(ax.get_facecolor()))
    one = np.array(im.cmap(im.norm(1.0)))
    assert np.abs(empty - one)[:3].sum() > 1.0  # clearly different colours
    ask = next(ln for ln in ax.lines if ln.get_label() == "best ask")
    assert ask.get_linewidth() >= 1.5 and ask.get_path_effects()


def test_heatmap_png_time_axis_in_the_exchange_zone(tmp_path: Path) -> None:
    import datetime as dt

    from booktape.analysis.heatmap import heatmap_mpl

    tape = clean_tape(tmp_path / "data")
    h = heatmap(tape, "RIU2", width=40)
    ax = heatmap_mpl(h, tz="Europe/Moscow").axes[0]
    assert ax.get_xlabel() == "time (Europe/Moscow)"
    t0 = dt.datetime.fromtimestamp(int(h.t_edges_ns[0]) / 1e9, tz=dt.UTC)
    msk = t0.astimezone(dt.timezone(dt.timedelta(hours=3))).strftime("%H:%M:%S")
    assert msk in ax.get_title() and "Europe/Moscow" in ax.get_title()
    with pytest.raises(booktape.errors.BadArgument, match="unknown --tz"):
        heatmap_mpl(h, tz="Mars/Olympus")


def _whole_grid(tape: Path, h, mean: bool) -> np.ndarray:
    """The heatmap's matrix computed from the whole window at once (pandas), for comparison."""
    df = booktape.read(tape, "RIU2")
    snap = df.groupby("seq", sort=True)[["t_before_ns", "t_after_ns"]].first()
    mid = (snap["t_before_ns"] + (snap["t_after_ns"] - snap["t_before_ns"]) // 2).to_numpy()
    edges = h.t_edges_ns
    W, H = len(edges) - 1, len(h.price_edges) - 1
    col = np.clip(np.searchsorted(edges, mid, "right") - 1, 0, W - 1)
    step = h.price_edges[1] - h.price_edges[0]
    lo = h.price_edges[0] + step / 2
    rows = df[df["level"] >= 0].copy()
    rows["prow"] = np.floor((rows["price"] - lo) / step + 0.5).astype(int)
    rows = rows[(rows["prow"] >= 0) & (rows["prow"] < H)]
    rows["volume"] = rows["volume"].astype(float)
    books = rows.groupby(["seq", "prow"])["volume"].sum().unstack(fill_value=0.0)
    books = books.reindex(index=snap.index, columns=range(H), fill_value=0.0).to_numpy(float)
    grid = np.zeros((H, W))
    for c in range(W):
        if mean:
            inside = col == c  # (the default window holds the whole 3 s tape)
            grid[:, c] = books[inside].mean(axis=0) if inside.any() else grid[:, c - 1] if c else 0
        else:
            upto = np.flatnonzero(col <= c)
            if upto.size:
                grid[:, c] = books[upto[-1]]
    return grid


@pytest.mark.parametrize("agg,width", [("last", 50), ("mean", 17), ("last", 400)])
def test_heatmap_streamed_in_batches_equals_the_window_computed_whole(tmp_path, monkeypatch,
                                                                       agg, width):
    import booktape.analysis.heatmap as hm

    tape = clean_tape(tmp_path / "data")
    monkeypatch.setattr(hm, "BATCH_ROWS", 200)  # many batches of a few books each
    h = heatmap(tape, "RIU2", width=width, agg=agg)
    assert h.rows > 10 * 200
    expected = _whole_grid(tape, h, mean=agg == "mean")
    assert h.grid.sum() > 0
    np.testing.assert_allclose(h.grid, expected, rtol=1e-9, atol=1e-9)
    # ...and the same picture as in one batch.
    monkeypatch.setattr(hm, "BATCH_ROWS", 1 << 30)
    one = heatmap(tape, "RIU2", width=width, agg=agg)
    np.testing.assert_array_equal(one.price_edges, h.price_edges)
    np.testing.assert_allclose(one.grid, h.grid, rtol=1e-12)
    np.testing.assert_array_equal(one.best_bid, h.best_bid)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="peak RSS comes from the resource module (POSIX)")
def test_heatmap_over_a_day_streams_in_bounded_memory(tmp_path):
    """Peak RSS of the streamed heatmap vs the window read whole, each in a fresh process."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent / "benchmarks"
    tape = tmp_path / "day"
    # 300 000 books x 32 levels (9.6 M level rows, ~290 MB as Arrow columns).
    subprocess.run([sys.executable, str(root / "make_day.py"), str(tape), "--snapshots",
                    "300000", "--jobs", "1"], check=True, capture_output=True, timeout=600)
    sys.path.insert(0, str(root))
    try:
        from bench_heatmap_memory import measure
    finally:
        sys.path.remove(str(root))
    r = measure(str(tape), window="24h")
    stream, whole = r["stream"], r["whole"]
    assert stream["rows"] == whole["rows"] == 9_600_000
    # Measured 2.0x at 200 000 books, 6.6x at 1 M (BENCHMARKS.md): the stream's peak
    # is its row groups in flight, whatever the day's length.
    assert whole["growth_mb"] > 1.5 * stream["growth_mb"], r
