"""Peak memory of ``heatmap`` over a whole day: streamed in batches vs the window read whole.

Each side runs in a fresh process and reports its peak RSS above what the
imports took (``ru_maxrss``), so the two are measured the same way, side by
side. "whole" is what ``heatmap`` did before it streamed: ``read_arrow`` of
the window's columns at once (its first step; the binning then needed more).

    .venv/bin/python benchmarks/make_day.py /tmp/day --snapshots 1000000
    .venv/bin/python benchmarks/bench_heatmap_memory.py /tmp/day --window 24h
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

COLUMNS = ["seq", "t_before_ns", "t_after_ns", "level", "type", "price", "volume"]


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: Linux keeps the high-water mark across fork and exec, so
    # a child of a big process (pytest in the full suite: 1.3 GiB) reports the
    # parent's size (tools/peak_rss.py says more).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024


def child(mode: str, data: str, symbol: str, window: str) -> dict[str, float]:
    import numpy as np  # noqa: F401  (imports counted in the baseline, not the work)
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import booktape
    from booktape.analysis.heatmap import heatmap

    base = _peak_mb()
    t0 = time.perf_counter()
    if mode == "stream":
        h = heatmap(data, symbol, window=window)
        rows = h.rows
    else:
        rows = booktape.read_arrow(data, symbol, "zero", columns=COLUMNS).num_rows
    return {"mode": mode, "rows": rows, "seconds": round(time.perf_counter() - t0, 2),
            "base_mb": round(base, 1), "peak_mb": round(_peak_mb(), 1),
            "growth_mb": round(_peak_mb() - base, 1)}


def measure(data: str, symbol: str = "RIU2", window: str = "24h") -> dict[str, dict[str, float]]:
    out = {}
    for mode in ("stream", "whole"):
        r = subprocess.run([sys.executable, __file__, "--child", mode, data, "--symbol", symbol,
                            "--window", window], capture_output=True, text=True, check=True)
        out[mode] = json.loads(r.stdout)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--symbol", default="RIU2")
    ap.add_argument("--window", default="24h")
    ap.add_argument("--child", choices=("stream", "whole"))
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.data, a.symbol, a.window)))
        return
    r = measure(a.data, a.symbol, a.window)
    for mode in ("stream", "whole"):
        print(json.dumps(r[mode]))
    print(f"whole / stream peak growth: {r['whole']['growth_mb'] / max(r['stream']['growth_mb'], 1):.1f}x")


if __name__ == "__main__":
    main()
