"""booktape over NATS JetStream on this machine (issue 15).

``--part ack``: one publisher, booktape's own codec and one-at-a-time publish
(as the Publisher does), chunk sizes 1/10/100 snapshots of 40 levels, default
server vs ``sync_interval: always``.

``--part e2e``: several real recorder processes (``--recorders`` x
``--symbols``, the simulated market in real time, ``--publish``) into one real
``booktape sink`` process, per chunk size (``chunk_snapshots`` = symbols x 1,
10, 100, so each published message holds about 1, 10, 100 states of a symbol):
snapshots/s end to end (every state checked in the sink's tape), publish-ack
latency (measured in the recorders' publisher threads), t_after -> durable in
the sink (fsync), CPU per 1 000 snapshots/s on each side (``os.wait4``), and
the poll-gap distribution of the publishing recorders against one control
recorder without ``--publish`` running at the same time with the same load.

Run: .venv/bin/python benchmarks/bench_bus.py [--part ack|e2e|all] [--chunks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
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


def bench_ack(chunks: int) -> None:
    print("| server | chunk (states) | states/s | ack p50 | p99 | p99.9 |")
    print("|---|---|---|---|---|---|")
    for always in (False, True):
        with tempfile.TemporaryDirectory() as d:
            srv = NatsServer(Path(d) / "js", sync_always=always).start()
            try:
                for size in (1, 10, 100):
                    rate, lat = asyncio.run(run(srv.url, size, chunks if size < 100 else chunks // 4))
                    p = np.percentile(lat, [50, 99, 99.9]) / 1e3
                    print(f"| {'sync_interval: always' if always else 'default'} | {size} | "
                          f"{rate:,.0f} | {p[0]:.0f} µs | {p[1]:.0f} µs | {p[2]:.0f} µs |")
            finally:
                srv.stop()


RECORD = """
import sys, booktape
out, coll, url, diag, rate, chunk, dur, syms, interval = sys.argv[1:10]
kw = {} if url == "-" else {"publish": url}
booktape.record(out, syms.split(","), collector=coll, duration=dur, diag_dir=diag, interval=interval,
                chunk_snapshots=int(chunk), sync_every="50ms",
                source_options={"rate": float(rate), "seed": 7}, **kw)
"""
SINK = """
import json, sys
from booktape.bus.config import BusConfig
from booktape.bus.sink import run_sink
s = run_sink(BusConfig(url=sys.argv[1]), sys.argv[2], sync_every="100ms", diag_dir=sys.argv[3])
print(json.dumps(s.as_dict()["counts"]))
"""


def _wait_consumer(url: str, sink: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the sink's durable consumer exists: recorders start only once it reads."""
    import nats

    async def exists() -> bool:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().consumer_info("BOOKTAPE", "booktape-sink")
            return True
        except Exception:
            return False
        finally:
            await nc.close()

    deadline = time.monotonic() + timeout
    while not asyncio.run(exists()):
        if sink.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the sink did not start: {sink.stderr.read() if sink.stderr else ''}")
        time.sleep(0.2)


def _cpu(ru: object) -> float:
    return float(ru.ru_utime + ru.ru_stime)  # type: ignore[attr-defined]


def _pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if len(a) else float("nan")


def _ms(x: float) -> str:
    return f"{x / 1e6:.2f} ms" if x == x else "-"


