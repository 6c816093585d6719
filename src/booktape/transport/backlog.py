"""What the acquirer has handed off but not yet seen acknowledged as durable.

Chunks are numbered 0, 1, 2... per session. Each stays here until the saver
acknowledges "durable through chunk n"; only then is its memory freed, so a
helper that dies loses nothing: the supervisor rewinds and everything
unacknowledged is sent again (at-least-once; seal removes duplicates by seq).
Past ``limit_bytes`` in memory, new chunks go to the overflow journal
(:mod:`.spill`) instead, and come back from it when they are sent.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from .spill import SpillFile


class Backlog:
    """Unacknowledged chunks in order: ``[acked+1 .. sent)`` in flight, ``[sent .. next)`` queued."""

    def __init__(self, limit_bytes: int, spill_path: Path) -> None:
        self.limit = limit_bytes
        self.spill = SpillFile(spill_path)
        # Entries are bytes (in memory) or (offset, length) in the spill file.
        self._items: deque[bytes | tuple[int, int]] = deque()
        self.first = 0  # chunk number of _items[0]
        self.next = 0  # number the next chunk gets
        self.sent = 0  # first number not yet sent downstream
        self.mem_bytes = 0
        self.spilled_chunks = 0  # currently in the spill file
        self.spill_episode_chunks = 0

    @property
    def acked(self) -> int:
        """Highest chunk number known durable (-1: none)."""
        return self.first - 1

    def add(self, chunk: bytes) -> int:
        """Keep a new chunk; returns its number. Never blocks on downstream."""
        n = self.next
        self.next += 1
        if self.spilled_chunks or self.mem_bytes + len(chunk) > self.limit:
            # Once spilling, keep spilling until drained: order in the file is chunk order.
            self._items.append(self.spill.append(chunk))
            self.spilled_chunks += 1
            self.spill_episode_chunks += 1
        else:
            self._items.append(chunk)
            self.mem_bytes += len(chunk)
        return n

    def get(self, n: int) -> bytes:
        item = self._items[n - self.first]
        if isinstance(item, bytes):
            return item
        return self.spill.read(*item)

    def unsent(self) -> int:
        return self.next - self.sent

    def ack(self, n: int) -> None:
        """Everything through chunk ``n`` is durable: free it."""
        while self.first <= n and self._items:
            item = self._items.popleft()
            self.first += 1
            if isinstance(item, bytes):
                self.mem_bytes -= len(item)
            else:
                self.spilled_chunks -= 1
        self.sent = max(self.sent, self.first)
        if not self.spilled_chunks:
            self.spill.reset()

    def rewind(self) -> int:
        """Downstream was replaced: everything unacknowledged is to be sent again."""
        resend = self.sent - self.first
        self.sent = self.first
        return resend

    def close(self) -> None:
        self.spill.close()
