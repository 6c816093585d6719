"""``--source mt5linux``: MetaTrader 5 through the mt5linux RPyC bridge.

mt5linux's own ``market_book_get`` cannot record: in 1.0.x each level comes
back as a remote proxy (41 round trips, ~50 ms per 40-level book on
loopback) and in 1.1.x the result is pickled, which MT5's ``BookInfo``
refuses. So we install one small function on the server, once per
connection, and call it per poll: **one round trip** returning packed bytes
that numpy unpacks here (issue 4).
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import math
import socket
import sys
from importlib import metadata
from typing import Any

import numpy as np

from ..errors import SourceUnavailable
from ..model import Book, BookInfo
from ._mt5_base import Fetch, FetchTick, MT5SourceBase

log = logging.getLogger(__name__)

#: One book level on the wire: what the server-side helper packs per level.
BOOK_DTYPE = np.dtype([("type", "<i8"), ("price", "<f8"), ("volume", "<i8"),
                       ("volume_dbl", "<f8")])

# Runs on the server (Wine's Windows Python, any 3.x): stdlib only, no numpy
# needed there. Results are tuples of plain values, which RPyC sends by value
# in the same reply; MT5 result objects would come back as proxies.
HELPER = r'''
import datetime as _bt_dt
import struct as _bt_struct
import time as _bt_time
import MetaTrader5 as _bt_mt5

def _booktape_book(symbol, probe=False):
    connected = None
    if probe:
        ti = _bt_mt5.terminal_info()
        connected = None if ti is None else bool(ti.connected)
    b = _bt_mt5.market_book_get(symbol)
    if b is None:
        return (None, tuple(_bt_mt5.last_error()), connected)
    flat = []
    for lvl in b:
        flat.extend((int(lvl[0]), float(lvl[1]), int(lvl[2]), float(lvl[3])))
    return (_bt_struct.pack("<" + "qdqd" * len(b), *flat), None, connected)

def _booktape_book_tick(symbol, probe=False):
    t0 = _bt_time.perf_counter_ns()
    r = _booktape_book(symbol, probe)
    t1 = _bt_time.perf_counter_ns()
    tick = _bt_mt5.symbol_info_tick(symbol)
    t2 = _bt_time.perf_counter_ns()
    return r + ((None if tick is None else tuple(tick)), t1 - t0, t2 - t1)

def _booktape_ticks(symbol, from_ms, to_ms):
    epoch = _bt_dt.datetime(1970, 1, 1, tzinfo=_bt_dt.timezone.utc)
    a = _bt_mt5.copy_ticks_range(symbol, epoch + _bt_dt.timedelta(milliseconds=from_ms),
                                 epoch + _bt_dt.timedelta(milliseconds=to_ms),
                                 _bt_mt5.COPY_TICKS_ALL)
    if a is None:
        return None
    return (tuple((str(n), str(t)) for n, t in a.dtype.descr), a.tobytes())

def _booktape_call(name, *args, **kwargs):
    r = getattr(_bt_mt5, name)(*args, **kwargs)
    if hasattr(r, "_asdict"):
        r = tuple(r._asdict().items())
    return (r, tuple(_bt_mt5.last_error()))
'''


def is_loopback(host: str) -> bool:
    """True if ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def unpack_book(payload: bytes) -> Book:
    """Bytes from ``_booktape_book`` -> the book tuple every source returns."""
    rows = np.frombuffer(payload, dtype=BOOK_DTYPE).tolist()
    return tuple(map(BookInfo._make, rows))


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def import_mt5linux() -> Any:
    """Import the client, turning version trouble into one actionable line."""
    try:
        import rpyc
    except ImportError:
        raise SourceUnavailable(
            "rpyc is not installed: pip install 'booktape[mt5linux]'") from None
    rv = str(getattr(rpyc, "__version__", "0"))
    if _major(rv) < 6:
        raise SourceUnavailable(
            f"rpyc {rv} cannot talk to an rpyc 6 server (mt5linux <= 1.0.5 pins rpyc "
            "5.2.3): pip install 'mt5linux>=1.0.6,<1.1' 'rpyc>=6,<7'")
    try:
        return importlib.import_module("mt5linux")
    except SyntaxError:
        py = ".".join(map(str, sys.version_info[:2]))
        raise SourceUnavailable(
            f"mt5linux {_version('mt5linux')} needs Python >= 3.12 and this is Python {py}: "
            "pip install 'mt5linux>=1.0.6,<1.1' (1.0.x works with rpyc 6 on 3.11)") from None
    except ImportError as e:
        raise SourceUnavailable(
            f"mt5linux is not installed ({e}): pip install 'booktape[mt5linux]'") from None


