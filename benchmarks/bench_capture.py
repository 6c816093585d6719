"""Capture benchmark (issue 2): the notebook's loop vs booktape's sequential capture.

Runs side by side, in one process, on the same zero-latency simulated market
(40 levels, every poll a new state, lockstep so both see identical books):

(a) the notebook's loop: a DataFrame per poll, ``pd.concat`` onto the running frame;
(b) booktape's sequential capture to disk (capture loop → journal → sealed Parquet);
(c) the sim alone (to subtract the source's own cost).

Then bytes per level row at the default sim rate: journal, sealed Parquet and
the notebook's CSV. Usage: ``python benchmarks/bench_capture.py [--sizes 1000,5000,20000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import tempfile
import time
from pathlib import Path

import pandas as pd

from booktape.capture.frame import decode
from booktape.capture.loop import CaptureConfig, StopFlag, run_capture
from booktape.capture.stats import Stats
from booktape.clock import SystemClock
from booktape.sources.simulated import SimConfig, SimMarket
from booktape.tape.writer import TapeWriter

COLUMNS = ["type", "price", "volume", "volume_dbl"]


def lockstep_market() -> SimMarket:
    return SimMarket(SimConfig(lockstep=True, unchanged_prob=0.0, levels=20, seed=11))


def sim_only(n: int) -> float:
    m = lockstep_market()
    get = m.market_book_get
    t0 = time.perf_counter()
    for _ in range(n):
        get("RIU2")
    return time.perf_counter() - t0


def notebook_loop(n: int) -> float:
    """The notebook's cell, minus the sleep: a DataFrame per poll and pd.concat."""
    m = lockstep_market()
    df_mb = pd.DataFrame()
    t0 = time.perf_counter()
    for counter in range(n):
        df_market_book = pd.DataFrame(m.market_book_get("RIU2"), columns=COLUMNS)
        df_market_book["time"] = dt.datetime.now()
        df_market_book["batch_number"] = counter
        df_mb = pd.concat([df_mb, df_market_book])
    return time.perf_counter() - t0


def booktape_capture(n: int, root: Path | None) -> tuple[float, float]:
    """Capture loop → journal → sealed part: (seconds to the last poll, to sealed).

    ``root=None`` disables storage (chunks are dropped): the capture loop alone.
    """
    m = lockstep_market()
    clock = SystemClock()
    writer = TapeWriter(root, "zero", clock) if root is not None else None

    def handoff(chunk: bytes) -> None:
        if writer is not None:
            for b in decode(chunk).values():
                writer.append("RIU2", b)

    cfg = CaptureConfig(symbols=("RIU2",), max_polls=n)
    getter = lambda: m.market_book_get("RIU2")
    t0 = time.perf_counter()
    res = run_capture([getter], cfg, clock.offset_ns, [0], handoff, StopFlag(), Stats(),
                      writer.tick if writer is not None else None)
    polled = time.perf_counter() - t0
    if writer is not None:
        writer.close()
    sealed = time.perf_counter() - t0
    assert res.stored >= 0.99 * n, res  # an event pair can, rarely, restore a book
    return polled, sealed


def bytes_per_row(seconds: float) -> dict[str, float]:
    """Record the realtime sim at its default rate; size of journal, part and notebook CSV."""
    m = SimMarket(SimConfig())
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        writer = TapeWriter(root, "zero", clock)
        batches = []

        def handoff(chunk: bytes) -> None:
            for b in decode(chunk).values():
                writer.append("RIU2", b)
                batches.append(b)

        cfg = CaptureConfig(symbols=("RIU2",), deadline_ns=clock.now_ns() + int(seconds * 1e9))
        run_capture([lambda: m.market_book_get("RIU2")], cfg, clock.offset_ns, [0], handoff,
                    StopFlag(), Stats(), writer.tick)
        writer.sync()
        journal = sum(p.stat().st_size for p in writer.open_segments.values())
        rows = writer.stats.rows
        writer.close()
        sealed = sum(p.stat().st_size for p in root.rglob("part-*.parquet"))
        t = pd.concat([b.to_pandas() for b in batches])
        csv = pd.DataFrame({
            "type": t["type"], "price": t["price"], "volume": t["volume"],
            "volume_dbl": t["volume_dbl"],
            "time_after": pd.to_datetime(t["t_after_ns"], unit="ns"),
            "time_before": pd.to_datetime(t["t_before_ns"], unit="ns"), "name": "zero",
        }).set_index(t["level"].to_numpy())
        buf = io.StringIO()
        csv.to_csv(buf)
        return {"rows": rows, "journal": journal / rows, "sealed": sealed / rows,
                "csv": len(buf.getvalue().encode()) / rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--bytes-seconds", type=float, default=20.0)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print("snapshots/s (higher is better); overhead = time per poll beyond the sim's own call")
    print(f"{'snapshots':>10} {'notebook':>10} {'booktape':>10} {'ratio':>8} │ "
          f"{'loop only':>10} {'+journal':>10} {'+seal':>10}  (overhead per poll, µs)")
    for n in sizes:
        t_nb = notebook_loop(n)
        with tempfile.TemporaryDirectory() as d:
            polled, sealed = booktape_capture(n, Path(d))
        bare, _ = booktape_capture(n, None)
        t_sim = sim_only(n)

        def us(t: float, t_sim: float = t_sim, n: int = n) -> str:
            return f"{max(t - t_sim, 0) / n * 1e6:10.2f}"

        print(f"{n:>10,} {n / t_nb:>10,.0f} {n / sealed:>10,.0f} {t_nb / sealed:>7.1f}x │ "
              f"{us(bare)} {us(polled)} {us(sealed)}")
    b = bytes_per_row(args.bytes_seconds)
    print(f"\nbytes per level row at the default sim rate ({b['rows']:,} rows, "
          f"{args.bytes_seconds:g} s): journal {b['journal']:.2f}, sealed Parquet "
          f"{b['sealed']:.2f}, notebook CSV {b['csv']:.1f} "
          f"(sealed is {b['csv'] / b['sealed']:.0f}x smaller than CSV)")


if __name__ == "__main__":
    main()
