"""``--source mt5`` with the emulator injected as the MetaTrader5 module."""

from __future__ import annotations

import importlib.util
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import booktape.emulator as emu
from booktape.emulator import EmuConfig, Faults
from booktape.errors import BadArgument, SourceUnavailable
from booktape.events import MemoryEvents
from booktape.sources import SourceSpec, make_source
from booktape.sources import _mt5_errors as errs
from booktape.sources._backoff import Backoff
from booktape.sources.mt5 import MT5Source
from booktape.sources.simulated import SimConfig, SimMarket

LOCK = SimConfig(seed=3, lockstep=True)
SECRET = "pa55-w0rd-XYZ"
FAST = {"backoff_initial_s": 0.005, "backoff_max_s": 0.02}


@pytest.fixture(autouse=True)
def fresh_terminal() -> Iterator[None]:
    emu.configure(EmuConfig(sim=LOCK))
    yield
    emu.configure()


def opened(*symbols: str, **opts: object) -> tuple[MT5Source, MemoryEvents]:
    src = make_source(SourceSpec("mt5", {"module": "booktape.emulator", **FAST, **opts}))
    assert isinstance(src, MT5Source)
    ev = MemoryEvents()
    src.bind(ev, lambda: False)
    src.open(symbols or ("RIU2",))
    return src, ev


def kinds(ev: MemoryEvents) -> list[str]:
    return [e.kind for e in ev.events]


def test_mt5_open_and_poll_returns_emulator_books() -> None:
    src, ev = opened("RIU2", "SiU2")
    ref = SimMarket(LOCK)
    g1, g2 = src.getter("RIU2"), src.getter("SiU2")
    for _ in range(20):
        assert g1() == ref.market_book_get("RIU2")
        assert g2() == ref.market_book_get("SiU2")
    info = src.symbol_info("RIU2")
    assert info["ticks_bookdepth"] == 20 and info["trade_tick_size"] == 10.0
    assert info["digits"] == 0 and info["source"] == "mt5"
    src.close()
    assert emu.terminal.stats["market_book_release"] == 2
    assert emu.last_error()[0] == 1 and emu.symbol_info("RIU2") is None  # shut down
    assert ev.events == []


@pytest.mark.parametrize("symbol, expected", [
    ("NOPE", "unknown symbol 'NOPE'"),
    ("EURUSD", "symbol 'EURUSD' has no market depth (ticks_bookdepth 0)"),
])
def test_mt5_open_bad_symbol_raises_one_line_cause(symbol: str, expected: str) -> None:
    with pytest.raises(SourceUnavailable) as e:
        opened("RIU2", symbol)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_mt5_no_terminal_at_path(tmp_path: Path) -> None:
    exe = tmp_path / "terminal64.exe"
    with pytest.raises(SourceUnavailable, match="no MetaTrader 5 terminal at .*terminal64.exe"):
        opened(path=str(exe))
    exe.write_bytes(b"MZ")
    opened(path=str(exe))[0].close()


def test_mt5_missing_package_names_the_fix() -> None:
    if importlib.util.find_spec("MetaTrader5") is not None:
        pytest.skip("the MetaTrader5 package is installed here (the Windows lane installs it)")
    src = MT5Source(module="MetaTrader5")  # not installable on Linux
    with pytest.raises(SourceUnavailable, match="exists only for Windows.*mt5linux"):
        src.open(("RIU2",))


