"""What the emulated terminal offers (symbols, account) and which faults it injects."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..sources.simulated import SimConfig


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Failures the emulator injects, the way a real terminal shows them.

    Counts are API calls (``last_error`` excluded, since the real package
    answers it locally); times are seconds on the emulator's clock.
    """

    #: The IPC link to the terminal drops after this many calls since the last
    #: (re)connect: every call then returns ``None``/``False`` with
    #: ``last_error() == (-10004, 'No IPC connection')`` and the book
    #: subscriptions are gone, until ``initialize()`` succeeds again.
    ipc_drop_after_calls: int | None = None
    #: The IPC link drops this many seconds after the first ``initialize()``.
    ipc_drop_at_s: float | None = None
    #: How many drops in all (each one ``ipc_drop_after_calls`` after the reconnect).
    ipc_drops: int = 1
    #: After a drop, ``initialize()`` fails with -10003 for this long (terminal restarting).
    ipc_down_s: float = 0.2
    #: Every n-th ``market_book_get`` returns ``None`` with ``(-1, 'Terminal: Call failed')``.
    none_every: int | None = None
    #: The terminal loses its broker after this many ``market_book_get`` calls:
    #: ``terminal_info().connected`` is False and the book is frozen (stale).
    broker_drop_after_calls: int | None = None
    #: How long the broker stays away.
    broker_down_s: float = 0.2
    #: Every call takes at least this long (a slow terminal or a busy Wine).
    latency_ms: float = 0.0
    #: Every n-th call is slow by ``slow_ms`` (a hiccup).
    slow_every: int | None = None
    slow_ms: float = 0.0
    #: ``initialize()``/``login()`` with a login always fail with -6 (auth failed).
    auth_fail: bool = False

    def __post_init__(self) -> None:
        for f in ("ipc_drop_after_calls", "none_every", "broker_drop_after_calls", "slow_every"):
            v = getattr(self, f)
            if v is not None and v < 1:
                raise ValueError(f"{f} must be >= 1 or None, got {v}")
        for f in ("ipc_down_s", "broker_down_s", "latency_ms", "slow_ms"):
            if getattr(self, f) < 0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Faults:
        """Build from plain keys; an unknown key is an error, not a silent default."""
        known = {f.name for f in fields(cls)}
        bad = set(d) - known
        if bad:
            raise ValueError(f"unknown fault(s) {sorted(bad)}; known: {sorted(known)}")
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class EmuConfig:
    """The terminal's world: account, symbols, the simulated market behind them."""

    #: Symbols with a book (each one a simulated RTS-like future).
    symbols: tuple[str, ...] = ("RIU2", "SiU2", "GZU2")
    #: Symbols the terminal knows that publish no book (``ticks_bookdepth`` 0).
    bookless: tuple[str, ...] = ("EURUSD",)
    login: int = 5001234
    #: The password ``initialize(login=...)`` must match; ``None`` accepts any.
    password: str | None = None
    server: str = "Booktape-Emulator"
    #: Broker server time minus UTC, as most brokers run EET (MT5 times are server times).
    server_offset_s: int = 0
    #: Trades per second of each symbol's tick stream.
    trade_rate: float = 5.0
    sim: SimConfig = field(default_factory=SimConfig)
    faults: Faults = field(default_factory=Faults)
