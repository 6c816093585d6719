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

_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))


class Journal:
    """One open journal file."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self._f: BinaryIO = open(path, "wb")
        self._w = pa.ipc.new_stream(self._f, schema, options=_OPTIONS)
        self.bytes_written = 0
        self._dirty = False

    def append(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.Table):
            self._w.write_table(batch)
        else:
            self._w.write_batch(batch)
        self._dirty = True

    def sync(self) -> None:
        """Flush Python's and the OS's buffers to the device."""
        if self._dirty:
            self._f.flush()
            os.fsync(self._f.fileno())
            self.bytes_written = self._f.tell()
            self._dirty = False

    def close(self) -> None:
        """End the stream cleanly and make it durable."""
        if not self._f.closed:
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
