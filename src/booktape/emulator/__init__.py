"""A ``MetaTrader5``-shaped module backed by the simulated market.

Use it wherever the real package goes: ``--source mt5`` with
``module="booktape.emulator"``, or served over RPyC by ``booktape emulate``
so the real ``mt5linux`` client talks to it. Like the real package it holds
one terminal connection per process, so its functions act on a module-level
:class:`Terminal`; :func:`configure` swaps that terminal's world and faults.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..clock import Clock
from ..sources.simulated import SimConfig
from .config import EmuConfig, Faults
from .constants import *  # noqa: F403  (the package's constants: same names and values)
from .terminal import Terminal
from .types import AccountInfo, BookInfo, SymbolInfo, TerminalInfo, Tick

__version__ = "5.0.4410"
__author__ = "booktape (emulated MetaQuotes API)"

#: Set to a JSON object ``{"faults": {...}, "sim": {...}}`` to start the
#: module's terminal with those faults and market, in every process that
#: imports it (spawned pollers too): how end-to-end tests inject faults into
#: ``--source mt5 --mt5-module booktape.emulator``.
ENV_CONFIG = "BOOKTAPE_EMULATOR"


def config_from_env() -> EmuConfig:
    """The configuration ``$BOOKTAPE_EMULATOR`` asks for (defaults when unset)."""
    raw = os.environ.get(ENV_CONFIG)
    if not raw:
        return EmuConfig()
    d = json.loads(raw)
    unknown = set(d) - {"faults", "sim", "symbols", "bookless", "password"}
    if unknown:
        raise ValueError(f"${ENV_CONFIG}: unknown key(s) {sorted(unknown)}")
    kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                          for k, v in d.items() if k in ("symbols", "bookless", "password")}
    return EmuConfig(faults=Faults.from_dict(d.get("faults", {})),
                     sim=SimConfig(**d.get("sim", {})), **kw)


#: The terminal this module's functions talk to (the real package has exactly one too).
terminal = Terminal(config_from_env())


def configure(config: EmuConfig | None = None, *, clock: Clock | None = None,
              **faults: Any) -> Terminal:
    """Reset the emulated terminal with a world and faults (keyword faults override)."""
    cfg = config or EmuConfig()
    if faults:
        merged = {**cfg.faults.__dict__, **faults}
        cfg = EmuConfig(**{**cfg.__dict__, "faults": Faults.from_dict(merged)})
    terminal.configure(cfg, clock)
    return terminal


def initialize(path: str | None = None, *, login: int | None = None,
               password: str | None = None, server: str | None = None,
               timeout: int | None = None, portable: bool = False) -> bool:
    """Connect to the (emulated) terminal, optionally logging in."""
    return terminal.initialize(path, login=login, password=password, server=server,
                               timeout=timeout, portable=portable)


def login(login: int, *, password: str | None = None, server: str | None = None,
          timeout: int | None = None) -> bool:
    """Log in to another trading account."""
    return terminal.login(login, password=password, server=server, timeout=timeout)


def shutdown() -> None:
    """Close the connection to the terminal."""
    terminal.shutdown()


def last_error() -> tuple[int, str]:
    """The code and message of the last call's outcome."""
    return terminal.last_error()


def version() -> tuple[int, int, str] | None:
    """Terminal version, build and release date."""
    return terminal.version()


def terminal_info() -> Any:
    """The terminal's state; ``connected`` False means no broker (books are stale)."""
    return terminal.terminal_info()


def account_info() -> Any:
    return terminal.account_info()


def symbols_total() -> int | None:
    return terminal.symbols_total()


def symbol_info(symbol: str) -> Any:
    return terminal.symbol_info(symbol)


def symbol_info_tick(symbol: str) -> Any:
    return terminal.symbol_info_tick(symbol)


def symbol_select(symbol: str, enable: bool = True) -> bool:
    return terminal.symbol_select(symbol, enable)


def market_book_add(symbol: str) -> bool:
    return terminal.market_book_add(symbol)


def market_book_get(symbol: str) -> tuple[Any, ...] | None:
    return terminal.market_book_get(symbol)


def market_book_release(symbol: str) -> bool:
    return terminal.market_book_release(symbol)


def copy_ticks_from(symbol: str, date_from: Any, count: int, flags: int) -> Any:
    return terminal.copy_ticks_from(symbol, date_from, count, flags)


def copy_ticks_range(symbol: str, date_from: Any, date_to: Any, flags: int) -> Any:
    return terminal.copy_ticks_range(symbol, date_from, date_to, flags)


__all__ = [
    "ENV_CONFIG",
    "AccountInfo",
    "BookInfo",
    "EmuConfig",
    "Faults",
    "SymbolInfo",
    "Terminal",
    "TerminalInfo",
    "Tick",
    "account_info",
    "config_from_env",
    "configure",
    "copy_ticks_from",
    "copy_ticks_range",
    "initialize",
    "last_error",
    "login",
    "market_book_add",
    "market_book_get",
    "market_book_release",
    "shutdown",
    "symbol_info",
    "symbol_info_tick",
    "symbol_select",
    "symbols_total",
    "terminal",
    "terminal_info",
    "version",
]
