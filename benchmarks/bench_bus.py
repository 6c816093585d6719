"""Publish-ack latency and throughput of booktape chunks into a local JetStream, default vs sync_interval: always.

Partial (issue 15): one publisher, booktape's own codec and one-at-a-time
publish (as the Publisher does), chunk sizes 1/10/100 snapshots of 40 levels.
Run: .venv/bin/python benchmarks/bench_bus.py [--chunks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.nats_server import NatsServer  # noqa: E402

from booktape.bus.codec import encode  # noqa: E402
from booktape.capture.frame import ChunkBuilder, decode  # noqa: E402


def chunk(first: int, n: int) -> object:
    b = ChunkBuilder()
    t0 = time.time_ns()
    for s in range(first, first + n):
        book = tuple((1 + (i >= 20), 106000.0 + 10 * (i - 20) + s % 3, 1 + i, 1.0 + i)
                     for i in range(40))
        b.add(0, s, t0 + s, t0 + s + 1000, 0, 1000, book)
    return decode(b.take())[0]


async def run(url: str, size: int, count: int) -> tuple[float, np.ndarray]:
    import nats

    from booktape.bus.config import BusConfig
    from booktape.bus.stream import ensure_stream

    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_stream(js, BusConfig(url=url))
    msgs = [encode("booktape", "bench", "RIU2", chunk(i * size, size), 0, "b")
            for i in range(count)]
    lat = np.empty(count, np.int64)
    t0 = time.perf_counter()
    for i, (subj, hdr, payload) in enumerate(msgs):
        a = time.perf_counter_ns()
        await js.publish(subj, payload, headers=hdr)
        lat[i] = time.perf_counter_ns() - a
    el = time.perf_counter() - t0
    await nc.close()
    return count * size / el, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=2000)
    args = ap.parse_args()
    print("| server | chunk (states) | states/s | ack p50 | p99 | p99.9 |")
    print("|---|---|---|---|---|---|")
    for always in (False, True):
        with tempfile.TemporaryDirectory() as d:
            srv = NatsServer(Path(d) / "js", sync_always=always).start()
            try:
                for size in (1, 10, 100):
                    rate, lat = asyncio.run(run(srv.url, size, args.chunks if size < 100 else args.chunks // 4))
                    p = np.percentile(lat, [50, 99, 99.9]) / 1e3
                    print(f"| {'sync_interval: always' if always else 'default'} | {size} | "
                          f"{rate:,.0f} | {p[0]:.0f} µs | {p[1]:.0f} µs | {p[2]:.0f} µs |")
            finally:
                srv.stop()


if __name__ == "__main__":
    main()
