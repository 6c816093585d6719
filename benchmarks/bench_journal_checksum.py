"""Cost of the journal's per-batch checksum (issue 11). Not run by pytest.

Builds batches of lockstep-sim books (40 levels a state) the size the writer
journals (one batch per fsync: ``--states`` states), and times, interleaved in
one run, per batch:

- ``write``: the journal write without a checksum (combine, Arrow IPC +
  zstd-3, as before issue 11) vs :class:`~booktape.tape.journal.Journal` (the same plus
  xxh3-64 of the batch's uncompressed IPC bytes and its seq range);
- ``checksum``: :func:`~booktape.tape.journal.batch_checksum` alone, and
  ``zlib.crc32`` over the same bytes for comparison;
- ``read``: a plain stream read vs :func:`~booktape.tape.journal.scan_journal`
  (message by message, decode, validate, verify).

    .venv/bin/python benchmarks/bench_journal_checksum.py --states 128 1000 --rounds 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from booktape.capture.frame import ChunkBuilder, decode
from booktape.schema import BOOK_SCHEMA
from booktape.sources.simulated import SimConfig, SimMarket
from booktape.tape.journal import _OPTIONS, Journal, batch_checksum, scan_journal


def make_batch(states: int, seed: int) -> pa.RecordBatch:
    m = SimMarket(SimConfig(lockstep=True, unchanged_prob=0, seed=seed))
    b = ChunkBuilder()
    t = 1_800_000_000 * 10**9
    for i in range(states):
        b.add(0, i, t + i * 10**6, t + i * 10**6 + 5000, 0, m.market_book_get("RIU2"))
    return decode(b.take())[0]


def plain_write(path: Path, batch: pa.RecordBatch) -> None:
    """The journal's write before issue 11 (its ``flush``: combine, then one IPC batch)."""
    with open(path, "wb") as f, pa.ipc.new_stream(f, BOOK_SCHEMA, options=_OPTIONS) as w:
        t = pa.Table.from_batches([batch]).combine_chunks()
        w.write_table(t, max_chunksize=max(t.num_rows, 1))


def ours_write(path: Path, batch: pa.RecordBatch) -> None:
    j = Journal(path, BOOK_SCHEMA)
    j.append(batch)
    j.flush()
    j._w.close()
    j._f.close()


def plain_read(path: Path) -> pa.Table:
    with pa.OSFile(str(path)) as f:
        return pa.ipc.open_stream(f).read_all()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--states", type=int, nargs="+", default=[128, 1000])
    ap.add_argument("--rounds", type=int, default=30)
    a = ap.parse_args()
    perf = time.perf_counter_ns
    tmp = Path(tempfile.mkdtemp())
    print(f"{'states':>6} {'rows':>7} | {'write plain':>11} {'write ours':>10} {'ratio':>5} | "
          f"{'xxh3':>8} {'crc32':>8} | {'read plain':>10} {'read ours':>9} {'ratio':>5} | "
          f"{'xxh3 ns/row':>11}")
    for states in a.states:
        batch = make_batch(states, 7)
        raw = memoryview(batch.serialize())
        t = {k: [] for k in ("wp", "wo", "x", "c", "rp", "ro")}
        for _ in range(a.rounds):  # interleaved: load on a shared box hits both alike
            s = perf(); plain_write(tmp / "p.arrows", batch); t["wp"].append(perf() - s)
            s = perf(); ours_write(tmp / "o.arrows", batch); t["wo"].append(perf() - s)
            s = perf(); batch_checksum(batch); t["x"].append(perf() - s)
            s = perf(); zlib.crc32(raw); t["c"].append(perf() - s)
            s = perf(); plain_read(tmp / "p.arrows"); t["rp"].append(perf() - s)
            s = perf(); scan_journal(tmp / "o.arrows"); t["ro"].append(perf() - s)
        med = {k: float(np.median(v)) / 1e3 for k, v in t.items()}  # µs
        n = batch.num_rows
        print(f"{states:>6} {n:>7,} | {med['wp']:>9.0f}µs {med['wo']:>8.0f}µs "
              f"{med['wo'] / med['wp']:>5.2f} | {med['x']:>6.0f}µs {med['c']:>6.0f}µs | "
              f"{med['rp']:>8.0f}µs {med['ro']:>7.0f}µs {med['ro'] / med['rp']:>5.2f} | "
              f"{med['x'] * 1e3 / n:>11.1f}")


if __name__ == "__main__":
    main()
