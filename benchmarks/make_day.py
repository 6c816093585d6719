"""Synthesise a full trading day of one symbol directly in the tape layout.

Writes sealed parts (Parquet, the writer's options and key-value metadata)
and their manifest lines, exactly as ``booktape record`` leaves them, without
running the capture loop: 10 M snapshots x 32 levels (320 M level rows, ~15 h
of a busy future at ~185 states/s with bursts) take about a minute on two cores.

    .venv/bin/python benchmarks/make_day.py /tmp/day                  # the full day
    .venv/bin/python benchmarks/make_day.py /tmp/small --snapshots 200000

Then ``booktape analyze /tmp/day`` and ``booktape verify /tmp/day``
(figures in BENCHMARKS.md).

A second, redundant collector of the same market (same ``--seed``) for ``merge``:
it misses ``--drop`` of the states in bursts, stamps them ``--clock-offset`` ns
later with ``--jitter`` ns of noise, and ``--corrupt`` of its books have one
level's volume changed (conflicts to find):

    .venv/bin/python benchmarks/make_day.py /tmp/day --collector one --variant 1 --drop 0.01 \
        --clock-offset 40000 --jitter 20000 --corrupt 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from booktape.schema import BOOK_SCHEMA, with_metadata
from booktape.tape.layout import part_name, partition_dir
from booktape.tape.manifest import PartEntry, add_entry, sha256_file
from booktape.tape.seal import PARQUET_OPTIONS

DAY_START = dt.datetime(2026, 11, 26, 7, 0, tzinfo=dt.UTC)  # 10:00 Moscow
DAY_NS = 15 * 3600 * 1_000_000_000  # 10:00-01:00 Moscow would cross midnight; keep 15 h


def snapshot_times(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """t_before, t_after, unchanged, blind_ns for ``n`` states spread over 15 h, in bursts."""
    rng = np.random.default_rng(seed)
    # Bursty arrivals: exponential gaps whose scale switches between busy and calm.
    busy = rng.random(n) < 0.7
    gaps = rng.exponential(1.0, n) * np.where(busy, 0.3, 4.0)
    gaps *= DAY_NS / gaps.sum()
    dur = (rng.lognormal(np.log(20_000), 0.5, n)).astype(np.int64)  # ~20 us polls
    # A poll starts after the previous one returned: the gap covers its duration.
    gaps[1:] = np.maximum(gaps[1:], dur[:-1] + 5_000)
    gaps[0] = 0
    t_start = int(DAY_START.timestamp()) * 1_000_000_000
    tb = t_start + np.cumsum(gaps).astype(np.int64)
    # Polls every ~25 us: the unchanged polls before each state fill its gap.
    unchanged = np.maximum(gaps / 25_000 - 1, 0).astype(np.uint32)
    # The widest pair of consecutive polls: one ~25 us poll period plus a poll.
    blind = np.minimum(gaps, 25_000).astype(np.int64) + dur
    return tb, tb + dur, unchanged, blind


def make_part(args: tuple[str, int, int, int, int, int]) -> dict[str, object]:
    """Write one sealed part holding snapshots ``[s0, s1)``; returns its manifest entry."""
    out, number, s0, s1, levels, seed = args
    n = s1 - s0
    tb_all, ta_all, un_all, bl_all = _TIMES
    tb, ta, un, bl = tb_all[s0:s1], ta_all[s0:s1], un_all[s0:s1], bl_all[s0:s1]
    rng = np.random.default_rng(seed + number)  # the market: the same for every variant
    half = levels // 2
    # The mid price walks in ticks of 10 around 106 000.
    mid = 106_000 + 10 * np.cumsum(rng.integers(-1, 2, n, dtype=np.int64)) + _MID0[number]
    k = np.arange(levels, dtype=np.int64)
    offs = np.where(k < half, (half - k) * 10, -(k - half + 1) * 10)  # sells high→low, then buys
    price = (mid[:, None] + offs[None, :]).ravel().astype(np.float64)
    volume = rng.integers(1, 60, n * levels, dtype=np.int64)
    cols = {
        "seq": pa.array(np.repeat(np.arange(s0, s1, dtype=np.uint64), levels)),
        "t_before_ns": pa.array(np.repeat(tb, levels)),
        "t_after_ns": pa.array(np.repeat(ta, levels)),
        "unchanged": pa.array(np.repeat(un, levels)),
        "blind_ns": pa.array(np.repeat(bl, levels)),
        "level": pa.array(np.tile(np.arange(levels, dtype=np.int16), n)),
        "type": pa.array(np.tile(np.where(k < half, 1, 2).astype(np.int8), n)),
        "price": pa.array(price),
        "volume": pa.array(volume),
        "volume_dbl": pa.array(volume.astype(np.float64)),
    }
    table = pa.Table.from_pydict(cols, schema=BOOK_SCHEMA)
    keep = _KEEP[s0:s1]
    if not keep.all() or _SEQ is not None:  # a variant: its own seq, clock and damage
        table = table.filter(pa.array(np.repeat(keep, levels)))
        n = int(keep.sum())
        if n == 0:
            return {}
        seq = _SEQ[s0:s1][keep]  # type: ignore[index]
        shift = _SHIFT[s0:s1][keep]
        tb, ta = tb[keep] + shift, ta[keep] + shift
        vol = table.column("volume").to_numpy().copy()
        hit = np.flatnonzero(np.isin(np.arange(s0, s1)[keep], _CORRUPT))
        vol[hit * levels + 3] = 999_999
        table = table.set_column(0, "seq", pa.array(np.repeat(seq, levels)))
        for name, v in (("t_before_ns", tb), ("t_after_ns", ta)):
            table = table.set_column(table.schema.get_field_index(name), name,
                                     pa.array(np.repeat(v, levels)))
        table = table.set_column(table.schema.get_field_index("volume"), "volume", pa.array(vol))
        # After a missed burst it was not polling (no unchanged polls to count): it
        # confirms nothing in the gap, as a stalled collector would not.
        after_gap = np.r_[_KEEP[s0 - 1] if s0 else True, keep[:-1]] == 0
        un = np.where(after_gap[keep], 0, un[keep]).astype(np.uint32)
        table = table.set_column(table.schema.get_field_index("unchanged"), "unchanged",
                                 pa.array(np.repeat(un, levels)))
        s0, s1 = int(seq[0]), int(seq[-1]) + 1
    meta = {"symbol": _SYMBOL, "collector": _COLLECTOR, "session": "make_day", "source": "make_day",
            "seq_min": str(s0), "seq_max": str(s1 - 1), "t_min_ns": str(int(tb[0])),
            "t_max_ns": str(int(ta.max())), "rows": str(table.num_rows), "snapshots": str(n)}
    table = table.replace_schema_metadata(with_metadata(table.schema, meta).metadata)
    final = Path(out) / part_name(number)
    pq.write_table(table, str(final), **dict(PARQUET_OPTIONS, compression_level=_LEVEL))  # type: ignore[arg-type]
    entry = PartEntry(part=final.name, rows=table.num_rows, snapshots=n, seq_min=s0,
                      seq_max=s1 - 1, t_min_ns=int(tb[0]), t_max_ns=int(ta.max()),
                      bytes=final.stat().st_size, sha256=sha256_file(final),
                      sealed_at_ns=time.time_ns(), session="make_day")
    return entry.__dict__


_TIMES: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_MID0: np.ndarray
_SYMBOL = "RIU2"
_COLLECTOR = "zero"
_KEEP: np.ndarray
_SEQ: np.ndarray | None = None
_SHIFT: np.ndarray
_CORRUPT: np.ndarray
_LEVEL = int(PARQUET_OPTIONS["compression_level"])  # type: ignore[call-overload]


def _variant(n: int, seed: int, variant: int, drop: float, offset: int, jitter: int,
             corrupt: int) -> None:
    """Which states a redundant collector missed, its seq, clock and corrupted books."""
    global _KEEP, _SEQ, _SHIFT, _CORRUPT
    _KEEP = np.ones(n, bool)
    _SHIFT = np.zeros(n, np.int64)
    _CORRUPT = np.zeros(0, np.int64)
    if not variant:
        return
    rng = np.random.default_rng([seed, variant])
    burst = rng.integers(1, 21, n)  # missed bursts of 1-20 states
    starts = np.flatnonzero(rng.random(n) < drop / 10.5)
    for a, k in zip(starts, burst[starts]):
        _KEEP[a:a + k] = False
    _SEQ = (np.cumsum(_KEEP) - 1).astype(np.uint64)
    _SHIFT = offset + rng.integers(-jitter, jitter + 1, n) if jitter else np.full(n, offset)
    _CORRUPT = np.sort(rng.choice(np.flatnonzero(_KEEP), corrupt, replace=False))


def _init(snapshots: int, parts: int, seed: int, symbol: str, collector: str,
          variant: tuple[int, float, int, int, int] = (0, 0.0, 0, 0, 0),
          level: int | None = None) -> None:
    global _TIMES, _MID0, _SYMBOL, _COLLECTOR, _LEVEL
    if level is not None:
        _LEVEL = level
    _TIMES = snapshot_times(snapshots, seed)
    _MID0 = np.random.default_rng(seed).integers(-50, 50, parts + 2) * 10
    _SYMBOL, _COLLECTOR = symbol, collector
    _variant(snapshots, seed, *variant)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out", help="tape directory to create (must not hold this collector yet)")
    ap.add_argument("--snapshots", type=int, default=10_000_000)
    ap.add_argument("--levels", type=int, default=32, help="rows per snapshot (half a side)")
    ap.add_argument("--part-snapshots", type=int, default=1_000_000,
                    help="snapshots per sealed part (the writer's 1 GB rotation holds ~0.8 M)")
    ap.add_argument("--symbol", default="RIU2")
    ap.add_argument("--collector", default="zero")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--variant", type=int, default=0,
                    help="> 0: a redundant collector of the same market (same --seed), below")
    ap.add_argument("--drop", type=float, default=0.01, help="variant: fraction of states missed")
    ap.add_argument("--clock-offset", type=int, default=0, help="variant: ns added to its stamps")
    ap.add_argument("--jitter", type=int, default=0, help="variant: +- ns of noise on its stamps")
    ap.add_argument("--corrupt", type=int, default=0, help="variant: books with a wrong volume")
    ap.add_argument("--zstd-level", type=int, default=None,
                    help="compression level (default: the writer's, 6); 1 writes a 10 M day "
                         "~3x faster, and reading zstd costs about the same at any level")
    a = ap.parse_args()
    t0 = time.perf_counter()
    date = DAY_START.strftime("%Y-%m-%d")
    d = partition_dir(Path(a.out), a.symbol, date, a.collector)
    if d.exists() and any(d.iterdir()):
        raise SystemExit(f"{d} already holds data; choose an empty tape directory")
    d.mkdir(parents=True, exist_ok=True)
    bounds = list(range(0, a.snapshots, a.part_snapshots)) + [a.snapshots]
    jobs = [(str(d), i + 1, s0, s1, a.levels, a.seed) for i, (s0, s1) in
            enumerate(zip(bounds[:-1], bounds[1:]))]
    init = (a.snapshots, len(jobs), a.seed, a.symbol, a.collector,
            (a.variant, a.drop, a.clock_offset, a.jitter, a.corrupt), a.zstd_level)
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs, initializer=_init, initargs=init) as ex:
            entries = list(ex.map(make_part, jobs))
    else:
        _init(*init)
        entries = [make_part(j) for j in jobs]
    entries = [e for e in entries if e]
    for e in entries:  # manifest lines in part order, as the writer leaves them
        add_entry(d, PartEntry(**e))  # type: ignore[arg-type]
    snapshots = sum(int(e["snapshots"]) for e in entries)  # type: ignore[call-overload]
    rows = sum(int(e["rows"]) for e in entries)  # type: ignore[call-overload]
    size = sum(int(e["bytes"]) for e in entries)  # type: ignore[call-overload]
    print(f"wrote {snapshots:,} snapshots, {rows:,} level rows in {len(entries)} parts "
          f"({size / 2**20:,.0f} MiB) to {d} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
