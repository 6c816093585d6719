"""What ``blind_ns`` costs the capture loop (issue 13): µs per poll, before vs after, side by side.

The loop without the column is, by default (``--base strip``), this checkout
with the bound's four lines per poll taken out of ``capture/loop.py`` (the pair
subtraction, the ``t_before`` store, the compare and its store): everything
else identical, so the ratio is the column's own cost. ``--base REV`` compares
against the committed code of a git revision instead (``05d7728`` is the
commit before ``blind_ns``; that ratio also carries every other change to the
loop and the sim since). Either tree is unpacked into a temporary directory;
the loop after it is this checkout. Rounds alternate
between the two, each in a fresh process, on the same zero-latency lockstep
sim with storage disabled (chunks dropped after packing): the capture loop
alone, where a per-poll cost shows most. Two markets: every poll a new state
(packing dominates) and 90 % unchanged polls (the per-poll pair arithmetic
dominates). Timed in CPU seconds of the polling process (``process_time``),
so a shared, loaded machine inflates neither side. Usage:
``python benchmarks/bench_blind_overhead.py [--polls 200000] [--rounds 5] [--base REV]``
"""

from __future__ import annotations

import argparse
import io
import shutil
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
from booktape.capture.loop import CaptureConfig, StopFlag, run_capture
from booktape.capture.stats import Stats
from booktape.clock import SystemClock
from booktape.sources.simulated import SimConfig, SimMarket
polls, unchanged = int(sys.argv[1]), float(sys.argv[2])
m = SimMarket(SimConfig(lockstep=True, unchanged_prob=unchanged, levels=20, seed=11))
get = m.market_book_get
clock = SystemClock()
cfg = CaptureConfig(symbols=("RIU2",), max_polls=polls)
t0 = time.process_time()
run_capture([lambda: get("RIU2")], cfg, clock.offset_ns, [0], lambda c: None, StopFlag(), Stats())
print(json.dumps((time.process_time() - t0) / polls * 1e6))
"""


def unpack(rev: str, dest: Path) -> Path:
    raw = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        tf.extractall(dest, filter="data")
    return dest / "src"


#: The bound's per-poll work in capture/loop.py; ``--base strip`` removes exactly these.
BOUND_LINES = """            pair = ta - last_tb[k]
            last_tb[k] = tb
            if pair > blind[k]:
                blind[k] = pair
"""


def strip(dest: Path) -> Path:
    shutil.copytree(ROOT / "src", dest / "src")
    loop = dest / "src" / "booktape" / "capture" / "loop.py"
    text = loop.read_text()
    if BOUND_LINES not in text:
        raise SystemExit("capture/loop.py changed: update BOUND_LINES in this benchmark")
    loop.write_text(text.replace(BOUND_LINES, ""))
    return dest / "src"


def one(src: Path, polls: int, unchanged: float) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(polls), str(unchanged)],
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
                         check=True, capture_output=True, text=True).stdout
    return float(json.loads(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--polls", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--base", default="strip",
                    help="'strip' (this loop without the bound's lines) or a git revision")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        before = strip(Path(d)) if a.base == "strip" else unpack(a.base, Path(d))
        after = ROOT / "src"
        print(f"capture loop alone (CPU time), {a.polls:,} polls per run, {a.rounds} alternating"
              f" rounds, before = {'this loop without the bound' if a.base == 'strip' else a.base}")
        print(f"{'market':<22} {'before us/poll':>15} {'after us/poll':>14} {'ratio':>7}")
        for label, unch in (("every poll a state", 0.0), ("90% unchanged polls", 0.9)):
            b, c = [], []
            for _ in range(a.rounds):
                b.append(one(before, a.polls, unch))
                c.append(one(after, a.polls, unch))
            mb, mc = statistics.median(b), statistics.median(c)
            print(f"{label:<22} {mb:>15.3f} {mc:>14.3f} {mc / mb:>7.3f}")


if __name__ == "__main__":
    main()