class BridgeLink:
    """The MT5 API on an RPyC classic server, one round trip per book."""

    def __init__(self, host: str = "127.0.0.1", port: int = 18812,
                 request_timeout_s: float = 10.0, init_timeout_s: float = 70.0) -> None:
        self.host = host
        self.port = int(port)
        self.request_timeout_s = request_timeout_s
        self.init_timeout_s = max(init_timeout_s, request_timeout_s)
        self.where = f"the mt5linux server at {host}:{port}"
        self.client: Any = None
        self.conn: Any = None
        self._book: Any = None
        self._call: Any = None
        self._book_tick: Any = None
        self._ticks: Any = None
        self._last: dict[str, tuple[bytes, Book]] = {}
        self.link_errors: tuple[type[BaseException], ...] = (EOFError, OSError, TimeoutError)
        if not is_loopback(host):
            log.warning("mt5linux host %s is not a loopback address: an RPyC classic server "
                        "runs any code sent to it, so keep it on 127.0.0.1 or a private, "
                        "trusted link", host)

    def connect(self) -> None:
        mod = import_mt5linux()
        from rpyc.core.async_ import AsyncResultTimeout

        self.link_errors = (EOFError, OSError, TimeoutError, AsyncResultTimeout)
        try:
            execute, evaluate = self._open_connection(mod)
            execute(HELPER)
        except self.link_errors:
            raise
        except ImportError as e:
            self.close()
            raise SourceUnavailable(
                f"{self.where} has no MetaTrader5 package ({_first_line(e)}): in Wine run "
                "`wine python -m pip install MetaTrader5`") from None
        except Exception as e:  # noqa: BLE001  (a remote error of any type: name it)
            self.close()
            raise SourceUnavailable(
                f"{self.where} failed to set up ({type(e).__name__}: {_first_line(e)}); if it "
                "runs mt5linux <= 1.0.5 (rpyc 5), upgrade it to mt5linux>=1.0.6,<1.1") from None
        self._book = evaluate("_booktape_book")
        self._book_tick = evaluate("_booktape_book_tick")
        self._ticks = evaluate("_booktape_ticks")
        self._call = evaluate("_booktape_call")

    def _open_connection(self, mod: Any) -> tuple[Any, Any]:
        """Connect and import MetaTrader5 on the server; return its execute and eval."""
        cls = getattr(mod, "MetaTrader5", None)
        if cls is not None and hasattr(cls, "eval") and hasattr(cls, "execute"):
            # mt5linux 1.0.x: its constructor connects and imports MetaTrader5 remotely.
            # Its timeout is whole seconds (int(0.3) would be 0: every request expires).
            self.client = cls(host=self.host, port=self.port,
                              timeout=max(1, math.ceil(self.request_timeout_s)))
            self.conn = getattr(self.client, "_MetaTrader5__conn", None)
            if self.conn is not None:
                self.conn._config["sync_request_timeout"] = self.request_timeout_s
            return self.client.execute, self.client.eval
        # Other client shapes (1.1.x): speak RPyC classic to the same server directly.
        import rpyc

        self.conn = rpyc.classic.connect(self.host, self.port)
        self.conn._config["sync_request_timeout"] = self.request_timeout_s
        self.conn.execute("import MetaTrader5 as mt5")
        return self.conn.execute, self.conn.eval

    def call(self, fn: str, *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, str]]:
        # Arguments travel as RPyC values, not inside a code string: that quotes
        # symbols (mt5linux's market_book_release does not) and keeps the
        # password out of any text the server might echo in a traceback.
        if fn == "initialize" and self.conn is not None:
            # initialize may legitimately take its whole timeout (a terminal
            # starting up); every other request gets the short poll timeout,
            # so a hung bridge is noticed in seconds, not minutes.
            cfg = self.conn._config
            cfg["sync_request_timeout"] = self.init_timeout_s
            try:
                r, err = self._call(fn, *args, **kwargs)
            finally:
                cfg["sync_request_timeout"] = self.request_timeout_s
        else:
            r, err = self._call(fn, *args, **kwargs)
        if isinstance(r, tuple) and r and all(isinstance(x, tuple) and len(x) == 2 for x in r) \
                and fn in ("symbol_info", "terminal_info", "account_info", "symbol_info_tick"):
            r = dict(r)
        return r, (int(err[0]), str(err[1]))

    def book(self, symbol: str, probe: bool) -> Fetch:
        payload, err, connected = self._book(symbol, probe)
        if payload is None:
            return None, err, connected
        last = self._last.get(symbol)
        if last is not None and last[0] == payload:
            # Unchanged book: hand back the same object, so the capture loop's
            # equality check is an identity check and nothing is unpacked.
            return last[1], None, connected
        book = unpack_book(payload)
        self._last[symbol] = (payload, book)
        return book, None, connected

    def book_tick(self, symbol: str, probe: bool) -> FetchTick:
        payload, err, connected, tick, book_ns, tick_ns = self._book_tick(symbol, probe)
        if payload is None:
            return None, err, connected, tick, book_ns, tick_ns
        last = self._last.get(symbol)
        if last is not None and last[0] == payload:
            return last[1], None, connected, tick, book_ns, tick_ns
        book = unpack_book(payload)
        self._last[symbol] = (payload, book)
        return book, None, connected, tick, book_ns, tick_ns

    def ticks_range(self, symbol: str, from_ms: int, to_ms: int) -> Any:
        r = self._ticks(symbol, from_ms, to_ms)
        if r is None:
            return None
        descr, payload = r
        return np.frombuffer(payload, dtype=np.dtype([tuple(d) for d in descr]))

    def requests(self) -> int:
        """Requests sent on this connection so far (the benchmark counts round trips)."""
        counter = getattr(self.conn, "_seqcounter", None)
        return int(repr(counter).strip("count()") or 0) if counter is not None else -1

    def close(self) -> None:
        conn, self.conn, self.client = self.conn, None, None
        self._book = self._call = self._book_tick = self._ticks = None
        self._last.clear()
        if conn is not None:
            conn.close()


class MT5LinuxSource(MT5SourceBase):
    """Order books from MetaTrader 5 in Wine, through an mt5linux (RPyC) server.

    Args:
        host, port: The server (``python -m mt5linux`` in Wine, or ``booktape emulate``).
        request_timeout_s: How long one request (but ``initialize``) may take before
            the link counts as lost; ``initialize`` gets ``timeout_ms`` plus 10 s.
        **options: See :class:`~booktape.sources._mt5_base.MT5SourceBase`.
    """

    name = "mt5linux"

    def __init__(self, host: str = "127.0.0.1", port: int = 18812,
                 request_timeout_s: float | None = None, **options: Any) -> None:
        timeout_ms = int(options.get("timeout_ms", 60_000))
        # initialize's request must outlive the terminal's own timeout, or a
        # slow login looks like a dropped link.
        rt = request_timeout_s if request_timeout_s is not None else 10.0
        super().__init__(BridgeLink(host, port, rt, timeout_ms / 1000 + 10), **options)
