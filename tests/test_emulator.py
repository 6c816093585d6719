"""The MetaTrader5-shaped emulator: API shape, faithfulness, faults, and its RPyC server."""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rpyc

import booktape.emulator as mt5
from booktape.clock import ManualClock
from booktape.emulator import EmuConfig, Faults
from booktape.emulator import constants as C
from booktape.emulator.server import EmulatorServer
from booktape.errors import BadArgument
from booktape.sources.simulated import SimConfig, SimMarket

from .emu_server import emulator

LOCK = SimConfig(seed=7, lockstep=True)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def term(clock: ManualClock) -> Iterator[mt5.Terminal]:
    t = mt5.configure(EmuConfig(sim=LOCK), clock=clock)
    yield t
    mt5.configure()


def faulty(clock: ManualClock, **faults: object) -> mt5.Terminal:
    return mt5.configure(EmuConfig(sim=LOCK, faults=Faults.from_dict(faults)), clock=clock)


# -- shape ------------------------------------------------------------------------------------

def test_constants_match_metatrader5_package_values() -> None:
    from mt5linux.constants import Constants  # a copy of the MetaTrader5 package's values

    shared = [n for n in dir(C) if n.isupper() and hasattr(Constants, n)]
    assert len(shared) >= 40
    for name in shared:
        assert getattr(C, name) == getattr(Constants, name), name
    assert (mt5.BOOK_TYPE_SELL, mt5.BOOK_TYPE_BUY, mt5.BOOK_TYPE_SELL_MARKET,
            mt5.BOOK_TYPE_BUY_MARKET) == (1, 2, 3, 4)


def test_initialize_signature_path_positional_rest_keyword_only() -> None:
    params = inspect.signature(mt5.initialize).parameters
    assert list(params) == ["path", "login", "password", "server", "timeout", "portable"]
    assert params["path"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in list(params)[1:])


def test_result_types_are_tuples_with_names_and_refuse_pickling(term: mt5.Terminal) -> None:
    assert mt5.initialize()
    assert mt5.symbol_select("RIU2") and mt5.market_book_add("RIU2")
    book = mt5.market_book_get("RIU2")
    assert isinstance(book, tuple) and len(book) == 40
    lvl = book[0]
    assert isinstance(lvl, tuple) and type(lvl).__name__ == "BookInfo"
    assert (lvl.type, lvl.price, lvl.volume, lvl.volume_dbl) == tuple(lvl)
    assert lvl._asdict() == {"type": lvl[0], "price": lvl[1], "volume": lvl[2],
                             "volume_dbl": lvl[3]}
    for obj in (lvl, book, mt5.terminal_info(), mt5.symbol_info("RIU2"),
                mt5.symbol_info_tick("RIU2"), mt5.account_info()):
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps(obj)
    assert copy.copy(lvl) is lvl
    assert "BookInfo(type=1, price=" in repr(lvl)


# -- behaviour ----------------------------------------------------------------------------------

def test_calls_before_initialize_return_none_with_no_ipc(term: mt5.Terminal) -> None:
    assert mt5.symbol_info("RIU2") is None
    assert mt5.last_error() == (-10004, "No IPC connection")
    assert mt5.market_book_add("RIU2") is False


def test_book_matches_simulated_market_and_mt5_order(term: mt5.Terminal) -> None:
    ref = SimMarket(LOCK)
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    for _ in range(50):
        got = mt5.market_book_get("RIU2")
        want = ref.market_book_get("RIU2")
        assert got == want
    assert got is not None
    types = [lvl.type for lvl in got]
    assert types == sorted(types)  # sells first, then buys
    prices = [lvl.price for lvl in got]
    assert prices == sorted(prices, reverse=True)
    assert max(p for t, p, *_ in got if t == mt5.BOOK_TYPE_BUY) < min(
        p for t, p, *_ in got if t == mt5.BOOK_TYPE_SELL)


def test_book_without_subscription_is_none(term: mt5.Terminal) -> None:
    assert mt5.initialize()
    assert mt5.market_book_get("RIU2") is None
    assert mt5.last_error()[0] == mt5.RES_E_FAIL
    assert mt5.market_book_add("RIU2") and mt5.market_book_release("RIU2")
    assert mt5.market_book_get("RIU2") is None


