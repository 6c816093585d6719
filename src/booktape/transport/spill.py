"""The overflow journal: chunks the acquirer cannot keep in memory, on local disk.

Plain length-prefixed records appended to one file per session. Nothing here
is fsync'd: the overflow journal only has to survive a slow or restarting
saver, not a power cut (the acquirer's memory would not survive that either).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


class SpillFile:
    """Append chunks, read them back by (offset, length), truncate when drained."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A plain binary file, not os.pwrite/os.pread: Windows has neither (issue 10),
        # and only the acquirer's thread touches the file, so seek + write is safe.
        self._f: BinaryIO | None = None
        self.size = 0
        self.total_bytes = 0  # ever spilled, for stats and events

    def append(self, chunk: bytes) -> tuple[int, int]:
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC
                         | getattr(os, "O_BINARY", 0), 0o600)
            self._f = os.fdopen(fd, "r+b", buffering=0)
        off = self.size
        self._f.seek(off)
        view = memoryview(chunk)
        while view:  # an unbuffered write may be partial
            n = self._f.write(view)
            view = view[n or 0:]
        self.size += len(chunk)
        self.total_bytes += len(chunk)
        return off, len(chunk)

    def read(self, off: int, length: int) -> bytes:
        assert self._f is not None
        self._f.seek(off)
        data = self._f.read(length)
        assert data is not None and len(data) == length
        return data

    def reset(self) -> None:
        """Everything spilled was acknowledged: give the disk space back."""
        if self._f is not None and self.size:
            self._f.truncate(0)
            self.size = 0

    def close(self) -> None:
        if self._f is not None:
            self._f.close()  # before the unlink: Windows cannot delete an open file
            self._f = None
            self.path.unlink(missing_ok=True)
