"""The overflow journal: chunks the acquirer cannot keep in memory, on local disk.

Plain length-prefixed records appended to one file per session. Nothing here
is fsync'd: the overflow journal only has to survive a slow or restarting
saver, not a power cut (the acquirer's memory would not survive that either).
"""

from __future__ import annotations

import os
from pathlib import Path


class SpillFile:
    """Append chunks, read them back by (offset, length), truncate when drained."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.size = 0
        self.total_bytes = 0  # ever spilled, for stats and events

    def append(self, chunk: bytes) -> tuple[int, int]:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        off = self.size
        view = memoryview(chunk)
        while view:
            n = os.pwrite(self._fd, view, off + len(chunk) - len(view))
            view = view[n:]
        self.size += len(chunk)
        self.total_bytes += len(chunk)
        return off, len(chunk)

    def read(self, off: int, length: int) -> bytes:
        assert self._fd is not None
        return os.pread(self._fd, length, off)

    def reset(self) -> None:
        """Everything spilled was acknowledged: give the disk space back."""
        if self._fd is not None and self.size:
            os.ftruncate(self._fd, 0)
            self.size = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.path.unlink(missing_ok=True)
