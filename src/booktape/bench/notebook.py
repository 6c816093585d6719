"""The ``notebook`` baseline: the user's original capture loop, kept quadratic on purpose.

Per poll it builds a DataFrame from ``market_book_get``, stamps it, and
``pd.concat``\\ s it onto one growing frame (every poll copies everything
captured so far); when the frame's memory reaches the threshold it is written
with ``to_csv`` (``0.csv``, ``1.csv``, ... as the notebook named them) and
emptied. Nothing is fsync'd, as in the notebook. The remainder is written when
the run ends, so a graceful stop loses nothing and the row can be verified.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..model import Book
from ._types import TapeCheck

COLUMNS = ["type", "price", "volume", "volume_dbl"]


def append_poll(frame: pd.DataFrame | None, book: Book | None, t_before_ns: int,
                t_after_ns: int, counter: int) -> pd.DataFrame:
    """The notebook's loop body: one DataFrame per poll, concatenated onto the growing frame."""
    df = pd.DataFrame(list(book or ()), columns=COLUMNS)
    df["time_before"] = pd.Timestamp(t_before_ns)
    df["time_after"] = pd.Timestamp(t_after_ns)
    df["batch_number"] = counter
    if frame is None:
        return df
    return pd.concat([frame, df])


@dataclass
class NotebookResult:
    polls: int
    dumps: int
    rows: int


def run_notebook(getter: Callable[[], Book | None], out: Path, threshold: int, *,
                 deadline_ns: int | None, max_polls: int | None, diag: Path,
                 offset_ns: int) -> NotebookResult:
    """Poll until the deadline (perf-counter ns) or poll count; CSVs in ``out``, traces in ``diag``.

    ``diag`` gets ``polls.npy`` (wall ns of every poll start), ``windows.npy``
    (start/end of every ``to_csv``, the baseline's "seal") and ``latency.npy``
    (written-to-disk time minus ``time_after`` per poll).
    """
    out.mkdir(parents=True, exist_ok=True)
    perf = time.perf_counter_ns
    starts = array("q")
    t_after_all = array("q")
    windows: list[tuple[int, int]] = []
    latency: list[np.ndarray] = []
    frame: pd.DataFrame | None = None
    counter = dumps = rows = 0
    pending_from = 0

    def dump() -> None:
        nonlocal frame, dumps, rows, pending_from
        if frame is None:
            return
        w0 = perf()
        frame.to_csv(out / f"{dumps}.csv")
        w1 = perf()
        windows.append((w0 + offset_ns, w1 + offset_ns))
        ta = np.frombuffer(t_after_all, dtype=np.int64)[pending_from:counter]
        latency.append((w1 + offset_ns) - ta)
        rows += len(frame)
        dumps += 1
        pending_from = counter
        frame = None

    while True:
        if max_polls is not None and counter >= max_polls:
            break
        t0 = perf()
        if deadline_ns is not None and t0 >= deadline_ns:
            break
        starts.append(t0)
        book = getter()
        t1 = perf()
        t_after_all.append(t1 + offset_ns)
        frame = append_poll(frame, book, t0 + offset_ns, t1 + offset_ns, counter)
        counter += 1
        if int(frame.memory_usage(index=True).sum()) >= threshold:
            dump()
    dump()
    np.save(diag / "polls.npy", np.frombuffer(starts, dtype=np.int64) + offset_ns)
    np.save(diag / "windows.npy", np.array(windows, dtype=np.int64).reshape(-1, 2))
    np.save(diag / "latency.npy", np.concatenate(latency) if latency else np.array([], np.int64))
    return NotebookResult(polls=counter, dumps=dumps, rows=rows)


def read_back(out: Path, expected: int) -> TapeCheck:
    """Verify the CSVs: every poll's ``batch_number`` present exactly once; bytes per row."""
    files = sorted(out.glob("*.csv"), key=lambda p: int(p.stem))
    batches: list[np.ndarray] = []
    durations: list[np.ndarray] = []
    rows = 0
    for f in files:
        df = pd.read_csv(f, usecols=["batch_number", "time_before", "time_after"])
        rows += len(df)
        first = df.drop_duplicates("batch_number")
        batches.append(first["batch_number"].to_numpy(np.int64))
        tb = pd.to_datetime(first["time_before"]).to_numpy("datetime64[ns]").astype(np.int64)
        ta = pd.to_datetime(first["time_after"]).to_numpy("datetime64[ns]").astype(np.int64)
        durations.append(ta - tb)
    b = np.concatenate(batches) if batches else np.array([], np.int64)
    uniq = np.unique(b[(b >= 0) & (b < expected)])
    return TapeCheck(expected=expected, snapshots=int(uniq.size), duplicated=int(b.size - np.unique(b).size),
                     rows=rows, bytes=sum(f.stat().st_size for f in files),
                     poll_durations=np.concatenate(durations) if durations else np.array([], np.int64))
