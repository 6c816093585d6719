"""``--ticks``: server time and trades beside the book (issue 4).

MT5 books carry no timestamp. With ``--ticks`` each poll also asks
``symbol_info_tick`` and, whenever the book or the tick changed, stores a
*server-time sample*: the local stamps around the two calls, the tick's
``time_msc``/bid/ask/last/volume/flags and how long each call took. An as-of
join on ``t_before_ns`` aligns every stored book state to the server clock.

Trades are collected incrementally with ``copy_ticks_range`` from the last
``time_msc`` seen, with no gaps or duplicates between calls: a window starts
at the second holding the last tick (terminals may round to seconds), rows
before the last tick are dropped and, in its millisecond, as many rows as
were already stored. Several trades share one millisecond, so time alone
cannot be the key.

The rows go to the tape's side streams (:mod:`booktape.tape.side_streams`);
read them back with :func:`booktape.read.side_streams.read_stream`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..clock import Clock
from ..tape.side_streams import SideStreamWriter
from ..tape.writer import WriterConfig

log = logging.getLogger(__name__)


#: Fields of a tick in ``symbol_info_tick`` order.
TICK_FIELDS = ("time", "bid", "ask", "last", "volume", "time_msc", "flags", "volume_real")


class TicksRecorder:
    """Server-time samples and incremental trades for a set of symbols, with their writers.

    Args:
        root: The tape directory (``--out``).
        collector: This recorder's name (a partition key, as for books).
        symbols: Symbols recorded.
        clock: Wall clock for stamps and writer cadence.
        every_s: How often each symbol's new trades are fetched.
        config: Rotation and fsync cadence (the book writer's defaults).
    """

    def __init__(self, root: str | Path, collector: str, symbols: tuple[str, ...],
                 clock: Clock, *, every_s: float = 1.0,
                 config: WriterConfig | None = None) -> None:
        self.clock = clock
        self.every_ns = int(every_s * 1e9)
        self.store = SideStreamWriter(root, collector, symbols, clock, config=config)
        self._last_ms: dict[str, int | None] = {s: None for s in symbols}
        self._n_at_last: dict[str, int] = {s: 0 for s in symbols}
        self._due_ns: dict[str, int] = {s: 0 for s in symbols}
        self._last_tick: dict[str, Any] = {}

    # -- server-time samples ------------------------------------------------------------
    def sample(self, symbol: str, t_before: int, t_after: int, tick: Any, book_changed: bool,
               book_ns: int, tick_ns: int) -> None:
        """One poll's tick; stored when the book or the tick changed."""
        if tick is None:
            return
        if not book_changed and tick == self._last_tick.get(symbol):
            return
        self._last_tick[symbol] = tick
        self.store.add("server_time", symbol, t_before_ns=t_before, t_after_ns=t_after,
                                 time_msc=int(tick[5]), bid=float(tick[1]), ask=float(tick[2]),
                                 last=float(tick[3]), volume=int(tick[4]), flags=int(tick[6]),
                                 book_call_ns=book_ns, tick_call_ns=tick_ns)
        if self._last_ms[symbol] is None:
            self._last_ms[symbol] = int(tick[5])  # trades are collected from here on

    # -- trades -----------------------------------------------------------------------------
    def trades_due(self, symbol: str, now_ns: int) -> int | None:
        """The ms to fetch trades from, if this symbol's fetch is due."""
        if now_ns < self._due_ns[symbol] or self._last_ms[symbol] is None:
            return None
        self._due_ns[symbol] = now_ns + self.every_ns
        last = self._last_ms[symbol]
        assert last is not None
        return (last // 1000) * 1000  # the whole second: some terminals drop the ms

    def add_trades(self, symbol: str, arr: Any) -> int:
        """Store the rows of a ``copy_ticks_range`` answer not stored before; return how many."""
        if arr is None or len(arr) == 0:
            return 0
        t = np.asarray(arr["time_msc"], dtype=np.int64)
        last = self._last_ms[symbol]
        start = 0
        if last is not None:
            start = int(np.searchsorted(t, last, side="left"))
            at_last = int(np.searchsorted(t, last, side="right")) - start
            start += min(self._n_at_last[symbol], at_last)
        new = arr[start:]
        if len(new) == 0:
            return 0
        now = self.clock.now_ns()
        for r in new.tolist():
            rec = dict(zip(arr.dtype.names, r))
            self.store.add("ticks", symbol, time_ns=int(rec["time_msc"]) * 1_000_000,
                           time_msc=int(rec["time_msc"]), bid=float(rec["bid"]),
                           ask=float(rec["ask"]), last=float(rec["last"]),
                           volume=int(rec["volume"]), flags=int(rec["flags"]),
                           volume_real=float(rec["volume_real"]), t_fetch_ns=now)
        newest = int(t[-1])
        self._n_at_last[symbol] = int(np.count_nonzero(t == newest))
        self._last_ms[symbol] = newest
        return len(new)

    # -- storage -------------------------------------------------------------------------------
    def maintain(self, force: bool = False) -> None:
        """Append buffered rows (about every 250 ms) and let the writers rotate and fsync."""
        self.store.maintain(force)

    def close(self) -> None:
        self.store.close()
