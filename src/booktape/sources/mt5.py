"""``--source mt5``: the ``MetaTrader5`` package (Windows), or any module shaped like it.

``module`` names the module to import, so the picklable ``SourceSpec`` can
carry it across a ``spawn``: ``"MetaTrader5"`` on Windows,
``"booktape.emulator"`` in tests and demos.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ..errors import SourceUnavailable
from ._mt5_base import Fetch, MT5SourceBase


class ModuleLink:
    """The MT5 API as an imported module: every call is in-process."""

    link_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, module: str | ModuleType = "MetaTrader5") -> None:
        self._spec = module
        self.mod: Any = module if isinstance(module, ModuleType) else None
        name = module if isinstance(module, str) else module.__name__
        self.where = f"the {name} module"

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
        b = mod.market_book_get(symbol)
        if b is None:
            return None, tuple(mod.last_error()), connected
        return b, None, connected

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