def test_unknown_symbol_and_symbol_without_book(term: mt5.Terminal) -> None:
    assert mt5.initialize()
    assert mt5.symbol_info("NOPE") is None
    assert mt5.last_error() == (-4, "Terminal: Not found")
    assert mt5.symbol_select("NOPE") is False
    info = mt5.symbol_info("EURUSD")
    assert info.ticks_bookdepth == 0 and info.name == "EURUSD"
    assert mt5.market_book_add("EURUSD") is False
    assert mt5.symbol_info("RIU2").ticks_bookdepth == 20


def test_initialize_checks_path_and_credentials(clock: ManualClock, tmp_path: Path) -> None:
    mt5.configure(EmuConfig(password="right"), clock=clock)
    assert mt5.initialize(str(tmp_path / "terminal64.exe")) is False
    assert mt5.last_error()[0] == -10003
    exe = tmp_path / "terminal64.exe"
    exe.write_bytes(b"MZ")
    assert mt5.initialize(str(exe), login=5001234, password="wrong") is False
    assert mt5.last_error() == (-6, "Terminal: Authorization failed")
    assert mt5.initialize(str(exe), login=5001234, password="right", server="Booktape-Emulator")
    assert mt5.account_info().login == 5001234
    mt5.configure(EmuConfig(faults=Faults(auth_fail=True)), clock=clock)
    assert mt5.initialize(login=5001234, password="x") is False
    assert mt5.last_error()[0] == -6
    mt5.configure()


def test_ipc_drop_after_calls_loses_subscriptions_until_reinitialized(clock: ManualClock) -> None:
    faulty(clock, ipc_drop_after_calls=5, ipc_down_s=1.0)
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    ok = [mt5.market_book_get("RIU2") for _ in range(4)]
    assert all(b is not None for b in ok)
    assert mt5.market_book_get("RIU2") is None
    assert mt5.last_error() == (-10004, "No IPC connection")
    assert mt5.initialize() is False and mt5.last_error()[0] == -10003  # still restarting
    clock.advance(1_000_000_000)
    assert mt5.initialize()
    assert mt5.market_book_get("RIU2") is None  # the subscription went with the link
    assert mt5.market_book_add("RIU2") and mt5.market_book_get("RIU2") is not None
    mt5.configure()


def test_ipc_drop_at_time(clock: ManualClock) -> None:
    faulty(clock, ipc_drop_at_s=2.0, ipc_down_s=0.0)
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    assert mt5.market_book_get("RIU2") is not None
    clock.advance(2_000_000_000)
    assert mt5.market_book_get("RIU2") is None and mt5.last_error()[0] == -10004
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    clock.advance(10_000_000_000)
    assert mt5.market_book_get("RIU2") is not None  # one drop only
    mt5.configure()


def test_none_every_and_broker_loss_gives_stale_book(clock: ManualClock) -> None:
    faulty(clock, none_every=3)
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    got = [mt5.market_book_get("RIU2") is None for _ in range(6)]
    assert got == [False, False, True, False, False, True]
    faulty(clock, broker_drop_after_calls=2, broker_down_s=1.0)
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    mt5.market_book_get("RIU2")
    b2 = mt5.market_book_get("RIU2")
    assert mt5.terminal_info().connected is False
    stale = [mt5.market_book_get("RIU2") for _ in range(5)]
    assert all(s is b2 for s in stale)  # frozen, not absent
    clock.advance(1_000_000_000)
    assert mt5.terminal_info().connected is True
    fresh = [mt5.market_book_get("RIU2") for _ in range(5)]
    assert any(f != b2 for f in fresh)
    mt5.configure()


def test_slow_calls(clock: ManualClock) -> None:
    faulty(clock, latency_ms=20)
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    t0 = time.perf_counter()
    mt5.market_book_get("RIU2")
    assert time.perf_counter() - t0 >= 0.019
    mt5.configure()


