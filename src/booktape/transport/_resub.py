"""The poller's side of the stale-feed watchdog: re-subscribe books it asks about.

The watchdog (another process) raises a per-symbol word in the shared
counters; between polls the poller looks at those words (a few loads per
chunk) and calls the source's ``resubscribe(symbol)`` if it has one (the MT5
sources; the sim has nothing to re-subscribe).
"""

from __future__ import annotations

from typing import Any

from ..capture.stats import MAX_SYMBOLS, Stats, symbol_index


class Resubscriber:
    def __init__(self, source: Any, symbols: tuple[str, ...], stats: Stats) -> None:
        self.fn = getattr(source, "resubscribe", None)
        self.symbols = symbols[:MAX_SYMBOLS]
        self.arr = stats.arr
        self.i0 = symbol_index("resubscribe", 0)

    def __call__(self) -> None:
        if self.fn is None:
            return
        arr, i0 = self.arr, self.i0
        for k, sym in enumerate(self.symbols):
            if arr[i0 + k]:
                arr[i0 + k] = 0
                self.fn(sym)