def test_mt5_password_from_env_reaches_terminal_and_nowhere_else(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    emu.configure(EmuConfig(sim=LOCK, password=SECRET,
                            faults=Faults(ipc_drop_after_calls=5, ipc_down_s=0.0)))
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("BOOKTAPE_MT5_PASSWORD", "wrong")
    with pytest.raises(SourceUnavailable) as e:
        opened(login=5001234, server="Booktape-Emulator")
    assert "refused" in str(e.value) and "BOOKTAPE_MT5_PASSWORD" in str(e.value)
    assert "wrong" not in str(e.value)
    monkeypatch.setenv("BOOKTAPE_MT5_PASSWORD", SECRET)
    src, ev = opened(login=5001234, server="Booktape-Emulator")
    g = src.getter("RIU2")
    for _ in range(40):  # through an IPC drop: the reconnect logs in again
        g()
    assert "reconnect" in kinds(ev)
    assert SECRET not in repr(src) and SECRET not in str(vars(src))
    assert SECRET not in repr(ev.events) and SECRET not in caplog.text
    src.close()


def test_mt5_password_from_config_file_env_wins(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    emu.configure(EmuConfig(sim=LOCK, password=SECRET))
    cfg = tmp_path / "mt5.toml"
    cfg.write_text(f'[mt5]\nlogin = 5001234\npassword = "{SECRET}"\n')
    monkeypatch.delenv("BOOKTAPE_MT5_PASSWORD", raising=False)
    src, _ = opened(config_file=str(cfg))
    assert SECRET not in str(vars(src)) and SECRET not in repr(src)
    src.close()
    monkeypatch.setenv("BOOKTAPE_MT5_PASSWORD", "env-wins")
    with pytest.raises(SourceUnavailable, match="refused"):
        opened(config_file=str(cfg))
    cfg.write_text('[mt5]\nlogn = 1\n')
    with pytest.raises(BadArgument, match="unknown key"):
        opened(config_file=str(cfg))


def test_mt5_ipc_drop_reconnects_and_resubscribes() -> None:
    emu.configure(EmuConfig(sim=LOCK, faults=Faults(ipc_drop_after_calls=30, ipc_down_s=0.05)))
    src, ev = opened("RIU2", "SiU2")
    g1, g2 = src.getter("RIU2"), src.getter("SiU2")
    results = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2 and kinds(ev).count("reconnect") == 0:
        results.append(g1())
        results.append(g2())
    after = [g1() for _ in range(5)]
    assert kinds(ev) == ["disconnect", "reconnect"]
    d, r = ev.events
    assert "no IPC connection" in d.detail["cause"] and d.symbol in ("RIU2", "SiU2")
    assert r.duration_ns >= 50_000_000 and r.count >= 1 and r.detail["link"] == "terminal"
    assert None in results and all(b is not None for b in after)
    assert emu.terminal.stats["initialize"] >= 2
    assert emu.terminal.stats["market_book_add"] >= 4  # both symbols, twice
    src.close()


def test_mt5_gives_up_after_limit() -> None:
    emu.configure(EmuConfig(sim=LOCK, faults=Faults(ipc_drop_after_calls=3, ipc_down_s=60)))
    src, ev = opened(give_up_after_s=0.1)
    g = src.getter("RIU2")
    with pytest.raises(SourceUnavailable, match="still unreachable after"):
        for _ in range(200):
            g()
    assert kinds(ev) == ["disconnect"]


def test_mt5_stop_during_outage_returns_promptly() -> None:
    emu.configure(EmuConfig(sim=LOCK, faults=Faults(ipc_drop_after_calls=3, ipc_down_s=60)))
    src = MT5Source(module="booktape.emulator", backoff_initial_s=5, backoff_max_s=5)
    stop = [False]
    src.bind(MemoryEvents(), lambda: stop[0])
    src.open(("RIU2",))
    g = src.getter("RIU2")
    while g() is not None:
        pass
    stop[0] = True
    t0 = time.monotonic()
    assert g() is None
    assert time.monotonic() - t0 < 0.5


def test_mt5_broker_loss_is_not_connected_with_stale_books() -> None:
    emu.configure(EmuConfig(sim=LOCK, faults=Faults(broker_drop_after_calls=5,
                                                    broker_down_s=0.15)))
    src, ev = opened(probe_every_s=0.01)
    g = src.getter("RIU2")
    got = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.5:
        got.append(g())
        time.sleep(0.002)
    assert all(b is not None for b in got)  # stale, not absent
    assert kinds(ev) == ["not_connected", "reconnect"]
    assert ev.events[1].detail["link"] == "broker" and ev.events[1].duration_ns > 100_000_000


def test_mt5_none_results_are_reported_as_one_event_per_streak() -> None:
    emu.configure(EmuConfig(sim=LOCK, faults=Faults(none_every=4)))
    src, ev = opened()
    g = src.getter("RIU2")
    out = [g() for _ in range(12)]
    assert [b is None for b in out].count(True) == 3
    assert kinds(ev) == ["none_result", "none_result"]  # the third streak is still open
    src.close()
    assert kinds(ev) == ["none_result"] * 3
    assert ev.events[0].count == 1 and "generic failure (-1" in ev.events[0].detail["error"]


def test_error_mapping_and_backoff() -> None:
    assert errs.describe((-6, "Terminal: Authorization failed")).startswith("authorization failed")
    assert errs.describe((-10005, "IPC timeout")) == "IPC timeout (-10005: IPC timeout)"
    assert all(errs.is_link_loss((c, "")) for c in range(-10005, -9999))
    assert not errs.is_link_loss((-1, "")) and not errs.is_link_loss((1, "ok"))
    for code in (1, -1, -2, -3, -4, -5, -6, -7, -8):
        assert code in errs.MEANINGS
    b = Backoff(0.1, 1.0, jitter=0.5, rng=random.Random(1))
    delays = [b.next() for _ in range(10)]
    assert all(0 < d <= 1.0 for d in delays)
    assert delays[0] <= 0.1 and max(delays[5:]) > 0.5  # grows, then stays capped
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_mt5_resubscribe_leaves_a_quiet_feed_alone_and_restarts_a_stuck_book() -> None:
    """Issue 12's watchdog: re-subscribe only if ticks moved while the book did not."""
    from booktape.clock import ManualClock

    clock = ManualClock(1_800_000_000_000_000_000)
    emu.configure(EmuConfig(sim=LOCK), clock=clock)
    src, ev = opened("RIU2")
    released = emu.terminal.stats.get("market_book_release", 0)
    added = emu.terminal.stats.get("market_book_add", 0)
    assert src.resubscribe("RIU2") is False  # first request: the baseline tick only
    assert src.resubscribe("RIU2") is False  # no tick since: a quiet market, left alone
    assert emu.terminal.stats.get("market_book_release", 0) == released
    clock.advance(600_000_000_000)  # ten minutes of trades, the book "unchanged"
    assert src.resubscribe("RIU2") is True
    assert emu.terminal.stats["market_book_release"] == released + 1
    assert emu.terminal.stats["market_book_add"] == added + 1
    assert [e.detail.get("phase") for e in ev.events if e.kind == "stale"] == ["resubscribed"]
    assert src.getter("RIU2")() is not None  # still subscribed: books keep coming
    src.close()


def test_mt5_config_with_a_windows_path_in_double_quotes_names_the_fix(tmp_path: Path) -> None:
    from booktape.sources._credentials import load_config

    cfg = tmp_path / "mt5.toml"
    cfg.write_text(f'[mt5]\nlogin = 5001234\npassword = "{SECRET}"\n'
                   'path = "C:\\Program Files\\MetaTrader 5\\terminal64.exe"\n', encoding="utf-8")
    with pytest.raises(BadArgument, match="not valid TOML.*'single quotes'") as e:
        load_config(cfg)
    assert SECRET not in str(e.value) and "\n" not in str(e.value)
    cfg.write_text(f"[mt5]\nlogin = 5001234\npassword = '{SECRET}'\n"
                   "path = 'C:\\Program Files\\MetaTrader 5\\terminal64.exe'\n", encoding="utf-8")
    assert load_config(cfg)["path"] == "C:\\Program Files\\MetaTrader 5\\terminal64.exe"