def test_ticks_windows_are_contiguous_without_duplicates(term: mt5.Terminal,
                                                           clock: ManualClock) -> None:
    assert mt5.initialize()
    now = clock.now_ns() // 1_000_000
    a = mt5.copy_ticks_range("RIU2", (now - 60_000) // 1000, (now - 30_000) // 1000,
                             mt5.COPY_TICKS_ALL)
    whole = mt5.copy_ticks_range("RIU2", (now - 60_000) // 1000, now // 1000, mt5.COPY_TICKS_ALL)
    lo = dt.datetime.fromtimestamp((now - 60_000) // 1000, dt.UTC)
    also = mt5.copy_ticks_from("RIU2", lo, 10**6, mt5.COPY_TICKS_ALL)
    assert len(whole) > 100 and (whole == also).all()
    assert (whole[: len(a)] == a).all()
    assert (whole["time_msc"][1:] >= whole["time_msc"][:-1]).all()
    assert len(mt5.copy_ticks_from("RIU2", lo, 7, mt5.COPY_TICKS_ALL)) == 7
    tick = mt5.symbol_info_tick("RIU2")
    assert tick.time_msc == whole["time_msc"][-1] and tick.time == tick.time_msc // 1000
    assert set(whole.dtype.names) == {"time", "bid", "ask", "last", "volume", "time_msc",
                                      "flags", "volume_real"}


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.from_dict({"ipc_drop_afterr": 3})
    with pytest.raises(ValueError, match="must be >= 1"):
        Faults(none_every=0)


# -- RPyC server ----------------------------------------------------------------------------------

def test_server_binds_loopback_and_serves_emulator_as_metatrader5() -> None:
    srv = EmulatorServer("127.0.0.1", 0).start()
    try:
        assert srv._server.listener.getsockname()[0] == "127.0.0.1"
        conn = rpyc.classic.connect("127.0.0.1", srv.port)
        try:
            conn.execute("import MetaTrader5 as mt5")
            assert conn.eval("mt5.__name__") == "booktape.emulator"
            assert conn.eval("mt5.initialize()") is True
            assert tuple(conn.eval("mt5.last_error()")) == (1, "Success")
        finally:
            conn.close()
    finally:
        srv.close()


def test_server_refuses_empty_host() -> None:
    with pytest.raises(BadArgument, match="host"):
        EmulatorServer("", 0)


def test_real_mt5linux_client_connects_unchanged() -> None:
    from mt5linux import MetaTrader5

    with emulator() as port:
        m = MetaTrader5("127.0.0.1", port)
        assert m.initialize() is True
        assert m.version()[0] == 500
        assert m.symbol_select("RIU2") and m.market_book_add("RIU2")
        book = m.market_book_get("RIU2")  # mt5linux's slow path: a proxy per level
        assert len(book) == 40 and book[0].type == mt5.BOOK_TYPE_SELL
        assert m.symbol_info("RIU2").ticks_bookdepth == 20
        # The server runs in a fresh temporary working directory.
        assert "booktape-emulate-" in m.eval("__import__('os').getcwd()")
        # mt5linux 1.0.x's market_book_release forgets to quote the symbol (issue 4).
        with pytest.raises(NameError):
            m.market_book_release("RIU2")


def test_trades_happen_at_the_terminals_own_best_bid_and_ask(term: mt5.Terminal,
                                                            clock: ManualClock) -> None:
    # Issue 14: trades sat around 106 000 while the book showed 106 070 / 106 080.
    assert mt5.initialize() and mt5.market_book_add("RIU2")
    seen = 0
    for _ in range(20):
        for _ in range(50):
            mt5.market_book_get("RIU2")  # the lockstep market moves on book calls
        book = mt5.market_book_get("RIU2")
        bid = max(x.price for x in book if x.type == mt5.BOOK_TYPE_BUY)
        ask = min(x.price for x in book if x.type == mt5.BOOK_TYPE_SELL)
        now = clock.now_ns() // 1_000_000
        clock.advance(2_000_000_000)
        new = mt5.copy_ticks_range("RIU2", now // 1000 + 1, (now + 2_000) // 1000,
                                   mt5.COPY_TICKS_ALL)
        assert len(new) > 0
        buys = (new["flags"] & mt5.TICK_FLAG_BUY) != 0
        assert (new["last"][buys] == ask).all() and (new["last"][~buys] == bid).all()
        assert (new["bid"] == bid).all() and (new["ask"] == ask).all()
        tick = mt5.symbol_info_tick("RIU2")
        assert (tick.bid, tick.ask) == (bid, ask) and tick.last in (bid, ask)
        seen += len(new)
    assert seen > 100
