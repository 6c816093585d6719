"""``booktape.analysis.heatmap``: binning of resting volume by price over time."""

from __future__ import annotations

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
    # The last column shows the last book: its total volume, at its prices.
    last = df[(df["seq"] == df["seq"].max()) & (df["level"] >= 0)]
    assert h.grid[:, -1].sum() == pytest.approx(last["volume"].sum())
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
