"""The ``--ticks`` side streams as tape files: their schemas, buffers and writers.

Trades and server-time samples are tapes of their own beside the book
partitions, invisible to book readers::

    DATA/_ticks/symbol=S/date=D/collector=C/part-NNNNNN.parquet        trades
    DATA/_server_time/symbol=S/date=D/collector=C/part-NNNNNN.parquet  samples

A source only produces rows (``sources/ticks.py``); writing them — journals,
rotation, seals, recovery of what a crash left — is the tape's job, with the
same writer and sealer the books use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..clock import Clock
from .layout import SERVER_TIME_DIR, TICKS_DIR
from .manifest import last_seq
from .recover import recover_side_streams
from .seal import seal_journal
from .writer import TapeWriter, WriterConfig

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

#: The side streams by name: (directory under the tape, schema, time columns).
STREAMS: dict[str, tuple[str, pa.Schema, tuple[str, str]]] = {
    "ticks": (TICKS_DIR, TRADES_SCHEMA, ("time_ns", "time_ns")),
    "server_time": (SERVER_TIME_DIR, SERVER_TIME_SCHEMA, ("t_before_ns", "t_after_ns")),
}


class RowBuffer:
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


class SideStreamWriter:
    """Buffered rows of the side streams of a set of symbols, appended to their journals.

    Args:
        root: The tape directory (``--out``).
        collector: This recorder's name (a partition key, as for books).
        symbols: Symbols recorded.
        clock: Wall clock for the writers' cadence and the seal stamps.
        config: Rotation and fsync cadence (the book writer's defaults).
    """

    def __init__(self, root: str | Path, collector: str, symbols: tuple[str, ...],
                 clock: Clock, config: WriterConfig | None = None) -> None:
        self.root = Path(root)
        self.clock = clock

        def sealer(time_cols: tuple[str, str]) -> Callable[[str, Path], None]:
            def seal(symbol: str, journal: Path) -> None:
                seal_journal(journal, clock.now_ns(), keys=("seq",), time_cols=time_cols)
            return seal

        self.writers: dict[str, TapeWriter] = {}
        self.buffers: dict[str, dict[str, RowBuffer]] = {}
        # Journals a crash left (the caller holds the collector's lock): seal them first.
        recover_side_streams(self.root, clock.now_ns(), collector, lock_held=True)
        for name, (sub, schema, time_cols) in STREAMS.items():
            base = self.root / sub
            self.writers[name] = TapeWriter(base, collector, clock, config=config, schema=schema,
                                            time_col=time_cols[0], sealer=sealer(time_cols))
            self.buffers[name] = {s: RowBuffer(schema, last_seq(base, s, collector) + 1)
                                  for s in symbols}
        self._last_flush = clock.now_ns()

    def add(self, stream: str, symbol: str, **row: Any) -> None:
        """Buffer one row of ``stream`` (``ticks`` or ``server_time``); its seq is assigned here."""
        self.buffers[stream][symbol].add(**row)

    def maintain(self, force: bool = False) -> None:
        """Append buffered rows (about every 250 ms) and let the writers rotate and fsync."""
        now = self.clock.now_ns()
        if not force and now - self._last_flush < 250_000_000:
            return
        self._last_flush = now
        for name, w in self.writers.items():
            for sym, buf in self.buffers[name].items():
                b = buf.take()
                if b is not None:
                    w.append(sym, b)
            w.tick()

    def sync(self) -> None:
        """Make every appended row durable now (fsync the open journals)."""
        for w in self.writers.values():
            w.sync()

    def close(self) -> None:
        self.maintain(force=True)
        for w in self.writers.values():
            w.close()
