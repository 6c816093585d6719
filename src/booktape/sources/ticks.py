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

Layout, beside the book partitions and invisible to book readers::

    DATA/_ticks/symbol=S/date=D/collector=C/part-NNNNNN.parquet        trades
    DATA/_server_time/symbol=S/date=D/collector=C/part-NNNNNN.parquet  samples
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..clock import Clock
from ..tape.layout import SERVER_TIME_DIR, TICKS_DIR, partition_dirs
from ..tape.manifest import last_seq
from ..tape.recover import recover_side_streams
from ..tape.seal import seal_journal
from ..tape.writer import TapeWriter, WriterConfig

log = logging.getLogger(__name__)


TRADES_SCHEMA = pa.schema([
    pa.field("seq", pa.uint64(), nullable=False),  # trade number per symbol and collector
    pa.field("time_ns", pa.int64(), nullable=False),  # time_msc * 1e6 (server clock)
    pa.field("time_msc", pa.int64(), nullable=False),
    pa.field("bid", pa.float64(), nullable=False),
    pa.field("ask", pa.float64(), nullable=False),
    pa.field("last", pa.float64(), nullable=False),
    pa.field("volume", pa.int64(), nullable=False),
    pa.field("flags", pa.uint32(), nullable=False),
    pa.field("volume_real", pa.float64(), nullable=False),
    pa.field("t_fetch_ns", pa.int64(), nullable=False),  # local wall ns of the fetch
], metadata={b"booktape.stream": b"ticks"})

SERVER_TIME_SCHEMA = pa.schema([
    pa.field("seq", pa.uint64(), nullable=False),
    pa.field("t_before_ns", pa.int64(), nullable=False),  # local wall ns before market_book_get
    pa.field("t_after_ns", pa.int64(), nullable=False),  # local wall ns after symbol_info_tick
    pa.field("time_msc", pa.int64(), nullable=False),  # the tick's server time
    pa.field("bid", pa.float64(), nullable=False),
    pa.field("ask", pa.float64(), nullable=False),
    pa.field("last", pa.float64(), nullable=False),
    pa.field("volume", pa.int64(), nullable=False),
    pa.field("flags", pa.uint32(), nullable=False),
    pa.field("book_call_ns", pa.int64(), nullable=False),  # latency of market_book_get
    pa.field("tick_call_ns", pa.int64(), nullable=False),  # latency of symbol_info_tick
], metadata={b"booktape.stream": b"server_time"})

#: Fields of a tick in ``symbol_info_tick`` order.
TICK_FIELDS = ("time", "bid", "ask", "last", "volume", "time_msc", "flags", "volume_real")


