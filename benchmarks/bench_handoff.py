"""The ring's hand-off: a chunk copied into the ring vs packed in place in it. Not run by pytest.

Packs 128 lockstep-sim books (40 levels) per chunk, ``--chunks`` times, into
a pre-faulted shared-memory ring, both ways, interleaved, and prints per-state
packing cost and per-chunk hand-off cost side by side:

- ``copy``: ``ChunkBuilder`` (private buffers), then ``take()`` (a new bytes,
  kept by the backlog) and ``Ring.put`` (a second copy) — session 1's ring,
  and still the path a chunk takes when the ring is full;
- ``in place``: ``RingPacker``, each state packed straight into the ring, the
  chunk published by storing the write position.

    .venv/bin/python benchmarks/bench_handoff.py --chunks 3000 --rounds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from multiprocessing import shared_memory
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from booktape.capture.frame import ChunkBuilder
from booktape.sources.simulated import SimConfig, SimMarket
from booktape.transport.backlog import Backlog
from booktape.transport.ring import HEADER_BYTES, Kept, Ring, RingPacker

SNAPS = 128


def run(mode: str, books: list, chunks: int, ring: Ring, tmp: Path) -> tuple[np.ndarray, np.ndarray]:
    perf = time.perf_counter_ns
    add_ns, hand_ns = [], []
    backlog = Backlog(1 << 30, tmp / "spill.bin")
    if mode == "copy":
        packer: ChunkBuilder | RingPacker = ChunkBuilder()
    else:
        # The real packer; a stand-in for the supervisor parts it reads (no
        # helper process here, so no semaphore post).
        sup = SimpleNamespace(gen=object(), backlog=backlog, handoff=backlog.add)
        packer = RingPacker(sup, ring, SNAPS)  # type: ignore[arg-type]
    for _ in range(chunks):
        for i, bk in enumerate(books):
            t0 = perf()
            packer.add(0, i, 0, 0, 0, 0, bk)
            add_ns.append(perf() - t0)
        t0 = perf()
        chunk = packer.take()
        if mode == "copy":  # session 1: the backlog kept the bytes, the ring a copy
            n = backlog.add(chunk)
            span = ring.put(1, n, chunk)
            assert span is not None
            backlog.hold(n, Kept(ring, *span))
            backlog.sent += 1
        else:
            backlog.add(chunk)
        hand_ns.append(perf() - t0)
        if backlog.next - backlog.first > 60:  # acknowledged about 1 s later
            backlog.ack(backlog.next - 61)
    backlog.ack(backlog.next - 1)
    backlog.close()
    return np.array(add_ns), np.array(hand_ns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    m = SimMarket(SimConfig(lockstep=True, levels=20))
    books = []
    while len(books) < SNAPS:
        bk = m.market_book_get("RIU2")
        if len(bk) == 40:
            books.append(bk)
    cap = 64 << 20
    shm = shared_memory.SharedMemory(create=True, size=HEADER_BYTES + cap)
    try:
        assert shm.buf is not None
        np.frombuffer(shm.buf, dtype=np.uint8)[:] = 0
        ring = Ring(shm.buf, cap)
        res: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"copy": [], "in place": []}
        for _ in range(args.rounds):
            for mode in res:
                with tempfile.TemporaryDirectory() as tmp:
                    res[mode].append(run(mode, books, args.chunks, ring, Path(tmp)))
        print(f"{args.rounds} rounds x {args.chunks} chunks of {SNAPS} 40-level books, 64 MiB ring\n")
        print("| method | pack/state p50 µs | p99 µs | hand-off/chunk p50 µs | p99 µs | p99.9 µs |")
        print("|---|---|---|---|---|---|")
        q = {}
        for mode, runs in res.items():
            a = np.concatenate([r[0] for r in runs]) / 1e3
            h = np.concatenate([r[1] for r in runs]) / 1e3
            q[mode] = np.percentile(h, [50, 99, 99.9])
            pa, ph = np.percentile(a, [50, 99]), q[mode]
            print(f"| {mode} | {pa[0]:.1f} | {pa[1]:.1f} | {ph[0]:.1f} | {ph[1]:.1f} | {ph[2]:.1f} |")
        r = q["copy"] / q["in place"]
        print(f"\nhand-off, copy / in place: p50 {r[0]:.0f}x, p99 {r[1]:.0f}x, p99.9 {r[2]:.0f}x")
        ring.release()
    finally:
        shm.close()
        shm.unlink()


if __name__ == "__main__":
    main()
