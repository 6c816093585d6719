"""A deterministic trade stream per symbol, for ``copy_ticks_*``/``symbol_info_tick``.

Trades are generated lazily up to "now" from a per-symbol seed, so the same
window asked twice returns the same rows (what incremental collection with no
gaps or duplicates is tested against). Several trades may share one
``time_msc``, as on a real exchange feed.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from typing import Any

import numpy as np

from ..sources.simulated import symbol_seed
from . import constants as c
from .types import TICK_DTYPE

_HOUR_MS = 3_600_000


class TradeTape:
    """One symbol's trades (server-time ms) from an hour before ``start_ms`` on, extended on demand."""

    def __init__(self, seed: int, symbol: str, start_ms: int, rate: float,
                 mid: float, tick: float,
                 quote: Callable[[], tuple[float, float] | None] | None = None) -> None:
        self._rnd = random.Random(symbol_seed(seed, symbol) ^ 0x71C5)
        self._rate = rate
        self._tick = tick
        self._mid_ticks = self._base = round(mid / tick)
        self._t = (start_ms // _HOUR_MS) * _HOUR_MS - _HOUR_MS
        self.time_msc: list[int] = []
        self._rows: list[tuple[float, int, int, float, float]] = []  # price, volume, flags, bid, ask
        # The book's best bid and ask now: trades happen at the terminal's own quotes
        # (issue 14: they sat ~70 points away from the book the terminal showed).
        self._quote = quote

    def extend_to(self, now_ms: int) -> None:
        rnd = self._rnd
        q = self._quote() if self._quote is not None and self._t <= now_ms else None
        while self._t <= now_ms:
            # Clustered trades: a share land in the same millisecond as the last.
            gap = 0 if rnd.random() < 0.2 else 1 + int(rnd.expovariate(self._rate) * 1000.0)
            self._t += gap
            step = rnd.choice((-1, 0, 0, 0, 1))
            drift = self._mid_ticks - self._base
            if abs(drift) > 10:  # stay near the book's price, as the book itself does
                step = -1 if drift > 0 else 1
            self._mid_ticks += step
            buy = rnd.random() < 0.5
            if q is not None:
                bid, ask = q  # a buy lifts the best ask, a sell hits the best bid
            else:
                bid = self._mid_ticks * self._tick
                ask = bid + self._tick
            price = ask if buy else bid
            flags = c.TICK_FLAG_LAST | c.TICK_FLAG_VOLUME | (
                c.TICK_FLAG_BUY if buy else c.TICK_FLAG_SELL)
            self.time_msc.append(self._t)
            self._rows.append((price, rnd.randint(1, 10), flags, bid, ask))

    def window(self, lo: int, hi: int, now_ms: int) -> Any:
        """Rows with ``lo <= time_msc <= hi`` (and not after now), as MT5's tick array."""
        self.extend_to(now_ms)
        i = bisect.bisect_left(self.time_msc, lo)
        j = bisect.bisect_right(self.time_msc, min(hi, now_ms))
        return self._array(i, j)

    def from_(self, lo: int, count: int, now_ms: int) -> Any:
        self.extend_to(now_ms)
        i = bisect.bisect_left(self.time_msc, lo)
        j = min(i + max(count, 0), bisect.bisect_right(self.time_msc, now_ms))
        return self._array(i, j)

    def last(self, now_ms: int) -> tuple[int, float, int] | None:
        self.extend_to(now_ms)
        j = bisect.bisect_right(self.time_msc, now_ms)
        if j == 0:
            return None
        price, vol = self._rows[j - 1][:2]
        return self.time_msc[j - 1], price, vol

    def _array(self, i: int, j: int) -> Any:
        out = np.zeros(j - i, dtype=TICK_DTYPE)
        if j > i:
            t = np.asarray(self.time_msc[i:j], dtype=np.int64)
            rows = self._rows[i:j]
            price = np.fromiter((r[0] for r in rows), np.float64, len(rows))
            vol = np.fromiter((r[1] for r in rows), np.uint64, len(rows))
            out["time_msc"] = t
            out["time"] = t // 1000
            out["last"] = price
            out["bid"] = np.fromiter((r[3] for r in rows), np.float64, len(rows))
            out["ask"] = np.fromiter((r[4] for r in rows), np.float64, len(rows))
            out["volume"] = vol
            out["volume_real"] = vol.astype(np.float64)
            out["flags"] = np.fromiter((r[2] for r in rows), np.uint32, len(rows))
        return out
