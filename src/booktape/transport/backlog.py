"""What the acquirer has handed off but not yet seen acknowledged as durable.

Chunks are numbered 0, 1, 2... per session. Each stays here until the saver
acknowledges "durable through chunk n"; only then is its memory freed, so a
helper that dies loses nothing: the supervisor rewinds and everything
unacknowledged is sent again (at-least-once; seal removes duplicates by seq).
Past ``limit_bytes`` in memory, new chunks go to the overflow journal
(:mod:`.spill`) instead, and come back from it when they are sent.

A channel that keeps what it carried until the acknowledgement (the ``ring``)
hands back a :class:`Held` for each chunk: the backlog then keeps that
instead of its own copy, frees it on acknowledgement, and does not send it
again to a new generation, which reads it where it is.
"""

from __future__ import annotations

import struct
from collections import deque
from pathlib import Path
from typing import Protocol

import xxhash

from .spill import SpillFile

#: Each spilled chunk is framed (magic, length, xxh3-64 of the chunk), so a
#: spill file left by a killed session can be replayed and its damage named (issue 11).
SPILL_FRAME = struct.Struct("<4sIQ")
SPILL_MAGIC = b"BTSP"


def spill_frame(chunk: bytes) -> bytes:
    return SPILL_FRAME.pack(SPILL_MAGIC, len(chunk), xxhash.xxh3_64_intdigest(chunk))


class Held(Protocol):
    """A chunk kept by the channel until acknowledged, in the channel's own memory."""

    nbytes: int

    def payload(self) -> bytes: ...

    def free(self) -> None:
        """The chunk is durable: the channel may reuse its space."""


Item = bytes | tuple[int, int] | Held


class Backlog:
    """Unacknowledged chunks in order: ``[acked+1 .. sent)`` in flight, ``[sent .. next)`` queued."""

    def __init__(self, limit_bytes: int, spill_path: Path) -> None:
        self.limit = limit_bytes
        self.spill = SpillFile(spill_path)
        # Entries are bytes (in memory), (offset, length) in the spill file, or Held.
        self._items: deque[Item] = deque()
        self.first = 0  # chunk number of _items[0]
        self.next = 0  # number the next chunk gets
        self.sent = 0  # first number not yet sent downstream
        self.mem_bytes = 0  # our own copies (held chunks are the channel's memory)
        self.held_bytes = 0
        self.spilled_chunks = 0  # currently in the spill file
        self.spill_episode_chunks = 0
        self.spill_error: OSError | None = None

    @property
    def acked(self) -> int:
        """Highest chunk number known durable (-1: none)."""
        return self.first - 1

    def add(self, chunk: bytes | Held) -> int:
        """Keep a new chunk; returns its number. Never blocks on downstream.

        A :class:`Held` chunk is already in the channel: it counts as sent, so
        it may only follow chunks that are sent too.
        """
        n = self.next
        self.next += 1
        if not isinstance(chunk, bytes):
            if self.sent != n:
                raise RuntimeError("a held chunk would overtake queued ones")
            self._items.append(chunk)
            self._count_held(chunk)
            self.sent = self.next
            return n
        over = self.spilled_chunks or self.mem_bytes + len(chunk) > self.limit
        if not (over and self._spill(chunk)):
            self._items.append(chunk)
            self.mem_bytes += len(chunk)
        return n

    def _spill(self, chunk: bytes) -> bool:
        """Append to the overflow journal; False (keep it in memory) if the disk refuses."""
        try:
            off, length = self.spill.append(spill_frame(chunk) + chunk)
            at = (off + SPILL_FRAME.size, length - SPILL_FRAME.size)
        except OSError as e:
            # Past the threshold but nowhere to put it: memory is the only place
            # left, and the saver (same disk) is failing too and will stop us.
            self.spill_error = e
            return False
        # Once spilling, keep spilling until drained: order in the file is chunk order.
        self._items.append(at)
        self.spilled_chunks += 1
        self.spill_episode_chunks += 1
        return True

    def get(self, n: int) -> bytes:
        item = self._items[n - self.first]
        if isinstance(item, bytes):
            return item
        if isinstance(item, tuple):
            return self.spill.read(*item)
        return item.payload()

    def hold(self, n: int, held: Held) -> None:
        """Chunk ``n`` was just sent and the channel keeps it: drop our copy."""
        i = n - self.first
        self._forget(self._items[i])
        self._items[i] = held
        self._count_held(held)

    def _count_held(self, held: Held) -> None:
        self.held_bytes += held.nbytes

    def _forget(self, item: Item) -> None:
        if isinstance(item, bytes):
            self.mem_bytes -= len(item)
        elif isinstance(item, tuple):
            self.spilled_chunks -= 1
        else:
            self.held_bytes -= item.nbytes
            item.free()

    def may_hold(self) -> bool:
        """Whether a new chunk may go straight into a keeping channel (none queued)."""
        return self.sent == self.next

    def unsent(self) -> int:
        return self.next - self.sent

    def ack(self, n: int) -> None:
        """Everything through chunk ``n`` is durable: free it."""
        while self.first <= n and self._items:
            self._forget(self._items.popleft())
            self.first += 1
        self.sent = max(self.sent, self.first)
        if not self.spilled_chunks:
            self.spill.reset()

    def rewind(self) -> int:
        """Downstream was replaced: everything unacknowledged is to be sent again."""
        kept = 0  # held chunks lead the backlog; the channel still has them
        for item in self._items:
            if isinstance(item, bytes | tuple) or self.first + kept >= self.sent:
                break
            kept += 1
        resend = self.sent - self.first - kept
        self.sent = self.first + kept
        return resend

    def close(self) -> None:
        self.spill.close()
