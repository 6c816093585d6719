"""The notebook's CSVs as analysis input, and its concate_files workflow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from booktape.analysis import calculate_diff_components, concate_files, report
from booktape.read.export import export_csv

from .analysis_tapes import clean_tape, parts

MS = 1_000_000


def write_notebook_csv(path: Path, name: str, n: int, t0: dt.datetime, levels: int = 4,
                       back_at: int | None = None) -> None:
    """A CSV like the notebook's: level index, 1 ms clock steps with a .xxx392 offset."""
    true = np.int64(t0.timestamp() * 1e9) + np.arange(n, dtype=np.int64) * 300_000
    off = 392_000

    def q(t: np.ndarray) -> np.ndarray:  # a clock that ticks every 1 ms
        return (t - off) // MS * MS + off

    tb, ta = q(true), q(true + 50_000)
    if back_at is not None:  # a real step back of 5 ms
        tb[back_at:] -= 5 * MS
        ta[back_at:] -= 5 * MS
    rows = {"": np.tile(np.arange(levels), n), "type": np.tile([1, 1, 2, 2][:levels], n),
            "price": 106_000.0, "volume": 3, "volume_dbl": 3.0,
            "time_after": pd.to_datetime(np.repeat(ta, levels)).astype(str),
            "time_before": pd.to_datetime(np.repeat(tb, levels)).astype(str), "name": name}
    pd.DataFrame(rows).to_csv(path, index=False)


def csv_folder(tmp_path: Path, back_at: int | None = None) -> Path:
    d = tmp_path / "csvs"
    d.mkdir()
    t0 = dt.datetime(2022, 8, 10, 18, 45, 23)
    write_notebook_csv(d / "0.csv", "zero", 2000, t0, back_at=back_at)
    write_notebook_csv(d / "1.csv", "zero", 2000, t0 + dt.timedelta(seconds=0.6))
    write_notebook_csv(d / "10.csv", "one", 3000, t0)
    return d


def test_report_csv_folder_recognises_1ms_clock_steps(tmp_path: Path) -> None:
    rep = report(csv_folder(tmp_path))
    assert rep.source == "csv" and rep.ok, rep.problems
    by = {r.collector: r for r in rep.streams}
    assert set(by) == {"zero", "one"}
    assert by["zero"].states == 4000 and by["one"].states == 3000
    for r in by.values():
        assert r.clock_step_ns == MS and r.order.kept and r.order.same_tick > 0
        assert not r.seq.checked  # CSVs carry no seq: nothing claimed about loss
        assert r.poll_duration["max"] <= MS  # 0 or one clock step
    assert [p.file for p in by["zero"].parts] == ["0.csv", "1.csv", "10.csv"]


def test_report_csv_real_step_back_is_disorder(tmp_path: Path) -> None:
    rep = report(csv_folder(tmp_path, back_at=700))
    assert not rep.ok
    (p,) = [p for p in rep.problems if p.kind == "disorder"]
    assert p.collector == "zero" and "0.csv" in p.message
    r = next(r for r in rep.streams if r.collector == "zero")
    assert r.order.rows[0].index == 700 and r.order.rows[0].back_ns > 4 * MS


def test_concate_files_orders_per_collector_unlike_the_notebook(tmp_path: Path) -> None:
    d = csv_folder(tmp_path)
    df = concate_files(d)
    assert len(df) == 7000 and df.attrs["time_order_kept"]
    assert set(df.attrs["time_order"]) == {"csv/zero", "csv/one"}
    # The notebook's own way (all level rows of both collectors, one sort) says "invalid".
    raw = concate_files(d, snapshots_only=False)
    assert len(raw) == 7000 * 4
    naive = pd.concat([pd.read_csv(f) for f in sorted(d.glob("*.csv"))], ignore_index=True)
    tm = pd.to_datetime(naive["time_before"]) + (pd.to_datetime(naive["time_after"])
                                                 - pd.to_datetime(naive["time_before"])) / 2
    assert not tm.sort_values(kind="stable").index.equals(naive.index)
    comp = calculate_diff_components(df)
    assert list(comp.columns)[:3] == ["days", "hours", "minutes"]
    assert len(comp) < len(df) and (comp.sum(axis=1) > 0).all()


def test_concate_files_on_tape_and_exported_csv_agree(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    (tmp_path / "exp").mkdir()
    export_csv(tape, tmp_path / "exp" / "0.csv")
    a = concate_files(tape)
    b = concate_files(tmp_path / "exp")
    n = sum(e.snapshots for e in parts(tape))
    assert len(a) == len(b) == n
    # the CSV keeps microseconds: the same states, the same order
    assert (a["time_before"].dt.floor("us").values == b["time_before"].values).all()
    ra, rb = report(tape).streams[0], report(tmp_path / "exp").streams[0]
    assert ra.states == rb.states and rb.clock_step_ns == 0
