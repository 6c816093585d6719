"""Time and peak memory of ``analyze``/``verify`` on a full day, vs the notebook's pandas way.

    .venv/bin/python benchmarks/make_day.py /tmp/day          # once: 10 M states, 320 M rows
    .venv/bin/python benchmarks/bench_analysis.py /tmp/day

Every step runs in its own process; wall time and that process's peak RSS come
from ``os.wait4``. The notebook's ``concate_files`` (``pd.read_csv`` + ``pd.concat``
+ sort + ``diff`` over level rows) cannot hold a day, so both it and ``booktape
analyze`` also run on a sample it can hold (``--sample`` states exported to the
notebook's CSV), and the ratio is taken from that same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

NOTEBOOK = r"""
import sys, pandas as pd
from os import listdir
from os.path import isfile, join
def file_number(str_): return int(str_.split('/')[-1][:-4])
def get_paths_to_csvs(p):
    r = [join(p, f) for f in listdir(p) if isfile(join(p, f))]; r.sort(key=file_number); return r
def concate_files(all_files):
    df_list = []
    for filename in all_files:
        df_list.append(pd.read_csv(filename))
    df = pd.concat(df_list, axis=0, ignore_index=True)
    df['time_after'] = pd.to_datetime(df['time_after'])
    df['time_before'] = pd.to_datetime(df['time_before'])
    df['delta'] = df['time_after'] - df['time_before']
    df['time_mean'] = df['time_before'] + (df['delta']/2)
    df_index_before = df.index.copy()
    df = df.sort_values('time_mean', kind='stable')
    print('Time order is kept' if df_index_before.equals(df.index) else 'Time order is invalid')
    df['diff'] = df['time_mean'].diff()
    return df
df = concate_files(get_paths_to_csvs(sys.argv[1]))
c = df['diff'].dt.components
c = c[(c == 0).sum(axis=1) != 7]
print(df['delta'].describe(), c.describe())
"""


def measure(label: str, cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (seconds, peak RSS MiB) of that process alone."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    rss = ru.ru_maxrss / 1024  # KiB on Linux
    code = os.waitstatus_to_exitcode(status)
    print(f"{label:<48} {dt:7.2f} s  {rss:8.0f} MiB  exit {code}  ({' '.join(cmd[1:])})",
          flush=True)
    if code not in (0, 1):
        sys.stderr.write(p.stderr.read().decode() if p.stderr else "")
    return dt, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("day", help="a tape from make_day.py")
    ap.add_argument("--sample", type=int, default=100_000, help="states in the pandas sample")
    a = ap.parse_args()
    py = sys.executable
    bt = [py, "-m", "booktape"]
    print(f"{'step':<48} {'time':>9}  {'peak RSS':>12}")
    measure("analyze, full day", [*bt, "analyze", a.day, "--json"])
    measure("verify, full day", [*bt, "verify", a.day])
    measure("analyze --html, full day", [*bt, "analyze", a.day, "--json", "--html",
                                         str(Path(tempfile.gettempdir()) / "day-report.html")])
    with tempfile.TemporaryDirectory() as tmp:
        sample, csvs = Path(tmp) / "sample", Path(tmp) / "csvs"
        subprocess.run([py, str(HERE / "make_day.py"), str(sample), "--snapshots",
                        str(a.sample), "--part-snapshots", str(a.sample // 2)], check=True,
                       stdout=subprocess.DEVNULL)
        csvs.mkdir()
        subprocess.run([*bt, "export", str(sample), "--csv", str(csvs / "0.csv")], check=True,
                       stdout=subprocess.DEVNULL)
        mb = (csvs / "0.csv").stat().st_size / 2**20
        print(f"sample: {a.sample:,} states, {a.sample * 32:,} level rows, CSV {mb:,.0f} MiB")
        nb = measure("notebook concate_files (pandas), sample CSV",
                     [py, "-c", NOTEBOOK, str(csvs)])
        bc = measure("booktape analyze, same sample CSV", [*bt, "analyze", str(csvs), "--json"])
        bp = measure("booktape analyze, same sample as tape", [*bt, "analyze", str(sample),
                                                               "--json"])
        print(f"ratio on the sample (notebook / booktape): CSV {nb[0] / bc[0]:.1f}x faster, "
              f"{nb[1] / bc[1]:.1f}x less memory; tape {nb[0] / bp[0]:.1f}x faster, "
              f"{nb[1] / bp[1]:.1f}x less memory")


if __name__ == "__main__":
    main()
