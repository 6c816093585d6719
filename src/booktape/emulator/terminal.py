"""The emulated terminal: MT5's Python API as methods, with injected faults.

``booktape.emulator`` exposes one :class:`Terminal`'s methods as module
functions, the shape of the ``MetaTrader5`` package. Failures look like the
real ones: ``None`` (or ``False``) plus a code in ``last_error()``, never an
exception, except for wrong argument types.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import os
import threading
import time
from typing import Any

from ..clock import Clock, SystemClock
from ..sources.simulated import SimMarket
from . import constants as c
from .config import EmuConfig
from .ticks import TradeTape
from .types import AccountInfo, BookInfo, SymbolInfo, TerminalInfo, Tick, make

VERSION = (500, 4410, "08 Jun 2024")
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _to_ms(when: Any) -> int:
    """MT5 takes a datetime (naive means UTC) or integer seconds since the epoch."""
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            return calendar.timegm(when.timetuple()) * 1000 + when.microsecond // 1000
        return (when - _EPOCH) // _dt.timedelta(milliseconds=1)
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return int(when) * 1000
    raise TypeError(f"expected datetime or int seconds, got {type(when).__name__}")


class Terminal:
    """State of one emulated terminal; thread-safe (an RPyC server serves threads)."""

    def __init__(self, config: EmuConfig | None = None, clock: Clock | None = None) -> None:
        self._lock = threading.RLock()
        self.configure(config or EmuConfig(), clock)

    # -- set-up (not part of the MT5 API) ----------------------------------
    def configure(self, config: EmuConfig, clock: Clock | None = None) -> None:
        """Replace the world and the faults; drops every connection and subscription."""
        with self._lock:
            self.config = config
            self.faults = config.faults
            self.clock: Clock = clock or SystemClock()
            self.market = SimMarket(config.sim)
            self._tapes: dict[str, TradeTape] = {}
            self._err: tuple[int, str] = (c.RES_S_OK, c.MESSAGES[c.RES_S_OK])
            self._ipc = False
            self._down_until_ns = 0
            self._first_init_ns: int | None = None
            self._drops_done = 0
            self._calls = 0  # every IPC call since start (slow_every)
            self._calls_since_connect = 0
            self._book_calls = 0
            self._broker_down_until_ns: int | None = None
            self._broker_dropped = False
            self._selected: set[str] = set()
            self._subscribed: set[str] = set()
            self._frozen: dict[str, tuple[Any, ...]] = {}
            self._cache: dict[str, tuple[Any, tuple[Any, ...]]] = {}
            #: Counters tests and the benchmark read: calls per API function.
            self.stats: dict[str, int] = {}

    # -- internals -----------------------------------------------------------
    def _set(self, code: int) -> None:
        self._err = (code, c.MESSAGES[code])

    def _now_ms(self) -> int:
        """Server time in ms: UTC plus the broker's offset."""
        return self.clock.now_ns() // 1_000_000 + self.config.server_offset_s * 1000

    def _slow(self) -> None:
        f = self.faults
        delay = f.latency_ms
        if f.slow_every and (self._calls + 1) % f.slow_every == 0:  # the call about to count
            delay += f.slow_ms
        if delay > 0:
            time.sleep(delay / 1000)

    def _enter(self, name: str) -> bool:
        """Account for one IPC call; False (and ``last_error`` set) if the link is down."""
        self._calls += 1
        self.stats[name] = self.stats.get(name, 0) + 1
        if not self._ipc:
            self._set(c.RES_E_INTERNAL_FAIL_CONNECT)
            return False
        self._calls_since_connect += 1
        f = self.faults
        now = self.clock.now_ns()
        due = False
        if self._drops_done < f.ipc_drops:
            if f.ipc_drop_after_calls and self._calls_since_connect > f.ipc_drop_after_calls:
                due = True
            if (f.ipc_drop_at_s is not None and self._first_init_ns is not None
                    and self._drops_done == 0
                    and now - self._first_init_ns >= f.ipc_drop_at_s * 1e9):
                due = True
        if due:
            self.drop_ipc()
            self._set(c.RES_E_INTERNAL_FAIL_CONNECT)
            return False
        return True

    def drop_ipc(self) -> None:
        """The link to the terminal breaks now (also callable from tests)."""
        with self._lock:
            self._drops_done += 1
            self._ipc = False
            self._down_until_ns = self.clock.now_ns() + int(self.faults.ipc_down_s * 1e9)
            # The terminal forgets the subscriptions of a client it lost.
            self._subscribed.clear()
            self._selected.clear()

    def _known(self, symbol: Any) -> bool:
        cfg = self.config
        return isinstance(symbol, str) and (symbol in cfg.symbols or symbol in cfg.bookless)

    def _broker_connected(self) -> bool:
        f = self.faults
        if (f.broker_drop_after_calls and not self._broker_dropped
                and self._book_calls >= f.broker_drop_after_calls):
            self._broker_dropped = True
            self._broker_down_until_ns = self.clock.now_ns() + int(f.broker_down_s * 1e9)
        if self._broker_down_until_ns is not None:
            if self.clock.now_ns() < self._broker_down_until_ns:
                return False
            self._broker_down_until_ns = None
            self._frozen.clear()
        return True

    def _tape(self, symbol: str) -> TradeTape:
        t = self._tapes.get(symbol)
        if t is None:
            sim = self.config.sim
            t = self._tapes[symbol] = TradeTape(
                sim.seed, symbol, self._now_ms(), self.config.trade_rate, sim.mid, sim.tick,
                quote=lambda: self._quote(symbol))
        return t

    def _quote(self, symbol: str) -> tuple[float, float] | None:
        """The book's best bid and ask now (None for a symbol without a book)."""
        book = self.market.books.get(symbol)
        if book is None or not book.best_bid or not book.best_ask:
            return None
        tick = self.config.sim.tick
        return book.best_bid * tick, book.best_ask * tick

    # -- connection ------------------------------------------------------------
    def initialize(self, path: str | None = None, *, login: int | None = None,
                   password: str | None = None, server: str | None = None,
                   timeout: int | None = None, portable: bool = False) -> bool:
        with self._lock:
            self._calls += 1
            self.stats["initialize"] = self.stats.get("initialize", 0) + 1
            if path is not None and not os.path.isfile(path):
                self._set(c.RES_E_INTERNAL_FAIL_INIT)
                return False
            now = self.clock.now_ns()
            if now < self._down_until_ns:
                self._set(c.RES_E_INTERNAL_FAIL_INIT)
                return False
            if login is not None and not self._auth(login, password, server):
                self._set(c.RES_E_AUTH_FAILED)
                return False
            self._ipc = True
            self._calls_since_connect = 0
            if self._first_init_ns is None:
                self._first_init_ns = now
            self._set(c.RES_S_OK)
            return True

    def _auth(self, login: Any, password: Any, server: Any) -> bool:
        cfg = self.config
        if self.faults.auth_fail or login != cfg.login:
            return False
        if server is not None and server != cfg.server:
            return False
        return cfg.password is None or password == cfg.password

    def login(self, login: int, *, password: str | None = None, server: str | None = None,
              timeout: int | None = None) -> bool:
        with self._lock:
            if not self._enter("login"):
                return False
            if not self._auth(login, password, server):
                self._set(c.RES_E_AUTH_FAILED)
                return False
            self._set(c.RES_S_OK)
            return True

    def shutdown(self) -> None:
        with self._lock:
            self._ipc = False
            self._subscribed.clear()
            self._selected.clear()
            self._set(c.RES_S_OK)

    def last_error(self) -> tuple[int, str]:
        return self._err

    def version(self) -> tuple[int, int, str] | None:
        with self._lock:
            if not self._enter("version"):
                return None
            return VERSION

    def terminal_info(self) -> Any:
        self._slow()
        with self._lock:
            if not self._enter("terminal_info"):
                return None
            return make(TerminalInfo, connected=self._broker_connected(), dlls_allowed=False,
                        trade_allowed=False, build=VERSION[1], maxbars=100000, codepage=0,
                        ping_last=1200, company="booktape", name="MetaTrader 5 (emulated)",
                        language="English", path="C:\\Program Files\\MetaTrader 5",
                        data_path="C:\\Program Files\\MetaTrader 5",
                        commondata_path="C:\\Users\\user\\AppData\\Roaming\\MetaQuotes")

    def account_info(self) -> Any:
        with self._lock:
            if not self._enter("account_info"):
                return None
            cfg = self.config
            return make(AccountInfo, login=cfg.login, trade_mode=c.ACCOUNT_TRADE_MODE_DEMO,
                        leverage=1, margin_mode=c.ACCOUNT_MARGIN_MODE_EXCHANGE,
                        currency_digits=2, balance=100000.0, equity=100000.0,
                        margin_free=100000.0, name="Emulated", server=cfg.server,
                        currency="RUB", company="booktape")

    # -- symbols -------------------------------------------------------------------
    def symbols_total(self) -> int | None:
        with self._lock:
            if not self._enter("symbols_total"):
                return None
            return len(self.config.symbols) + len(self.config.bookless)

    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        self._slow()
        with self._lock:
            if not self._enter("symbol_select"):
                return False
            if not self._known(symbol):
                self._set(c.RES_E_NOT_FOUND)
                return False
            if enable:
                self._selected.add(symbol)
            else:
                self._selected.discard(symbol)
            self._set(c.RES_S_OK)
            return True

    def symbol_info(self, symbol: str) -> Any:
        self._slow()
        with self._lock:
            if not self._enter("symbol_info"):
                return None
            if not self._known(symbol):
                self._set(c.RES_E_NOT_FOUND)
                return None
            sim = self.config.sim
            has_book = symbol in self.config.symbols
            self._set(c.RES_S_OK)
            return make(
                SymbolInfo, select=symbol in self._selected, visible=symbol in self._selected,
                digits=0, spread=1, ticks_bookdepth=sim.levels if has_book else 0,
                trade_calc_mode=c.SYMBOL_CALC_MODE_EXCH_FUTURES if has_book
                else c.SYMBOL_CALC_MODE_FOREX,
                trade_mode=c.SYMBOL_TRADE_MODE_FULL,
                trade_exemode=c.SYMBOL_TRADE_EXECUTION_EXCHANGE,
                chart_mode=c.SYMBOL_CHART_MODE_LAST, point=1.0 if has_book else 0.00001,
                trade_tick_size=sim.tick if has_book else 0.00001,
                trade_tick_value=sim.tick, trade_contract_size=1.0, volume_min=1.0,
                volume_max=10000.0, volume_step=1.0, currency_base="RUB",
                currency_profit="RUB", currency_margin="RUB", exchange="MOEX",
                description=f"{symbol} (emulated)", name=symbol,
                path=f"FORTS\\{symbol}")

    def symbol_info_tick(self, symbol: str) -> Any:
        self._slow()
        with self._lock:
            if not self._enter("symbol_info_tick"):
                return None
            if not self._known(symbol):
                self._set(c.RES_E_NOT_FOUND)
                return None
            now = self._now_ms()
            last = self._tape(symbol).last(now)
            book = self.market.books.get(symbol)
            bid = book.best_bid * self.config.sim.tick if book else 0.0
            ask = book.best_ask * self.config.sim.tick if book else 0.0
            t_msc, price, vol = last if last else (now, 0.0, 0)
            self._set(c.RES_S_OK)
            return Tick(t_msc // 1000, bid, ask, price, vol, t_msc,
                        c.TICK_FLAG_LAST | c.TICK_FLAG_VOLUME, float(vol))

    # -- market depth ------------------------------------------------------------------
    def market_book_add(self, symbol: str) -> bool:
        self._slow()
        with self._lock:
            if not self._enter("market_book_add"):
                return False
            if not self._known(symbol) or symbol not in self.config.symbols:
                self._set(c.RES_E_FAIL)
                return False
            self._subscribed.add(symbol)
            self._set(c.RES_S_OK)
            return True

    def market_book_release(self, symbol: str) -> bool:
        with self._lock:
            if not self._enter("market_book_release"):
                return False
            if symbol not in self._subscribed:
                self._set(c.RES_E_FAIL)
                return False
            self._subscribed.discard(symbol)
            self._set(c.RES_S_OK)
            return True

    def market_book_get(self, symbol: str) -> tuple[Any, ...] | None:
        self._slow()
        with self._lock:
            if not self._enter("market_book_get"):
                return None
            self._book_calls += 1
            f = self.faults
            if f.none_every and self._book_calls % f.none_every == 0:
                self._set(c.RES_E_FAIL)
                return None
            if symbol not in self._subscribed:
                # Without market_book_add a terminal has no depth to give.
                self._set(c.RES_E_FAIL)
                return None
            if not self._broker_connected():
                frozen = self._frozen.get(symbol)
                if frozen is not None:
                    return frozen
            raw = self.market.market_book_get(symbol)
            hit = self._cache.get(symbol)
            if hit is not None and hit[0] is raw:
                out = hit[1]
            else:
                out = tuple(BookInfo(*lvl) for lvl in raw)
                self._cache[symbol] = (raw, out)
            self._frozen[symbol] = out
            self._set(c.RES_S_OK)
            return out

    # -- ticks -------------------------------------------------------------------------
    def copy_ticks_from(self, symbol: str, date_from: Any, count: int, flags: int) -> Any:
        self._slow()
        with self._lock:
            if not self._enter("copy_ticks_from"):
                return None
            if not self._known(symbol):
                self._set(c.RES_E_NOT_FOUND)
                return None
            self._set(c.RES_S_OK)
            if flags == c.COPY_TICKS_INFO:
                return self._tape(symbol).from_(_to_ms(date_from), 0, self._now_ms())
            return self._tape(symbol).from_(_to_ms(date_from), int(count), self._now_ms())

    def copy_ticks_range(self, symbol: str, date_from: Any, date_to: Any, flags: int) -> Any:
        self._slow()
        with self._lock:
            if not self._enter("copy_ticks_range"):
                return None
            if not self._known(symbol):
                self._set(c.RES_E_NOT_FOUND)
                return None
            lo, hi = _to_ms(date_from), _to_ms(date_to)
            if flags == c.COPY_TICKS_INFO:
                hi = lo - 1
            self._set(c.RES_S_OK)
            return self._tape(symbol).window(lo, hi, self._now_ms())
