"""``--source mt5``: the ``MetaTrader5`` package (Windows), or any module shaped like it.

``module`` names the module to import, so the picklable ``SourceSpec`` can
carry it across a ``spawn``: ``"MetaTrader5"`` on Windows,
``"booktape.emulator"`` in tests and demos.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from types import ModuleType
from typing import Any

from ..errors import SourceUnavailable
from ._mt5_base import Fetch, FetchTick, MT5SourceBase

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _utc(ms: int) -> dt.datetime:
    """Epoch ms as an aware UTC datetime, exactly (no float rounding)."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


class ModuleLink:
    """The MT5 API as an imported module: every call is in-process."""

    link_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, module: str | ModuleType = "MetaTrader5") -> None:
        self._spec = module
        self.mod: Any = module if isinstance(module, ModuleType) else None
        name = module if isinstance(module, str) else module.__name__
        self.where = f"the {name} module"
        self._book_ns = 0

    def connect(self) -> None:
        if self.mod is not None:
            return
        name = str(self._spec)
        try:
            self.mod = importlib.import_module(name)
        except ImportError as e:
            hint = ("the MetaTrader5 package exists only for Windows: `pip install "
                    "MetaTrader5` there, or use --source mt5linux on Linux"
                    if name == "MetaTrader5" else str(e))
            raise SourceUnavailable(f"cannot import {name!r}: {hint}") from None

    def call(self, fn: str, *args: Any, **kwargs: Any) -> tuple[Any, tuple[int, str]]:
        mod = self.mod
        r = getattr(mod, fn)(*args, **kwargs)
        if hasattr(r, "_asdict"):
            r = r._asdict()
        return r, tuple(mod.last_error())

    def book(self, symbol: str, probe: bool) -> Fetch:
        mod = self.mod
        connected = None
        if probe:
            ti = mod.terminal_info()
            connected = None if ti is None else bool(ti.connected)
        t0 = time.perf_counter_ns()
        b = mod.market_book_get(symbol)
        self._book_ns = time.perf_counter_ns() - t0
        if b is None:
            return None, tuple(mod.last_error()), connected
        return b, None, connected

    def book_tick(self, symbol: str, probe: bool) -> FetchTick:
        perf = time.perf_counter_ns
        book, err, connected = self.book(symbol, probe)
        t1 = perf()
        tick = self.mod.symbol_info_tick(symbol)
        t2 = perf()
        # _book_ns timed market_book_get alone, not the terminal_info probe.
        return book, err, connected, (tuple(tick) if tick is not None else None), \
            self._book_ns, t2 - t1

    def ticks_range(self, symbol: str, from_ms: int, to_ms: int) -> Any:
        mod = self.mod
        return mod.copy_ticks_range(symbol, _utc(from_ms), _utc(to_ms), mod.COPY_TICKS_ALL)

    def close(self) -> None:
        # A module cannot be closed; `shutdown` is sent by the source's close().
        pass


class MT5Source(MT5SourceBase):
    """Order books from a MetaTrader 5 terminal through the ``MetaTrader5`` package.

    Args:
        module: The module to use (``"MetaTrader5"``; ``"booktape.emulator"`` to emulate).
        **options: See :class:`~booktape.sources._mt5_base.MT5SourceBase`.
    """

    name = "mt5"

    def __init__(self, module: str | ModuleType = "MetaTrader5", **options: Any) -> None:
        super().__init__(ModuleLink(module), **options)
