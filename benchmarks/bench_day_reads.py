"""Time and peak memory of ``merge``, ``heatmap`` and ``export --csv`` over a full day (issue 12).

    .venv/bin/python benchmarks/make_day.py /tmp/day                     # collector zero
    .venv/bin/python benchmarks/make_day.py /tmp/day --collector one --variant 1 \\
        --drop 0.01 --clock-offset 40000 --jitter 20000 --corrupt 3        # a redundant one
    .venv/bin/python benchmarks/bench_day_reads.py /tmp/day --baseline 05d7728
    .venv/bin/python benchmarks/bench_day_reads.py /tmp/day --baseline 18133f9 --sample-only --pairs 3

Every step runs in its own process; wall time, and that process's peak RSS from
``VmHWM`` (``tools/peak_rss.py``: ``os.wait4``'s ``ru_maxrss`` carries a parent's
high-water mark across fork and exec). With ``--baseline REV`` the merge also
runs on a sample (``--sample`` states per collector, made the same way) with the
code of commit REV (``git archive``) and with this checkout, in turns (``--pairs``
times each, baseline first), for the ratios pair by pair.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEAK = HERE.parent / "tools" / "peak_rss.py"


def measure(label: str, cmd: list[str]) -> tuple[float, float]:
    """Run ``[python, -m, module, ...]``; return (seconds, peak RSS MiB) of that process."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        env = cmd[:cmd.index(sys.executable)]  # an ``env VAR=...`` prefix
        rest = cmd[len(env) + 1:]
        t0 = time.perf_counter()
        p = subprocess.run([*env, sys.executable, str(PEAK), peak.name, *rest],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        rss = float(open(peak.name).read() or "nan")
    print(f"{label:<48} {dt:7.2f} s  {rss:8.0f} MiB  exit {p.returncode}  "
          f"(load {os.getloadavg()[0]:.1f})", flush=True)
    if p.returncode not in (0, 1):
        sys.stderr.write(p.stderr.decode())
    return dt, rss


def make_pair(out: Path, states: int) -> None:
    py, mk = sys.executable, str(HERE / "make_day.py")
    part = str(max(states // 3, 1))
    subprocess.run([py, mk, str(out), "--snapshots", str(states), "--part-snapshots", part],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([py, mk, str(out), "--snapshots", str(states), "--part-snapshots", part,
                    "--collector", "one", "--variant", "1", "--drop", "0.01", "--clock-offset",
                    "40000", "--jitter", "20000", "--corrupt", "3"], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("day", help="a tape from make_day.py with collectors zero and one")
    ap.add_argument("--baseline", help="a commit whose merge runs on the sample for the ratio")
    ap.add_argument("--sample", type=int, default=300_000, help="states per collector, sample")
    ap.add_argument("--export-window", default="2h", help="export --csv this much of the day")
    ap.add_argument("--sample-only", action="store_true", help="only the paired sample merges")
    ap.add_argument("--pairs", type=int, default=1, help="baseline/this runs on the sample")
    a = ap.parse_args()
    py = sys.executable
    bt = [py, "-m", "booktape"]
    print(f"{'step':<48} {'time':>9}  {'peak RSS':>12}")
    with tempfile.TemporaryDirectory(dir=Path(a.day).parent) as tmp:
        t = Path(tmp)
        if not a.sample_only:
            day_steps(a, bt, t)
        if a.baseline:
            src = t / "baseline"
            src.mkdir()
            arch = subprocess.run(["git", "-C", str(HERE.parent), "archive", a.baseline, "src"],
                                  check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(src)], input=arch, check=True)
            make_pair(t / "sample", a.sample)
            ratios = []
            for k in range(a.pairs):
                for d in (t / "m_old", t / "m_new"):
                    shutil.rmtree(d, ignore_errors=True)
                old = measure(f"merge, sample {a.sample:,} x 2, baseline {a.baseline}",
                              ["env", f"PYTHONPATH={src / 'src'}", *bt, "merge",
                               str(t / "sample"), "--collectors", "zero,one", "--out",
                               str(t / "m_old"), "--json"])
                new = measure(f"merge, sample {a.sample:,} x 2, this checkout",
                              [*bt, "merge", str(t / "sample"), "--collectors", "zero,one",
                               "--out", str(t / "m_new"), "--json"])
                ratios.append((old[0] / new[0], old[1] / new[1]))
                print(f"pair {k + 1}: baseline / this = {ratios[-1][0]:.2f}x time, "
                      f"{ratios[-1][1]:.2f}x peak memory", flush=True)
            tr = sorted(r[0] for r in ratios)
            mr = sorted(r[1] for r in ratios)
            print(f"median over {len(ratios)} pairs: {tr[len(tr) // 2]:.2f}x time "
                  f"(min {tr[0]:.2f}, max {tr[-1]:.2f}), {mr[len(mr) // 2]:.2f}x peak memory")


def day_steps(a: argparse.Namespace, bt: list[str], t: Path) -> None:
    measure("merge zero,one, full day", [*bt, "merge", a.day, "--collectors", "zero,one",
                                         "--out", str(t / "merged"), "--json"])
    measure("heatmap, full day (--window 15h)", [*bt, "heatmap", a.day, "--symbol", "RIU2",
                                                 "--collector", "zero", "--window", "15h",
                                                 "--png", str(t / "day.png")])
    measure(f"export --csv, {a.export_window} of the day",
            [*bt, "export", a.day, "--collector", "zero", "--start", "2026-11-26T10:00",
             "--end", f"2026-11-26T{10 + int(a.export_window.rstrip('h')):02d}:00",
             "--csv", str(t / "day.csv")])
    print(f"  CSV: {(t / 'day.csv').stat().st_size / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
