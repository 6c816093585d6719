"""Per-poll cost of the MetaTrader 5 sources against the simulated market, in one run.

    .venv/bin/python benchmarks/bench_mt5_sources.py [--polls 20000] [--slow-polls 100]

Rows:
  sim        the simulated market called directly (SimSource), the baseline
  mt5        --source mt5 with the emulator as the MetaTrader5 module (in-process)
  mt5linux   --source mt5linux over loopback RPyC to `booktape emulate` in another
             process: one round trip per poll (counted, not assumed)
  --ticks    the same with server time per poll (symbol_info_tick, folded into the
             same round trip on the bridge) and trades fetched once a second
  mt5linux-naive  the mt5linux client's own market_book_get (a proxy per level),
             what booktape avoids; measured over fewer polls because it is slow

All use the same market (20 levels a side, lockstep so every poll does the same
work whatever the speed). Not run by pytest.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from booktape.events import MemoryEvents  # noqa: E402  (after the sys.path line)
from booktape.sources import SourceSpec, make_source  # noqa: E402

SIM = {"seed": 1, "lockstep": True}


def time_polls(get: Callable[[], Any], n: int) -> float:
    """Seconds per poll over ``n`` polls (after a short warm-up)."""
    for _ in range(min(200, n)):
        get()
    t0 = time.perf_counter()
    for _ in range(n):
        if get() is None:
            raise RuntimeError("source returned no book")
    return (time.perf_counter() - t0) / n


def start_server() -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    p = subprocess.Popen([sys.executable, "-m", "booktape.emulator.server", "--port", "0",
                          "--sim", '{"seed": 1, "lockstep": true}'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert p.stdout is not None
    line = p.stdout.readline()
    return p, int(line.split()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--polls", type=int, default=20000)
    ap.add_argument("--slow-polls", type=int, default=100)
    a = ap.parse_args()
    rows: list[tuple[str, float, str]] = []

    sim = make_source(SourceSpec("sim", dict(SIM)))
    sim.open(("RIU2",))
    rows.append(("sim", time_polls(sim.getter("RIU2"), a.polls), ""))

    import booktape.emulator as emu

    emu.configure(emu.EmuConfig(sim=emu.SimConfig(**SIM)))  # type: ignore[attr-defined]
    mt5 = make_source(SourceSpec("mt5", {"module": "booktape.emulator"}))
    mt5.bind(MemoryEvents(), lambda: False)
    mt5.open(("RIU2",))
    rows.append(("mt5 (in-process emulator)", time_polls(mt5.getter("RIU2"), a.polls), ""))
    mt5.close()
    with tempfile.TemporaryDirectory() as tmp:
        mt5t = make_source(SourceSpec("mt5", {"module": "booktape.emulator", "ticks": True,
                                              "ticks_out": tmp}))
        mt5t.bind(MemoryEvents(), lambda: False)
        mt5t.open(("RIU2",))
        rows.append(("mt5 --ticks", time_polls(mt5t.getter("RIU2"), a.polls), ""))
        mt5t.close()

    proc, port = start_server()
    try:
        lx = make_source(SourceSpec("mt5linux", {"port": port}))
        lx.bind(MemoryEvents(), lambda: False)
        lx.open(("RIU2",))
        g = lx.getter("RIU2")
        link: Any = lx.link  # type: ignore[attr-defined]
        r0 = link.requests()
        per = time_polls(g, a.polls)
        trips = (link.requests() - r0) / (a.polls + min(200, a.polls))
        rows.append(("mt5linux (loopback RPyC)", per, f"{trips:.3f}"))
        lx.close()
        with tempfile.TemporaryDirectory() as tmp:
            lxt = make_source(SourceSpec("mt5linux", {"port": port, "ticks": True,
                                                      "ticks_out": tmp}))
            lxt.bind(MemoryEvents(), lambda: False)
            lxt.open(("RIU2",))
            link = lxt.link  # type: ignore[attr-defined]
            r0 = link.requests()
            per = time_polls(lxt.getter("RIU2"), a.polls)
            trips = (link.requests() - r0) / (a.polls + min(200, a.polls))
            rows.append(("mt5linux --ticks", per, f"{trips:.3f}"))
            lxt.close()

        from mt5linux import MetaTrader5

        m = MetaTrader5("127.0.0.1", port)
        m.initialize()
        m.market_book_add("RIU2")
        conn = m._MetaTrader5__conn  # type: ignore[attr-defined]

        def naive() -> Any:
            return [tuple(x) for x in m.market_book_get("RIU2")]

        c0 = int(repr(conn._seqcounter).strip("count()"))
        per_naive = time_polls(naive, a.slow_polls)
        c1 = int(repr(conn._seqcounter).strip("count()"))
        trips_naive = (c1 - c0) / (a.slow_polls + min(200, a.slow_polls))
        rows.append(("mt5linux-naive (client's own call)", per_naive, f"{trips_naive:.1f}"))
    finally:
        proc.terminate()
        proc.wait()

    base = rows[0][1]
    print(f"# {platform.python_implementation()} {platform.python_version()} on "
          f"{platform.system()} {platform.machine()}, {a.polls} polls "
          f"({a.slow_polls} for the naive row), 40-level books")
    print(f"{'source':38} {'polls/s':>10} {'us/poll':>9} {'overhead us':>12} "
          f"{'x sim':>8} {'round trips/poll':>17}")
    for name, per, trips in rows:
        print(f"{name:38} {1 / per:>10,.0f} {per * 1e6:>9.1f} {(per - base) * 1e6:>12.1f} "
              f"{per / base:>8.1f} {trips:>17}")


if __name__ == "__main__":
    main()
