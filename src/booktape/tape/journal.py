"""The append-only journal segment: a zstd-compressed Arrow IPC stream.

Batches are appended as they come and fsync'd on the writer's cadence. After a
crash the stream may end in a torn message; :func:`read_journal` keeps every
complete batch before it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from ..errors import JournalCorrupt

log = logging.getLogger(__name__)

# zstd-3 per batch of ~128 snapshots: 1.55 B/row at ~75 ns/row here, where
# zstd-1 was both slower and larger (3.4 B/row), lz4 2.3 B/row, none 55 B/row.
_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=3))


class Journal:
    """One open journal file.

    Appended batches are held until :meth:`sync` (the writer's fsync cadence,
    1 s by default) or until ``max_pending_rows`` accumulate, then written as
    one IPC batch: data is only durable at fsync anyway, and one batch per
    second compresses to ~1.5 B/row where a batch per 50 ms chunk took 3 B/row.
    """

    def __init__(self, path: Path, schema: pa.Schema, max_pending_rows: int = 1 << 18) -> None:
        self.path = path
        self._f: BinaryIO = open(path, "wb")
        self._w = pa.ipc.new_stream(self._f, schema, options=_OPTIONS)
        self.bytes_written = 0
        self.max_pending_rows = max_pending_rows
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._dirty = False

    def append(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.Table):
            self._pending.extend(batch.to_batches())
        else:
            self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.max_pending_rows:
            self.flush()

    def flush(self) -> None:
        """Write pending batches to the OS as one batch (not yet durable)."""
        if self._pending:
            t = pa.Table.from_batches(self._pending).combine_chunks()
            self._w.write_table(t, max_chunksize=max(t.num_rows, 1))
            self._pending.clear()
            self._pending_rows = 0
            self._dirty = True

    def sync(self) -> None:
        """Flush pending batches, then Python's and the OS's buffers to the device."""
        self.flush()
        if self._dirty:
            self._f.flush()
            os.fsync(self._f.fileno())
            self.bytes_written = self._f.tell()
            self._dirty = False

    def close(self) -> None:
        """End the stream cleanly and make it durable."""
        if not self._f.closed:
            self.flush()
            self._w.close()
            self._f.flush()
            os.fsync(self._f.fileno())
            self.bytes_written = self._f.tell()
            self._f.close()


def read_journal(path: Path, schema: pa.Schema | None = None) -> tuple[pa.Table, bool]:
    """Every complete batch of a journal, and whether a torn tail was cut off."""
    try:
        f = pa.OSFile(str(path), "rb")
    except OSError as e:
        raise JournalCorrupt(f"cannot open journal {path}: {e}") from e
    with f:
        try:
            reader = pa.ipc.open_stream(f)
        except (pa.ArrowInvalid, OSError) as e:
            # Killed before the schema reached the disk: nothing was recorded.
            if path.stat().st_size < 4096:
                from ..schema import BOOK_SCHEMA

                return (schema or BOOK_SCHEMA).empty_table(), path.stat().st_size > 0
            raise JournalCorrupt(f"journal {path} is unreadable: {e}") from e
        batches = []
        torn = False
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError, EOFError) as e:
                torn = True
                log.warning("journal %s: torn tail cut after %d batches (%s)", path,
                            len(batches), e)
                break
        return pa.Table.from_batches(batches, schema=reader.schema), torn
