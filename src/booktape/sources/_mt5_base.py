"""What ``mt5`` and ``mt5linux`` share: opening, error mapping, reconnects.

The two differ only in their :class:`Link` (an imported module, or an RPyC
bridge); everything a user sees (which errors are fatal, which events are
recorded, how a lost terminal is found again) lives here once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..clock import Clock, SystemClock
from ..errors import BadArgument, SourceUnavailable
from ..events import Event, EventSink
from ..model import Book
from . import _mt5_errors as errs
from ._backoff import Backoff
from ._credentials import PASSWORD_ENV, load_config, resolve_password
from .ticks import TicksRecorder

log = logging.getLogger(__name__)

#: (book or None, last_error when None, terminal connected to its broker if probed)
Fetch = tuple[Book | None, tuple[int, str] | None, bool | None]
#: Fetch plus (tick tuple or None, market_book_get ns, symbol_info_tick ns)
FetchTick = tuple[Book | None, tuple[int, str] | None, bool | None, Any, int, int]


class LinkLost(Exception):
    """The transport to the terminal broke (internal: triggers a reconnect)."""


class Link(Protocol):
    """How a source reaches the MetaTrader5 API (module in-process, or a bridge)."""

    where: str
    link_errors: tuple[type[BaseException], ...]

    def connect(self) -> None: ...
    def call(self, fn: str, *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, str]]:
        """Call an API function; return its result (records as dicts) and ``last_error()``."""
    def book(self, symbol: str, probe: bool) -> Fetch: ...
    def book_tick(self, symbol: str, probe: bool) -> FetchTick:
        """The book, then ``symbol_info_tick``, and how long each call took (ns)."""
    def ticks_range(self, symbol: str, from_ms: int, to_ms: int) -> Any:
        """``copy_ticks_range(..., COPY_TICKS_ALL)`` as a numpy structured array, or None."""
    def close(self) -> None: ...


class _LogEvents:
    """Where events go before :meth:`bind`: the log, so nothing is silent."""

    def emit(self, event: Event) -> None:
        log.warning("%s %s %s", event.kind, event.symbol or "", event.detail)


class MT5SourceBase:
    """A :class:`~booktape.sources.Source` over some :class:`Link` to the MT5 API.

    Args:
        path: Terminal executable (``terminal64.exe``); None lets MT5 find it.
        login, server: Trading account; None uses the terminal's current one.
        config_file: TOML with ``login``/``server``/``path``/``password`` (an ``[mt5]`` table).
        timeout_ms: ``initialize`` timeout (MT5's own default is 60 000).
        portable: Start the terminal in portable mode.
        backoff_initial_s, backoff_max_s: Reconnect delays (doubling, capped, jittered).
        give_up_after_s: Stop retrying after this long and fail; None retries forever.
        probe_every_s: How often to check ``terminal_info().connected`` (stale books).
        ticks: Also record server time per poll and trades (see :mod:`.ticks`).
        ticks_out, ticks_collector: The tape and collector those go to (``--out``, ``--collector``).
        ticks_every_s: How often new trades are fetched.
    """

    name = "mt5"

    def __init__(self, link: Link, *, path: str | None = None, login: int | None = None,
                 server: str | None = None, config_file: str | None = None,
                 timeout_ms: int = 60_000, portable: bool = False,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0,
                 give_up_after_s: float | None = None, probe_every_s: float = 1.0,
                 ticks: bool = False, ticks_out: str | None = None,
                 ticks_collector: str = "zero", ticks_every_s: float = 1.0,
                 clock: Clock | None = None) -> None:
        if ticks and not ticks_out:
            raise BadArgument("ticks=True needs ticks_out (the tape directory)")
        self.link = link
        conf = load_config(config_file) if config_file else {}
        self.path = path if path is not None else conf.get("path")
        lg = login if login is not None else conf.get("login")
        self.login = int(lg) if lg is not None else None
        self.server = server if server is not None else conf.get("server")
        # Only the file's name is kept: the password is read again at each
        # (re)connect and dropped right after, never held by this object.
        self._config_file = config_file
        self.timeout_ms = int(timeout_ms)
        self.portable = bool(portable)
        self.backoff = Backoff(backoff_initial_s, backoff_max_s)
        self.give_up_after_s = give_up_after_s
        self.probe_every_ns = int(probe_every_s * 1e9)
        self.clock: Clock = clock or SystemClock()
        self.events: EventSink = _LogEvents()
        self.should_stop: Callable[[], bool] = lambda: False
        self.symbols: tuple[str, ...] = ()
        self.infos: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._down_since_ns: int | None = None
        self._down_cause = ""
        self._next_attempt_ns = 0
        self._next_probe_ns = 0
        self._broker_down_since_ns: int | None = None
        self._none_streak: dict[str, tuple[int, int, tuple[int, str]]] = {}
        self._stale_ticks: dict[str, int | None] = {}  # resubscribe(): last tick seen
        self.ticks = bool(ticks)
        self._ticks_args = (ticks_out, ticks_collector, ticks_every_s)
        self.recorder: TicksRecorder | None = None

    def __repr__(self) -> str:
        # Never the password: it is not even an attribute, but say so for reviewers.
        return (f"{type(self).__name__}(where={self.link.where!r}, login={self.login!r}, "
                f"server={self.server!r}, password=<hidden>)")

    # -- Source protocol ----------------------------------------------------------
    def bind(self, events: EventSink, should_stop: Callable[[], bool]) -> None:
        self.events = events
        self.should_stop = should_stop

    def open(self, symbols: tuple[str, ...]) -> None:
        """Connect, log in, check and subscribe every symbol.

        Raises:
            SourceUnavailable: no terminal/bridge, bad credentials, unknown
                symbol, or a symbol without market depth (one line naming it).
        """
        self.symbols = tuple(symbols)
        try:
            try:
                self.link.connect()
            except self.link.link_errors as e:
                raise SourceUnavailable(f"cannot reach {self.link.where}: {_exc(e)}") from None
            self._initialize(first=True)
            for s in self.symbols:
                self.infos[s] = self._subscribe(s, first=True)
            if self.ticks:
                out, collector, every = self._ticks_args
                assert out is not None
                self.recorder = TicksRecorder(out, collector, self.symbols, self.clock,
                                              every_s=every)
        except SourceUnavailable:
            self._quiet_close()
            raise
        except LinkLost as e:
            self._quiet_close()
            raise SourceUnavailable(f"lost {self.link.where} while opening: {e}") from None
        except self.link.link_errors as e:
            self._quiet_close()
            raise SourceUnavailable(f"lost {self.link.where} while opening: {_exc(e)}") from None

    def getter(self, symbol: str) -> Callable[[], Book | None]:
        if self.recorder is not None:
            return self._ticks_getter(symbol, self.recorder)
        link_book = self.link.book
        link_errors = self.link.link_errors
        perf = time.perf_counter_ns

        def get() -> Book | None:
            if self._down_since_ns is not None:
                return self._recover()
            now = perf()
            probe = now >= self._next_probe_ns
            try:
                book, err, connected = link_book(symbol, probe)
            except link_errors as e:
                self._lost(_exc(e), symbol)
                return None
            return self._settle(symbol, book, err, connected, probe, now)

        return get

    def _settle(self, symbol: str, book: Book | None, err: Any, connected: Any, probe: bool,
                now_perf_ns: int) -> Book | None:
        """What both getters do after a call that reached the terminal."""
        if probe:
            self._next_probe_ns = now_perf_ns + self.probe_every_ns
            self._broker(connected)
        if book is None:
            self._none(symbol, err)
            return None
        if symbol in self._none_streak:
            self._end_streak(symbol)
        return book

    def _ticks_getter(self, symbol: str, rec: TicksRecorder) -> Callable[[], Book | None]:
        """The getter with ``--ticks``: book and tick per poll, trades when due."""
        link = self.link
        perf = time.perf_counter_ns
        now_ns = self.clock.now_ns
        prev: list[Book | None] = [None]

        def get() -> Book | None:
            if self._down_since_ns is not None:
                return self._recover()
            t0 = now_ns()
            p0 = perf()
            probe = p0 >= self._next_probe_ns
            try:
                book, err, connected, tick, book_ns, tick_ns = link.book_tick(symbol, probe)
                t1 = now_ns()
                rec.sample(symbol, t0, t1, tick, book is not None and book != prev[0],
                           book_ns, tick_ns)
                if book is not None:
                    prev[0] = book
                from_ms = rec.trades_due(symbol, t1)
                if from_ms is not None:
                    rec.add_trades(symbol, link.ticks_range(symbol, from_ms,
                                                            from_ms + 86_400_000))
                rec.maintain()
            except link.link_errors as e:
                self._lost(_exc(e), symbol)
                return None
            return self._settle(symbol, book, err, connected, probe, p0)

        return get

    def symbol_info(self, symbol: str) -> dict[str, Any]:
        return dict(self.infos.get(symbol, {}))

    def resubscribe(self, symbol: str) -> bool:
        """The watchdog found the book unchanged too long: re-subscribe it if ticks moved.

        Called between polls, at most once per ``--stale-after`` per symbol.
        The first call only notes the last tick's ``time_msc``; a later one
        releases and re-adds the book (``market_book_release``/``_add``) only
        if ticks arrived meanwhile while the book stayed the same. A quiet
        market (no ticks either) is healthy and is never restarted (issue 12).
        Returns True when it re-subscribed.
        """
        if self._down_since_ns is not None:
            return False  # reconnecting re-subscribes everything anyway
        try:
            tick, _ = self.link.call("symbol_info_tick", symbol)
        except self.link.link_errors as e:
            self._lost(_exc(e), symbol)
            return False
        t = _tick_msc(tick)
        seen = self._stale_ticks.get(symbol)
        self._stale_ticks[symbol] = t
        if t is None or seen is None or t == seen:
            return False
        try:
            self.link.call("market_book_release", symbol)
            ok, err = self.link.call("market_book_add", symbol)
        except self.link.link_errors as e:
            self._lost(_exc(e), symbol)
            return False
        log.warning("%s: book unchanged while ticks kept coming; re-subscribed", symbol)
        self._emit("stale", symbol, phase="resubscribed", ok=bool(ok),
                   error=None if ok else errs.describe(err))
        return True

    def close(self) -> None:
        for s in list(self._none_streak):
            self._end_streak(s)
        if self.recorder is not None:
            try:
                self.recorder.close()
            except Exception:  # must not hide the book tape's own close; say so loudly
                log.exception("sealing the ticks streams failed; the next --ticks recording "
                              "of this collector seals what its journals hold")
            self.recorder = None
        if self._down_since_ns is None:
            for s in self.symbols:
                try:
                    self.link.call("market_book_release", s)
                except Exception:  # closing must never raise; the terminal may be gone
                    log.debug("market_book_release(%r) failed", s, exc_info=True)
            try:
                self.link.call("shutdown")
            except Exception:  # same: best effort
                log.debug("shutdown failed", exc_info=True)
        self._quiet_close()

    # -- opening -----------------------------------------------------------------
    def _initialize(self, first: bool) -> None:
        kwargs: dict[str, Any] = {"timeout": self.timeout_ms, "portable": self.portable}
        if self.login is not None:
            kwargs["login"] = self.login
            conf = load_config(self._config_file) if self._config_file else {}
            pw = resolve_password(conf)
            del conf
            if pw is not None:
                kwargs["password"] = pw
            if self.server is not None:
                kwargs["server"] = self.server
        args = (self.path,) if self.path is not None else ()
        ok, err = self.link.call("initialize", *args, **kwargs)
        kwargs.clear()  # drop our reference to the password promptly
        if ok:
            return
        code = err[0]
        if code == errs.AUTH_FAILED:
            msg = (f"login {self.login} on server {self.server or '(saved)'} was refused: "
                   f"{errs.describe(err)}; check the login, the server name and the "
                   f"password (${PASSWORD_ENV}, config file or prompt)")
        elif code == errs.IPC_INIT and self.path is not None:
            msg = f"no MetaTrader 5 terminal at {self.path!r}: {errs.describe(err)}"
        elif code == errs.IPC_INIT:
            msg = (f"no MetaTrader 5 terminal found via {self.link.where}: "
                   f"{errs.describe(err)}; install one or pass --mt5-path")
        else:
            msg = f"cannot initialize MetaTrader 5 via {self.link.where}: {errs.describe(err)}"
        if first or not errs.is_link_loss(err):
            raise SourceUnavailable(msg)
        raise LinkLost(msg)

    def _subscribe(self, s: str, first: bool) -> dict[str, Any]:
        info, err = self.link.call("symbol_info", s)
        if info is None:
            if errs.is_link_loss(err):
                raise LinkLost(errs.describe(err))
            raise SourceUnavailable(
                f"unknown symbol {s!r}: the terminal has no such symbol "
                f"({errs.describe(err)}); check its exact name in Market Watch")
        depth = int(info.get("ticks_bookdepth", 0) or 0)
        if depth <= 0:
            raise SourceUnavailable(
                f"symbol {s!r} has no market depth (ticks_bookdepth 0): "
                f"the broker publishes no order book for it")
        ok, err = self.link.call("symbol_select", s, True)
        if not ok:
            if errs.is_link_loss(err):
                raise LinkLost(errs.describe(err))
            raise SourceUnavailable(f"cannot select {s!r} in Market Watch: {errs.describe(err)}")
        ok, err = self.link.call("market_book_add", s)
        if not ok:
            if errs.is_link_loss(err):
                raise LinkLost(errs.describe(err))
            raise SourceUnavailable(f"market_book_add({s!r}) failed: {errs.describe(err)}")
        keep = ("digits", "point", "trade_tick_size", "ticks_bookdepth", "trade_contract_size",
                "currency_profit", "exchange", "description", "path")
        out = {k: info[k] for k in keep if k in info}
        out["source"] = self.name
        if self.server:
            out["server"] = self.server
        return out

    # -- failures and recovery -------------------------------------------------------
    def _emit(self, kind: str, symbol: str | None = None, *, count: int = 0,
              duration_ns: int = 0, **detail: Any) -> None:
        detail["source"] = self.name
        self.events.emit(Event(kind=kind, t_ns=self.clock.now_ns(), symbol=symbol, count=count,
                               duration_ns=duration_ns, detail=detail))

    def _lost(self, cause: str, symbol: str | None) -> None:
        if self._down_since_ns is not None:
            return
        self._down_since_ns = self.clock.now_ns()
        self._down_cause = cause
        self.backoff.reset()
        self._next_attempt_ns = time.perf_counter_ns() + int(self.backoff.next() * 1e9)
        log.warning("lost %s: %s; reconnecting", self.link.where, cause)
        self._emit("disconnect", symbol, cause=cause)

    def _none(self, symbol: str, err: tuple[int, str] | None) -> None:
        err = errs.as_error(err)
        if errs.is_link_loss(err):
            self._lost(errs.describe(err), symbol)
            return
        start, n, _ = self._none_streak.get(symbol, (self.clock.now_ns(), 0, err))
        self._none_streak[symbol] = (start, n + 1, err)
        if n + 1 == 3:
            # Three empty answers in a row: the subscription may have been lost
            # without the link dropping; re-adding is harmless if it was not.
            try:
                self.link.call("market_book_add", symbol)
            except self.link.link_errors as e:
                self._lost(_exc(e), symbol)

    def _end_streak(self, symbol: str) -> None:
        start, n, err = self._none_streak.pop(symbol)
        self._emit("none_result", symbol, count=n, duration_ns=self.clock.now_ns() - start,
                   error=errs.describe(err))

    def _broker(self, connected: bool | None) -> None:
        if connected is False and self._broker_down_since_ns is None:
            self._broker_down_since_ns = self.clock.now_ns()
            log.warning("terminal %s lost its broker: books are stale", self.link.where)
            self._emit("not_connected", None, connected=False,
                       note="terminal not connected to the broker; book is stale")
        elif connected and self._broker_down_since_ns is not None:
            dur = self.clock.now_ns() - self._broker_down_since_ns
            self._broker_down_since_ns = None
            self._emit("reconnect", None, duration_ns=dur, link="broker")

    def _recover(self) -> Book | None:
        """One reconnect attempt when due (sleeping until then, stop-aware); never raises
        except when ``give_up_after_s`` has passed."""
        with self._lock:
            if self._down_since_ns is None:
                return None  # another symbol's getter already reconnected
            while True:
                wait = self._next_attempt_ns - time.perf_counter_ns()
                if wait <= 0 or self.should_stop():
                    break
                time.sleep(min(wait / 1e9, 0.05))
            if self.should_stop():
                return None
            retryable: tuple[type[BaseException], ...] = (
                LinkLost, SourceUnavailable, *self.link.link_errors)
            try:
                self._quiet_close()
                self.link.connect()
                self._initialize(first=False)
                for s in self.symbols:
                    self.infos[s] = self._subscribe(s, first=False)
            except retryable as e:
                down_s = (self.clock.now_ns() - self._down_since_ns) / 1e9
                if self.give_up_after_s is not None and down_s >= self.give_up_after_s:
                    raise SourceUnavailable(
                        f"{self.link.where} still unreachable after {down_s:.1f}s "
                        f"({self.backoff.attempts} attempts): {_exc(e)}") from None
                self._next_attempt_ns = time.perf_counter_ns() + int(self.backoff.next() * 1e9)
                log.info("reconnect attempt %d to %s failed: %s", self.backoff.attempts,
                         self.link.where, _exc(e))
                return None
            dur = self.clock.now_ns() - self._down_since_ns
            attempts = self.backoff.attempts
            self._down_since_ns = None
            self._next_probe_ns = 0
            log.warning("reconnected to %s after %.3fs", self.link.where, dur / 1e9)
            self._emit("reconnect", None, count=attempts, duration_ns=dur, link="terminal",
                       cause=self._down_cause)
            return None

    def _quiet_close(self) -> None:
        try:
            self.link.close()
        except Exception:  # a half-dead link may fail to close; it is being replaced
            log.debug("closing %s failed", self.link.where, exc_info=True)


def _tick_msc(tick: Any) -> int | None:
    """``time_msc`` of a ``symbol_info_tick`` answer (a dict, a named tuple or None)."""
    if tick is None:
        return None
    if isinstance(tick, dict):
        v = tick.get("time_msc")
    else:
        v = getattr(tick, "time_msc", None)
        if v is None and isinstance(tick, tuple) and len(tick) > 5:
            v = tick[5]
    return None if v is None else int(v)


def _exc(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0]}" if s else type(e).__name__