def e2e_once(base: Path, recorders: int, symbols: int, per_symbol: int, rate: float,
             duration: float, interval: str = "0") -> dict[str, float]:
    """One configuration: ``recorders`` publishing + 1 control recorder, into one sink."""
    from booktape.analysis.compare import compare_tapes

    srv = NatsServer(base / "js").start()
    py = sys.executable
    try:
        sink_diag = base / "sink-diag"
        sink_diag.mkdir()
        sink = subprocess.Popen([py, "-c", SINK, srv.url, str(base / "sink"), str(sink_diag)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_consumer(srv.url, sink)  # imports take seconds on a loaded machine
        procs = []
        for i in range(recorders + 1):
            name = f"r{i}" if i < recorders else "control"
            diag = base / f"diag-{name}"
            diag.mkdir()
            syms = ",".join(f"S{i}X{k}" for k in range(symbols))
            url = srv.url if i < recorders else "-"
            procs.append((name, diag, subprocess.Popen(
                [py, "-c", RECORD, str(base / f"local-{name}"), name, url, str(diag), str(rate),
                 str(per_symbol * symbols), f"{duration}s", syms, interval],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)))
        cpu: dict[str, float] = {}
        for name, _, p in procs:
            _, status, ru = os.wait4(p.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"recorder {name} failed: {p.stderr.read() if p.stderr else ''}")
            cpu[name] = _cpu(ru)
        # The sink has everything when every recorder's local tape is in it, state by state.
        deadline = time.monotonic() + 120
        while True:
            why = ""
            try:
                cmps = [compare_tapes(base / "sink", base / f"local-r{i}", collector=f"r{i}")
                        for i in range(recorders)]
                if all(c.equal for c in cmps):
                    break
                why = str([c.to_dict() for c in cmps if not c.equal])[:2000]
            except Exception as e:
                why = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sink never caught up: {why}")
            time.sleep(0.5)
        sink.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(sink.pid, 0)
        counts = json.loads(sink.stdout.read() if sink.stdout else "{}")
        cpu["sink"] = _cpu(ru)
    finally:
        for p in [locals().get("sink"), *(x[2] for x in locals().get("procs", []))]:
            if p is not None and p.poll() is None:  # a failed run leaves no process behind
                p.kill()
                p.wait()
        srv.stop()
    ack = np.concatenate([np.fromfile(f, np.int64) for n, d, _ in procs[:-1]
                          for f in d.glob("publish-ack-*.bin")])
    lat = np.concatenate([np.load(f) for f in sink_diag.glob("latency-sink-*.npy")])

    def gaps(names: list[str]) -> np.ndarray:
        return np.concatenate([np.diff(np.load(d / "polls.npy")) for n, d, _ in procs
                               if n in names])

    pub = gaps([f"r{i}" for i in range(recorders)])
    ctl = gaps(["control"])
    states = counts["snapshots_written"]
    # The recording's own span (a loaded machine takes seconds to start a process).
    import booktape

    ta = booktape.read_arrow(base / "sink", columns=["t_after_ns"], snapshots_only=True,
                             verify=False).column("t_after_ns").to_numpy()
    span = (int(ta.max()) - int(ta.min())) / 1e9
    rate_e2e = states / span
    rec_cpu = sum(cpu[f"r{i}"] for i in range(recorders)) / recorders
    return {
        "states": states, "span": span, "chunk": states / max(counts["chunks_written"], 1),
        "rate": rate_e2e,
        "ack50": _pct(ack, 50), "ack99": _pct(ack, 99), "ack999": _pct(ack, 99.9),
        "lat50": _pct(lat, 50), "lat99": _pct(lat, 99),
        # CPU seconds per second of recording = cores; per 1 000 states/s of that recorder/sink.
        # Whole processes (start-up included); "publishing" is the publishing recorders'
        # CPU minus the control recorder's, which polls the same market without --publish.
        "rec_cpu_k": rec_cpu / span / (rate_e2e / recorders / 1000),
        "pub_cpu_k": (rec_cpu - cpu["control"]) / span / (rate_e2e / recorders / 1000),
        "sink_cpu_k": cpu["sink"] / span / (rate_e2e / 1000),
        "gap999_pub": _pct(pub, 99.9), "gap999_ctl": _pct(ctl, 99.9),
        "gap99_pub": _pct(pub, 99), "gap99_ctl": _pct(ctl, 99),
    }


def bench_e2e(recorders: int, symbols: int, duration: float, interval: str) -> None:
    # Rates per symbol so that a hand-off chunk fills before its 50 ms age limit.
    configs = ((1, 100.0), (10, 300.0), (100, 2000.0))
    print(f"{recorders} recorders x {symbols} symbols (+1 control recorder without --publish) "
          f"-> 1 sink, {duration:g} s each, sink --sync-every 100ms, recorders --sync-every 50ms "
          f"--interval {interval}")
    print("| chunk (states/msg) | states/s e2e | ack p50 | p99 | p99.9 | t_after→durable in sink "
          "p50 | p99 | recorder CPU / 1k states/s | of it publishing | sink CPU / 1k states/s "
          "| poll gap p99 / p99.9 with --publish | without |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for per_symbol, rate in configs:
        with tempfile.TemporaryDirectory() as d:
            r = e2e_once(Path(d), recorders, symbols, per_symbol, rate, duration, interval)
        print(f"| {r['chunk']:.1f} | {r['rate']:,.0f} ({r['states']:,} in {r['span']:.1f} s) | {_ms(r['ack50'])} | {_ms(r['ack99'])} | "
              f"{_ms(r['ack999'])} | {_ms(r['lat50'])} | {_ms(r['lat99'])} | "
              f"{r['rec_cpu_k']:.3f} cores | {r['pub_cpu_k']:+.3f} cores | "
              f"{r['sink_cpu_k']:.3f} cores | {_ms(r['gap99_pub'])} / {_ms(r['gap999_pub'])} | "
              f"{_ms(r['gap99_ctl'])} / {_ms(r['gap999_ctl'])} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("ack", "e2e", "all"), default="all")
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--recorders", type=int, default=3)
    ap.add_argument("--symbols", type=int, default=2)
    ap.add_argument("--duration", type=float, default=12.0)
    ap.add_argument("--interval", default="0",
                    help="recorders' --interval (0 busy-polls a core each, as in production)")
    args = ap.parse_args()
    if args.part in ("ack", "all"):
        bench_ack(args.chunks)
    if args.part in ("e2e", "all"):
        bench_e2e(args.recorders, args.symbols, args.duration, args.interval)


if __name__ == "__main__":
    main()
