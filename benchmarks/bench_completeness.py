"""Provable completeness (issue 13): what one collector and two merged store of the true market.

Per topology, source latency and sim rate (with the sim's bursts): two recorder
processes poll one shared real-time sim market (``--sim-anchor``, the same
seed) side by side, each writing the sim's true timeline (``--sim-log``); their
tapes are merged (``booktape merge``) and everything is scored against the
truth (:func:`booktape.analysis.score_truth`): true states, % stored by one
collector (the mean of the two) and by the merged tape, missed states by
lifetime, violations of the bound (must be 0), and from ``analyze`` the
guaranteed lifetime p50/p99.9/max and blind-spot time per minute of one
collector. Usage::

    python benchmarks/bench_completeness.py [--seconds 1.5] [--topologies all]
        [--latencies 0,20,80] [--rates 300,3000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import booktape
from booktape.analysis import report, score_truth
from booktape.read.merge import merge

TOPOLOGIES = ["sequential", "pipe", "queue", "fanout-pipe", "fanout-queue", "ring"]


def record_pair(tape: Path, topology: str, latency_us: int, rate: float, seconds: float,
                logs: dict[str, Path]) -> None:
    anchor = dt.datetime.now(dt.UTC).isoformat()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "booktape", "record", "--out", str(tape), "--collector", c,
         "--duration", f"{seconds}s", "--topology", topology, "--sim-rate", str(rate),
         "--sim-latency", f"{latency_us}us", "--sim-seed", "7", "--sim-anchor", anchor,
         "--sim-log", str(log), "--quiet"], env=dict(os.environ), stdout=subprocess.DEVNULL)
        for c, log in logs.items()]
    codes = [p.wait(timeout=300) for p in procs]
    if codes != [0, 0]:
        raise RuntimeError(f"recorders exited {codes}")


def one(topology: str, latency_us: int, rate: float, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tape = Path(d) / "data"
        logs = {c: Path(d) / f"{c}.json" for c in ("zero", "one")}
        record_pair(tape, topology, latency_us, rate, seconds, logs)
        for c in logs:
            n = booktape.read_arrow(tape, "RIU2", c, columns=["seq"], snapshots_only=True).num_rows
            if n < 10:  # its recorder spent the window starting (a loaded machine)
                raise RuntimeError(f"collector {c} stored only {n} states")
        merge(tape, "zero,one", tape, name="merged")
        # Each collector against its own truth file; the merged tape against zero's
        # (one market: the same states; scored over zero's window).
        s = {c: score_truth(tape, logs["zero" if c == "merged" else c], collector=c).scores[0]
             for c in ("zero", "one", "merged")}
        viol = sum(len(x.violations) for x in s.values())
        an = report(tape, collector="zero")
        g = an.bounds[0].overall
        minutes = max((g.end_ns - g.start_ns) / 60e9, 1e-9)
        z, o, m = s["zero"], s["one"], s["merged"]
        pct = (100 * z.stored / max(z.true_states, 1) + 100 * o.stored / max(o.true_states, 1)) / 2
        return {"topology": topology, "latency_us": latency_us, "rate": rate,
                "true": z.true_states, "one_pct": pct,
                "merged_pct": 100 * m.stored / max(m.true_states, 1),
                **{f"missed {k}": v for k, v in z.missed_by_lifetime.items()},
                "B_p50_us": (g.lifetime_p50_ns or float("nan")) / 1e3,
                "B_p999_us": (g.lifetime_p999_ns or float("nan")) / 1e3,
                "B_max_us": (g.lifetime_max_ns or float("nan")) / 1e3,
                "blind_ms_per_min": g.spot_total_ns / 1e6 / minutes, "violations": viol}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--topologies", default="all")
    ap.add_argument("--latencies", default="0,20,80")
    ap.add_argument("--rates", default="300,3000")
    a = ap.parse_args()
    topos = TOPOLOGIES if a.topologies == "all" else a.topologies.split(",")
    rows = []
    for rate in [float(x) for x in a.rates.split(",")]:
        for lat in [int(x) for x in a.latencies.split(",")]:
            for t in topos:
                try:
                    rows.append(one(t, lat, rate, a.seconds))
                except Exception as e:  # noqa: BLE001 - a failed configuration is a row
                    rows.append({"topology": t, "latency_us": lat, "rate": rate,
                                 "error": str(e)[:80]})
                print(rows[-1], file=sys.stderr, flush=True)
    keys = ["topology", "latency_us", "rate", "true", "one_pct", "merged_pct", "missed <100us",
            "missed <1ms", "missed <10ms", "missed >=10ms", "B_p50_us", "B_p999_us", "B_max_us",
            "blind_ms_per_min", "violations"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        if "error" in r:
            print(f"| {r['topology']} | {r['latency_us']} | {r['rate']:g} | failed: {r['error']} |")
            continue
        cells = []
        for k in keys:
            v = r[k]
            cells.append(f"{v:.1f}" if isinstance(v, float) and k not in ("rate",) else
                         f"{v:g}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
