"""``--ticks``: server-time samples per poll and trades with no gaps or duplicates."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

import booktape
import booktape.emulator as emu
from booktape.clock import ManualClock
from booktape.emulator import EmuConfig
from booktape.errors import BadArgument
from booktape.read.side_streams import read_stream
from booktape.sources.mt5 import MT5Source
from booktape.sources.ticks import TicksRecorder

from .conftest import run_booktape
from .emu_server import EmulateCli


@pytest.fixture
def emu_ticks(tmp_path: Path):
    """The emulator on a manual clock, a TicksRecorder into tmp_path, and an MT5 source."""
    clock = ManualClock()
    emu.configure(EmuConfig(trade_rate=50.0), clock=clock)
    try:
        assert emu.initialize()
        rec = TicksRecorder(tmp_path, "zero", ("RIU2",), clock, every_s=0.0)
        src = MT5Source(module="booktape.emulator")
        src.link.connect()
        yield clock, rec, src
    finally:
        emu.configure()


def test_ticks_incremental_trades_equal_one_big_window(tmp_path: Path, emu_ticks) -> None:
    clock, rec, src = emu_ticks
    start = emu.symbol_info_tick("RIU2")
    rec.sample("RIU2", clock.now_ns(), clock.now_ns(), tuple(start), True, 1, 1)
    first_ms = start.time_msc
    rnd = random.Random(4)
    for _ in range(300):
        # Uneven steps, many inside one millisecond or one second: the edges
        # where a naive "from the last time" fetch duplicates or drops rows.
        clock.advance(rnd.choice([0, 1, 1_000_000, 3_000_000, 400_000_000]))
        from_ms = rec.trades_due("RIU2", clock.now_ns())
        assert from_ms is not None
        rec.add_trades("RIU2", src.link.ticks_range("RIU2", from_ms, from_ms + 86_400_000))
    rec.close()
    now_ms = clock.now_ns() // 1_000_000
    want = emu.copy_ticks_range("RIU2", 0, (now_ms + 1000) // 1000, emu.COPY_TICKS_ALL)
    want = want[want["time_msc"] >= first_ms]
    got = read_stream(tmp_path, "ticks", "RIU2")
    assert got.num_rows == len(want) > 1000
    assert got.column("seq").to_pylist() == list(range(len(want)))
    for col in ("time_msc", "last", "volume", "flags"):
        assert np.array_equal(got.column(col).to_numpy(), want[col]), col
    assert (np.diff(want["time_msc"]) == 0).any()  # same-ms clusters were exercised


def test_ticks_need_an_output_directory() -> None:
    with pytest.raises(BadArgument, match="ticks_out"):
        MT5Source(module="booktape.emulator", ticks=True)


def _check_tape(tape: Path, symbol: str) -> tuple[int, int]:
    """Every stored book state has a server-time sample inside its poll; returns trade span."""
    books = booktape.read(tape, symbol=symbol)
    states = books.groupby("seq")[["t_before_ns", "t_after_ns"]].first()
    st = read_stream(tape, "server_time", symbol).to_pandas()
    assert len(st) >= len(states) > 10
    assert st["seq"].tolist() == list(range(len(st)))
    t = np.sort(st["t_before_ns"].to_numpy())
    i = np.searchsorted(t, states["t_before_ns"].to_numpy(), side="left")
    assert (i < len(t)).all()
    assert (t[i] <= states["t_after_ns"].to_numpy()).all()  # a sample inside every poll
    assert (st["book_call_ns"] > 0).all() and (st["tick_call_ns"] > 0).all()
    assert (np.diff(st["time_msc"].to_numpy()) >= 0).all()
    tr = read_stream(tape, "ticks", symbol)
    assert tr.column("seq").to_pylist() == list(range(tr.num_rows)) and tr.num_rows > 0
    ms = tr.column("time_msc").to_numpy()
    return int(ms[0]), int(ms[-1])


def test_cli_record_mt5_ticks(tape: Path) -> None:
    env = {"BOOKTAPE_EMULATOR": json.dumps({"faults": {"ipc_drop_after_calls": 3000,
                                                       "ipc_down_s": 0.05}})}
    p = run_booktape("record", "--source", "mt5", "--mt5-module", "booktape.emulator",
                     "--symbol", "RIU2", "--duration", "2.5s", "--ticks", "--out", str(tape),
                     "--json", env=env)
    assert p.returncode == 0, p.stderr
    from booktape.events import read_events

    assert [e["kind"] for e in read_events(tape)].count("reconnect") == 1
    _check_tape(tape, "RIU2")
    assert not list(tape.glob("_ticks/**/_part-*.arrows"))  # everything sealed


def test_cli_record_mt5linux_ticks_match_the_terminal(tape: Path) -> None:
    server = EmulateCli()
    try:
        p = run_booktape("record", "--source", "mt5linux", "--mt5-port", str(server.port),
                         "--symbol", "RIU2", "--duration", "2.5s", "--ticks",
                         "--out", str(tape), "--json")
        assert p.returncode == 0, p.stderr
        lo, hi = _check_tape(tape, "RIU2")
        from mt5linux import MetaTrader5

        m = MetaTrader5("127.0.0.1", server.port)
        m.initialize()
        arr = m.eval(f"mt5.copy_ticks_range('RIU2', {lo // 1000}, {hi // 1000 + 1}, -1).tobytes()")
        from booktape.emulator.types import TICK_DTYPE

        want = np.frombuffer(arr, dtype=np.dtype(TICK_DTYPE))
        want = want[(want["time_msc"] >= lo) & (want["time_msc"] <= hi)]
        got = read_stream(tape, "ticks", "RIU2")
        # The first millisecond may have begun before recording; compare from the next one.
        first = lo + 1
        g = got.column("time_msc").to_numpy()
        assert np.array_equal(g[g >= first], want["time_msc"][want["time_msc"] >= first])
        assert np.array_equal(got.column("last").to_numpy()[g >= first],
                              want["last"][want["time_msc"] >= first])
    finally:
        server.stop()


@pytest.mark.wine_slow("skips on Windows (its skipif says why): marked, it runs at the lowest "
                       "versions on Linux with the other wine_slow tests")
@pytest.mark.skipif(sys.platform == "win32", reason=(
    "the crash is simulated in this process, which keeps the journals open, and Windows "
    "deletes no open file; test_crash.py kills real recorders on Windows"))
def test_recover_seals_the_side_stream_journals_a_crash_left(tmp_path: Path, emu_ticks) -> None:
    # A --ticks recorder killed after an fsync: `booktape recover` seals its
    # trades and server-time journals too, not only the books'.
    clock, rec, src = emu_ticks
    stored = samples = 0
    for _ in range(50):
        clock.advance(50_000_000)
        tick = emu.symbol_info_tick("RIU2")
        rec.sample("RIU2", clock.now_ns(), clock.now_ns(), tuple(tick), True, 1, 1)
        samples += 1
        from_ms = rec.trades_due("RIU2", clock.now_ns())
        if from_ms is not None:
            stored += rec.add_trades("RIU2", src.link.ticks_range("RIU2", from_ms,
                                                                  from_ms + 86_400_000))
    rec.maintain(force=True)
    rec.store.sync()  # durable; then the process "dies" without closing
    journals = sorted(tmp_path.glob("_*/symbol=RIU2/date=*/collector=zero/_part-*.arrows"))
    assert {j.parts[len(tmp_path.parts)] for j in journals} == {"_ticks", "_server_time"}
    assert read_stream(tmp_path, "ticks").num_rows == 0
    p = run_booktape("recover", str(tmp_path), check=True)
    assert all(str(j) in p.stdout for j in journals)
    assert read_stream(tmp_path, "ticks", "RIU2").num_rows == stored > 0
    assert read_stream(tmp_path, "server_time", "RIU2").num_rows == samples
    assert not list(tmp_path.glob("_*/**/_part-*.arrows"))
