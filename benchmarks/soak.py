"""A real-time soak: one recorder for a long time, its memory and file descriptors sampled.

Issue 12: a recorder must run a 15-hour day with flat RSS and open files.
This runs ``booktape record`` (ring by default) at a high sim rate with a
seal every minute, samples RSS and open fds of the recorder and of every
helper (by role: recorder, saver, status, resource-tracker...) every
``--every`` seconds, then verifies every part (``booktape verify``) and
measures the end-of-session summary in a fresh process: streaming
(``read/summary.py``) against reading the session whole (what it did before).

    nice .venv/bin/python benchmarks/soak.py --minutes 30 --sim-rate 2000 --out /tmp/soak

Prints a JSON report on stdout (and writes it to OUT/soak-report.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil


def role(p: psutil.Process, rec_pid: int) -> str:
    if p.pid == rec_pid:
        return "recorder"
    try:
        comm = Path(f"/proc/{p.pid}/comm").read_text().strip()
        cmd = " ".join(p.cmdline())
    except (OSError, psutil.Error):
        return "gone"
    if "resource_tracker" in cmd:
        return "resource-tracker"
    return comm.removeprefix("booktape-") or "python"


def sample(rec: psutil.Process) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in [rec, *rec.children(recursive=True)]:
        try:
            r = role(p, rec.pid)
            rss = p.memory_info().rss
            fds = p.num_fds()
        except psutil.Error:
            continue
        key = r if r not in out else f"{r}#{p.pid}"
        out[key] = {"pid": p.pid, "rss": rss, "fds": fds}
    return out


def measure(code: str) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter: wall seconds and peak RSS (MiB)."""
    t = time.monotonic()
    code += "; import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr else str(p.returncode)}
    lines = p.stdout.strip().splitlines()
    return {"seconds": round(time.monotonic() - t, 1), "peak_rss_mib": round(int(lines[-1]) / 1024),
            "out": " ".join(lines[:-1])[-200:]}


def flatness(samples: list[dict[str, Any]], duration_s: float) -> dict[str, dict[str, Any]]:
    """Per role: RSS and fds over the steady state, and RSS per 5-minute window.

    Only the recording's steady state counts: from 2 minutes in (imports, first
    seals, the ring's pages, allocator warm-up) to 10 s before its end (the
    drain and the summary).
    """
    steady = [s for s in samples if 120 <= float(s["t"]) <= duration_s - 10] or samples
    out: dict[str, dict[str, Any]] = {}
    for r in sorted({k.split("#")[0] for s in steady for k in s["procs"]}):
        pts = [(float(s["t"]), v) for s in steady for k, v in s["procs"].items()
               if k.split("#")[0] == r]
        t = np.array([p[0] for p in pts])
        rss = np.array([p[1]["rss"] for p in pts]) / 2**20
        fds = np.array([p[1]["fds"] for p in pts])
        slope = float(np.polyfit(t / 3600, rss, 1)[0]) if len(set(t)) > 2 else 0.0
        windows = [round(float(np.median(rss[(t >= w) & (t < w + 300)])), 1)
                   for w in range(120, int(t.max()) + 1, 300) if ((t >= w) & (t < w + 300)).any()]
        out[r] = {"samples": len(pts), "rss_mib_min": round(float(rss.min()), 1),
                  "rss_mib_max": round(float(rss.max()), 1),
                  "rss_mib_median_per_5min": windows,
                  "rss_slope_mib_per_hour": round(slope, 1),
                  "fds_min": int(fds.min()), "fds_max": int(fds.max())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--sim-rate", type=float, default=2000)
    ap.add_argument("--topology", default="ring")
    ap.add_argument("--rotate-every", default="1m")
    ap.add_argument("--every", type=float, default=10, help="sampling period, seconds")
    ap.add_argument("--out", required=True)
    ap.add_argument("--from-samples", action="store_true",
                    help="only recompute the flatness table from OUT/soak-samples.json")
    ap.add_argument("extra", nargs="*", help="more `record` options, after --")
    a = ap.parse_args()
    if a.from_samples:
        samples = json.loads((Path(a.out) / "soak-samples.json").read_text())
        print(json.dumps(flatness(samples, a.minutes * 60), indent=2))
        return
    out = Path(a.out)
    data = out / "data"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "booktape", "record", "--out", str(data), "--topology",
           a.topology, "--duration", f"{a.minutes * 60:.0f}s", "--rotate-every",
           a.rotate_every, "--sim-rate", str(a.sim_rate), "--json", *a.extra]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rec = psutil.Process(proc.pid)
    samples: list[dict[str, object]] = []
    while proc.poll() is None:
        try:
            samples.append({"t": round(time.monotonic() - t0, 1), "procs": sample(rec)})
        except psutil.Error:
            pass
        time.sleep(a.every)
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - t0
    summary = json.loads(stdout) if proc.returncode in (0, 1) and stdout.strip() else {}
    verify = subprocess.run([sys.executable, "-m", "booktape", "verify", str(data)],
                            capture_output=True, text=True)
    by_role = flatness(samples, a.minutes * 60)
    session = summary.get("session", "")
    tape_bytes = sum(p.stat().st_size for p in data.rglob("part-*.parquet"))
    stream = measure(
        "from pathlib import Path; from booktape.read.summary import summarize; "
        f"s = summarize(Path({str(data)!r}), 'zero', {session!r}); "
        "print(s.symbols[0].snapshots, s.symbols[0].state_gap_ns['p99'])")
    whole = measure(
        "import numpy as np, booktape; "
        f"t = booktape.read_arrow({str(data)!r}, 'RIU2', 'zero', columns=['seq'], verify=False); "
        f"h = booktape.read_arrow({str(data)!r}, 'RIU2', 'zero', "
        "columns=['seq', 't_before_ns', 't_after_ns'], snapshots_only=True, verify=False); "
        "s = h.column('seq').to_numpy(); print(len(np.unique(s)))")
    report = {
        "command": " ".join(cmd[1:]), "wall_s": round(wall, 1), "exit": proc.returncode,
        "stderr_tail": stderr.strip().splitlines()[-5:],
        "states": summary.get("stored"), "polls": summary.get("polls"),
        "rows": summary.get("rows"), "parts_sealed": summary.get("parts_sealed"),
        "lost": summary.get("lost"), "ok": summary.get("ok"),
        "tape_mib": round(tape_bytes / 2**20, 1),
        "verify_exit": verify.returncode, "verify_tail": verify.stdout.strip().splitlines()[-3:],
        "summary_streaming": stream, "summary_whole_read": whole, "by_role": by_role,
    }
    (out / "soak-samples.json").write_text(json.dumps(samples))
    (out / "soak-report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("BOOKTAPE_START_METHOD", "spawn")
    main()
