"""The publisher's bounded buffer: chunks in memory up to a limit, then in a spill file, in order.

Everything offered is already durable in the local tape, so the spill file
needs no fsync: after a crash it is deleted and the cursor plus the tape say
what to re-send. Memory items always precede spilled ones (once a chunk
spills, later chunks spill too until the file is drained), so order holds.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from ..schema import BOOK_SCHEMA


@dataclass(frozen=True)
class Item:
    symbol: str
    first: int
    last: int
    batch: pa.RecordBatch | pa.Table
    snapshots: int


class Spool:
    """FIFO of :class:`Item`; ``put`` never blocks on the consumer (one lock, no waits)."""

    def __init__(self, spill_path: Path, memory_limit: int) -> None:
        self.spill_path = spill_path
        self.memory_limit = memory_limit
        self._mem: deque[Item] = deque()
        self._mem_bytes = 0
        self._lock = threading.Lock()
        self._w: BinaryIO | None = None
        self._r: BinaryIO | None = None
        self._on_disk = 0
        self.spilled = 0  # chunks that ever went to the spill file

    def __len__(self) -> int:
        return len(self._mem) + self._on_disk

    @property
    def memory_bytes(self) -> int:
        return self._mem_bytes

    def put(self, item: Item) -> None:
        with self._lock:
            if self._on_disk or self._mem_bytes + item.batch.nbytes > self.memory_limit:
                self._spill(item)
            else:
                self._mem.append(item)
                self._mem_bytes += item.batch.nbytes

    def peek(self) -> Item | None:
        with self._lock:
            if self._mem:
                return self._mem[0]
            if self._on_disk:
                self._mem.append(self._read_one())
                self._mem_bytes += self._mem[0].batch.nbytes
                return self._mem[0]
            return None

    def pop(self) -> None:
        with self._lock:
            it = self._mem.popleft()
            self._mem_bytes -= it.batch.nbytes

    def close(self) -> None:
        with self._lock:
            for f in (self._w, self._r):
                if f is not None:
                    f.close()
            self._w = self._r = None
            self.spill_path.unlink(missing_ok=True)

    # -- the spill file: [u16 symbol length][symbol][u64 length][Arrow IPC stream]
    def _spill(self, item: Item) -> None:
        if self._w is None:
            self.spill_path.parent.mkdir(parents=True, exist_ok=True)
            self._w = open(self.spill_path, "wb")
            self._r = open(self.spill_path, "rb")
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, BOOK_SCHEMA) as w:
            w.write(item.batch)
        buf = sink.getvalue()
        sym = item.symbol.encode()
        self._w.write(len(sym).to_bytes(2, "little") + sym + buf.size.to_bytes(8, "little"))
        self._w.write(buf)
        self._w.flush()
        self._on_disk += 1
        self.spilled += 1

    def _read_one(self) -> Item:
        assert self._r is not None and self._w is not None
        n = int.from_bytes(self._r.read(2), "little")
        sym = self._r.read(n).decode()
        size = int.from_bytes(self._r.read(8), "little")
        t = pa.ipc.open_stream(pa.py_buffer(self._r.read(size))).read_all()
        self._on_disk -= 1
        if self._on_disk == 0:
            # Drained: start the file over so it never grows past one outage.
            self._w.seek(0)
            self._w.truncate()
            self._r.seek(0)
        return make_item(sym, t)


def make_item(symbol: str, batch: pa.RecordBatch | pa.Table) -> Item:
    import numpy as np
    import pyarrow.compute as pc

    seq = batch.column("seq")
    snaps = int(np.count_nonzero(batch.column("level").to_numpy() <= 0))
    return Item(symbol, int(pc.min(seq).as_py()), int(pc.max(seq).as_py()), batch, snaps)
