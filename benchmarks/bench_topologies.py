"""Every transport topology on the same sim, one table (issue 3). Not run by pytest.

Each run is a fresh recorder process (``booktape.record`` with ``diag_dir``),
so CPU seconds and peak RSS come from ``wait4`` and cover its helpers too.
``null`` is the same capture loop with storage disabled (hand-off is a no-op).
Gaps are between consecutive poll starts; "seal" columns only count gaps
that overlap a seal window (the ``seal`` event rows).

    .venv/bin/python benchmarks/bench_topologies.py --polls 300000 --runs 3

At 80 us the sim runs lockstep (70 % of polls change the book: ~17 MB/s of
level rows, two 256 MB seals in 30 s); at 0 us it runs in real time (300
changes/s with bursts), where change detection keeps storage light.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TOPOLOGIES = ["null", "sequential", "pipe", "queue", "fanout-pipe", "fanout-queue", "ring"]


def child(args: argparse.Namespace) -> None:
    """One measured run, in its own process."""
    opts = {"latency_ns": args.latency_ns}
    if args.latency_ns:
        opts["lockstep"] = True
    if args.topology == "null":
        from array import array

        from booktape.capture.loop import CaptureConfig, StopFlag, run_capture
        from booktape.capture.stats import Stats
        from booktape.clock import SystemClock
        from booktape.sources import SourceSpec, make_source
        from booktape.transport._diag import traced, write_poll_trace

        src = make_source(SourceSpec("sim", opts))
        src.open(("RIU2",))
        starts = array("q")
        getters = traced([src.getter("RIU2")], starts)
        clock = SystemClock()
        r = run_capture(getters, CaptureConfig(symbols=("RIU2",), max_polls=args.polls),
                        clock.offset_ns, [0], lambda c: None, StopFlag(), Stats())
        write_poll_trace(args.diag, starts, clock.offset_ns)
        print(json.dumps({"polls": r.polls, "stored": r.stored, "lost": 0}))
        return
    import booktape

    s = booktape.record(args.out, "RIU2", polls=args.polls, topology=args.topology,
                        rotate_bytes=args.rotate_bytes, rotate_every=args.rotate_every,
                        source_options=opts, diag_dir=args.diag)
    print(json.dumps({"polls": s.polls, "stored": s.stored, "lost": s.lost, "ok": s.ok,
                      "parts": s.parts_sealed, "events": s.events}))


def pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if x.size else float("nan")


def measure(topology: str, latency_ns: int, polls: int, rotate_bytes: str,
            rotate_every: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-topo-") as tmp:
        diag = Path(tmp) / "diag"
        diag.mkdir()
        cmd = [sys.executable, __file__, "--child", "--topology", topology, "--latency-ns",
               str(latency_ns), "--polls", str(polls), "--out", str(Path(tmp) / "data"),
               "--diag", str(diag), "--rotate-bytes", rotate_bytes, "--rotate-every", rotate_every]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        out = p.stdout.read() if p.stdout else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{topology} failed")
        res = json.loads(out.strip().splitlines()[-1])
        t = np.load(diag / "polls.npy")
        gaps = np.diff(t)
        windows = []
        if topology != "null":
            from booktape.events import read_events

            windows = [(e["t_ns"], e["t_ns"] + e["duration_ns"])
                       for e in read_events(Path(tmp) / "data") if e["kind"] == "seal"]
        in_seal = np.zeros(gaps.size, dtype=bool)
        live_seals = 0  # seals while polling (the last one is usually at the drain)
        for a, b in windows:
            m = (t[1:] >= a) & (t[:-1] < b)  # the gap overlaps the window
            in_seal |= m
            live_seals += bool(m.any())
        lat = [np.load(f) for f in diag.glob("latency-*.npy")]
        lat_a = np.concatenate(lat) if lat else np.array([])
        sg = gaps[in_seal]
        return {
            "polls_s": gaps.size / ((t[-1] - t[0]) / 1e9),
            "p50": pct(gaps, 50) / 1e3, "p99": pct(gaps, 99) / 1e3,
            "p999": pct(gaps, 99.9) / 1e3, "max": gaps.max() / 1e3,
            "range": (gaps.max() - gaps.min()) / 1e3,
            "over1ms_per10k": float((gaps > 1_000_000).sum()) * 1e4 / gaps.size,
            "over10ms": float((gaps > 10_000_000).sum()),
            "seals": float(len(windows)), "live_seals": float(live_seals), "seal_p50": pct(sg, 50) / 1e3,
            "seal_p999": pct(sg, 99.9) / 1e3, "seal_max": (sg.max() / 1e3) if sg.size else float("nan"),
            "lat_p50_ms": pct(lat_a, 50) / 1e6, "lat_p99_ms": pct(lat_a, 99) / 1e6,
            "cpu_s": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
            "lost": float(res.get("lost", 0)),
        }


COLS = [("polls_s", "polls/s", "{:.0f}"), ("p50", "p50 µs", "{:.1f}"), ("p99", "p99 µs", "{:.1f}"),
        ("p999", "p99.9 µs", "{:.1f}"), ("max", "max µs", "{:.0f}"), ("range", "range µs", "{:.0f}"),
        ("over1ms_per10k", ">1ms /10k", "{:.2f}"), ("over10ms", ">10ms", "{:.0f}"),
        ("seals", "seals", "{:.0f}"), ("live_seals", "while polling", "{:.0f}"), ("seal_p50", "seal p50", "{:.1f}"),
        ("seal_p999", "seal p99.9", "{:.1f}"), ("seal_max", "seal max", "{:.0f}"),
        ("lat_p50_ms", "durable p50 ms", "{:.0f}"), ("lat_p99_ms", "durable p99 ms", "{:.0f}"),
        ("cpu_s", "CPU s", "{:.1f}"), ("rss_mb", "peak RSS MB", "{:.0f}"), ("lost", "lost", "{:.0f}")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--topology", default="ring")
    ap.add_argument("--topologies", default=",".join(TOPOLOGIES))
    ap.add_argument("--latency-ns", type=int, default=80_000)
    ap.add_argument("--latencies", default="80000,0", help="sim latencies in ns")
    ap.add_argument("--polls", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rotate-bytes", default="256MB")
    ap.add_argument("--rotate-every", default="1h",
                    help="seal by age too (at 0 us the sim makes too little data to fill 256 MB)")
    ap.add_argument("--out")
    ap.add_argument("--diag")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    for lat in [int(x) for x in args.latencies.split(",")]:
        rows: dict[str, dict[str, float]] = {}
        for topo in args.topologies.split(","):
            runs = [measure(topo, lat, args.polls, args.rotate_bytes, args.rotate_every)
                    for _ in range(args.runs)]
            rows[topo] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"\n### sim latency {lat / 1000:g} µs — {args.polls} polls, median of {args.runs} run(s), "
              f"rotate-bytes {args.rotate_bytes}, rotate-every {args.rotate_every}\n")
        print("| topology | " + " | ".join(c[1] for c in COLS) + " | vs sequential | vs null |")
        print("|" + "---|" * (len(COLS) + 3))
        for topo, r in rows.items():
            vs_seq = r["polls_s"] / rows["sequential"]["polls_s"] if "sequential" in rows else float("nan")
            vs_null = r["polls_s"] / rows["null"]["polls_s"] if "null" in rows else float("nan")
            cells = [fmt.format(r[k]) for k, _, fmt in COLS]
            print(f"| {topo} | " + " | ".join(cells) + f" | {vs_seq:.2f} | {vs_null:.2f} |", flush=True)


if __name__ == "__main__":
    main()
