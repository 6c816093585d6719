"""The ring's hand-off: a chunk copied into the ring vs packed in place in it. Not run by pytest.

Packs 128 lockstep-sim books (40 levels) per chunk, ``--chunks`` times, into
a pre-faulted shared-memory ring, both ways, interleaved, and prints per-state
packing cost and per-chunk hand-off cost side by side:

- ``copy``: ``ChunkBuilder`` (private buffers), then ``take()`` (a new bytes)
  and ``Ring.put`` (a second copy) — session 1's ring;
- ``in place``: each state packed straight into the ring slot, the chunk
  published by storing the write position — ``RingPacker``'s method.

    .venv/bin/python benchmarks/bench_handoff.py --chunks 3000 --rounds 2
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from itertools import chain
from multiprocessing import shared_memory

import numpy as np

from booktape.capture.frame import (
    HEADER,
    HEADER_SIZE,
    LEVEL_SIZE,
    PREFIX,
    ChunkBuilder,
    levels_struct,
)
from booktape.sources.simulated import SimConfig, SimMarket
from booktape.transport.ring import HEADER_BYTES, RECORD, Ring

SNAPS = 128


def run(mode: str, books: list, chunks: int, ring: Ring) -> tuple[np.ndarray, np.ndarray]:
    perf = time.perf_counter_ns
    add_ns, hand_ns = [], []
    b = ChunkBuilder()
    kept: deque[bytes] = deque()  # session 1 kept every chunk until acknowledged
    for c in range(chunks):
        if mode == "copy":
            for i, bk in enumerate(books):
                t0 = perf()
                b.add(0, i, 0, 0, 0, bk)
                add_ns.append(perf() - t0)
            t0 = perf()
            chunk = b.take()
            kept.append(chunk)
            if len(kept) > 60:
                kept.popleft()
            span = ring.put(1, c, chunk)
            hand_ns.append(perf() - t0)
            assert span is not None
            ring.free_to(span[1])
        else:
            head = RECORD.size + PREFIX.size + HEADER_SIZE * SNAPS
            w, _ = ring.region(head + LEVEL_SIZE * 40 * SNAPS) or (None, 0)
            assert w is not None
            at = w % ring.cap
            ho, lo = at + RECORD.size + PREFIX.size, at + head
            for i, bk in enumerate(books):
                t0 = perf()
                n = len(bk)
                HEADER.pack_into(ring.data, ho, 0, n, 0, i, 0, 0)
                levels_struct(n).pack_into(ring.data, lo, *chain.from_iterable(bk))
                ho += HEADER_SIZE
                lo += LEVEL_SIZE * n
                add_ns.append(perf() - t0)
            t0 = perf()
            length = lo - at - RECORD.size
            RECORD.pack_into(ring.data, at, length, 1, c)
            PREFIX.pack_into(ring.data, at + RECORD.size, SNAPS, 0, SNAPS, 0)
            end = w + ((RECORD.size + length + 7) & ~7)
            ring.pos[0] = end
            hand_ns.append(perf() - t0)
            ring.free_to(end)
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
                res[mode].append(run(mode, books, args.chunks, ring))
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