class _Buffer:
    """Rows of one stream and symbol, appended as one Arrow batch at a time."""

    def __init__(self, schema: pa.Schema, first_seq: int) -> None:
        self.schema = schema
        self.seq = first_seq
        self.cols: dict[str, list[Any]] = {n: [] for n in schema.names}

    def add(self, **row: Any) -> None:
        row["seq"] = self.seq
        self.seq += 1
        for k, col in self.cols.items():
            col.append(row[k])

    def take(self) -> pa.RecordBatch | None:
        if not self.cols["seq"]:
            return None
        b = pa.record_batch([pa.array(self.cols[f.name], f.type) for f in self.schema],
                            schema=self.schema)
        for col in self.cols.values():
            col.clear()
        return b


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
        self.root = Path(root)
        self.clock = clock
        self.every_ns = int(every_s * 1e9)
        tick_root, time_root = self.root / TICKS_DIR, self.root / SERVER_TIME_DIR

        def sealer(time_cols: tuple[str, str]) -> Callable[[str, Path], None]:
            def seal(symbol: str, journal: Path) -> None:
                seal_journal(journal, clock.now_ns(), keys=("seq",), time_cols=time_cols)
            return seal

        self.trades_w = TapeWriter(tick_root, collector, clock, config=config,
                                   schema=TRADES_SCHEMA, time_col="time_ns",
                                   sealer=sealer(("time_ns", "time_ns")))
        self.time_w = TapeWriter(time_root, collector, clock, config=config,
                                 schema=SERVER_TIME_SCHEMA, time_col="t_before_ns",
                                 sealer=sealer(("t_before_ns", "t_after_ns")))
        # Journals a crash left (we hold the collector's lock): seal them first.
        recover_side_streams(self.root, clock.now_ns(), collector, lock_held=True)
        self.trades = {s: _Buffer(TRADES_SCHEMA, last_seq(tick_root, s, collector) + 1)
                       for s in symbols}
        self.samples = {s: _Buffer(SERVER_TIME_SCHEMA, last_seq(time_root, s, collector) + 1)
                        for s in symbols}
        self._last_ms: dict[str, int | None] = {s: None for s in symbols}
        self._n_at_last: dict[str, int] = {s: 0 for s in symbols}
        self._due_ns: dict[str, int] = {s: 0 for s in symbols}
        self._last_tick: dict[str, Any] = {}
        self._last_flush = clock.now_ns()

    # -- server-time samples ------------------------------------------------------------
    def sample(self, symbol: str, t_before: int, t_after: int, tick: Any, book_changed: bool,
               book_ns: int, tick_ns: int) -> None:
        """One poll's tick; stored when the book or the tick changed."""
        if tick is None:
            return
        if not book_changed and tick == self._last_tick.get(symbol):
            return
        self._last_tick[symbol] = tick
        self.samples[symbol].add(t_before_ns=t_before, t_after_ns=t_after,
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
        buf = self.trades[symbol]
        for r in new.tolist():
            rec = dict(zip(arr.dtype.names, r))
            buf.add(time_ns=int(rec["time_msc"]) * 1_000_000, time_msc=int(rec["time_msc"]),
                    bid=float(rec["bid"]), ask=float(rec["ask"]), last=float(rec["last"]),
                    volume=int(rec["volume"]), flags=int(rec["flags"]),
                    volume_real=float(rec["volume_real"]), t_fetch_ns=now)
        newest = int(t[-1])
        self._n_at_last[symbol] = int(np.count_nonzero(t == newest))
        self._last_ms[symbol] = newest
        return len(new)

    # -- storage -------------------------------------------------------------------------------
    def maintain(self, force: bool = False) -> None:
        """Append buffered rows (about every 250 ms) and let the writers rotate and fsync."""
        now = self.clock.now_ns()
        if not force and now - self._last_flush < 250_000_000:
            return
        self._last_flush = now
        for w, bufs in ((self.trades_w, self.trades), (self.time_w, self.samples)):
            for sym, buf in bufs.items():
                b = buf.take()
                if b is not None:
                    w.append(sym, b)
            w.tick()

    def close(self) -> None:
        self.maintain(force=True)
        self.trades_w.close()
        self.time_w.close()


def read_stream(root: str | Path, stream: str, symbol: str | None = None,
                collector: str | None = None) -> pa.Table:
    """The sealed rows of ``ticks`` (trades) or ``server_time`` under a tape, seq order."""
    base = Path(root) / {"ticks": TICKS_DIR, "server_time": SERVER_TIME_DIR}[stream]
    schema = TRADES_SCHEMA if stream == "ticks" else SERVER_TIME_SCHEMA
    tables = []
    for d in partition_dirs(base, symbol, collector):
        for p in sorted(d.glob("part-*.parquet")):
            t = pq.read_table(p)
            sym = d.parent.parent.name.partition("=")[2]
            col = d.name.partition("=")[2]
            t = t.append_column("symbol", pa.array([sym] * t.num_rows, pa.string()))
            t = t.append_column("collector", pa.array([col] * t.num_rows, pa.string()))
            tables.append(t)
    if not tables:
        return schema.empty_table().append_column(
            "symbol", pa.array([], pa.string())).append_column("collector", pa.array([], pa.string()))
    out = pa.concat_tables(tables, promote_options="permissive")
    return out.sort_by([("symbol", "ascending"), ("collector", "ascending"), ("seq", "ascending")])
