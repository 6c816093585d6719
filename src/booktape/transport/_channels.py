"""Byte-message channels between topology processes: Pipes and Queues.

A message is a 16-byte header ``<qq`` (kind, chunk number) and a payload.
The acquirer's end never blocks: :class:`PipeSender` writes to a
non-blocking pipe and keeps the unwritten rest of at most one message,
:class:`QueueSender` uses ``put_nowait`` on a bounded queue. Helpers'
ends may block (nothing is polled there), with a timeout so they notice a
dead supervisor.
"""

from __future__ import annotations

import os
import queue
import struct
import sys
import threading
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._child import Control

DATA, END = 1, 2
HEADER = struct.Struct("<qq")

#: Windows pipe handles have no O_NONBLOCK, so there a thread feeds the pipe;
#: BOOKTAPE_PIPE_SENDER=thread selects that path elsewhere too (it is tested on Linux).
THREADED_SENDER = os.name == "nt" or os.environ.get("BOOKTAPE_PIPE_SENDER") == "thread"

PIPE_BYTES = 1 << 20  # Linux caps unprivileged pipes at /proc/sys/fs/pipe-max-size (1 MiB)
QUEUE_MESSAGES = 64


def message(kind: int, n: int, payload: bytes = b"") -> list[bytes]:
    return [HEADER.pack(kind, n), payload]


def parse(msg: bytes) -> tuple[int, int, memoryview]:
    kind, n = HEADER.unpack_from(msg)
    return kind, n, memoryview(msg)[HEADER.size:]


def grow_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe buffer (default 64 KiB: one 100 kB chunk does not fit)."""
    if sys.platform.startswith("linux"):
        import fcntl

        try:
            fcntl.fcntl(fd, 1031, PIPE_BYTES)  # F_SETPIPE_SZ
        except OSError:
            pass


class PipeSender:
    """The acquirer's end of a ``multiprocessing.Pipe``: non-blocking, framed like ``send_bytes``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._out: deque[memoryview] = deque()
        self._threaded = THREADED_SENDER
        if self._threaded:
            self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
            self._t = threading.Thread(target=self._feed, daemon=True)
            self._t.start()
        else:
            self._fd = conn.fileno()
            os.set_blocking(self._fd, False)
            grow_pipe(self._fd)

    def _feed(self) -> None:
        while (m := self._q.get()) is not None:
            try:
                self.conn.send_bytes(m)
            except OSError:
                return

    def flush(self) -> bool:
        """Write what the pipe takes now; True when nothing is left over."""
        out = self._out
        while out:
            try:
                k = os.write(self._fd, out[0])
            except (BlockingIOError, BrokenPipeError):
                # Broken: the reader died. Keep everything; the supervisor sees the
                # dead helper and replaces this pipe with the whole generation.
                return False
            if k == len(out[0]):
                out.popleft()
            else:
                out[0] = out[0][k:]
        return True

    def try_send(self, parts: list[bytes]) -> bool:
        if self._threaded:
            try:
                self._q.put_nowait(b"".join(parts))
                return True
            except queue.Full:
                return False
        if not self.flush():
            return False
        size = sum(len(p) for p in parts)
        # The framing of Connection.send_bytes, so the reader uses recv_bytes.
        self._out.append(memoryview(struct.pack("!i", size)))
        self._out.extend(memoryview(p) for p in parts if p)
        self.flush()
        return True

    def drained(self) -> bool:
        """True once every accepted message is wholly in the pipe (the feeder thread's
        own blocking sends finish what it holds).

        ``try_send`` accepts a message whose tail still waits in ``_out``; only the
        next ``try_send`` would push it. The END message has no next one: without
        this, an END accepted while the pipe was full (a restarted generation gets
        the whole backlog at once) stayed half-written and the recorder waited on
        its helpers forever.
        """
        return self._threaded or self.flush()

    def close(self) -> None:
        if self._threaded:
            try:
                self._q.put_nowait(None)
            except queue.Full:
                pass  # the feeder is stuck on a dead reader: closing the pipe ends it
        self.conn.close()


class QueueSender:
    """The acquirer's end of a bounded ``multiprocessing.Queue``."""

    def __init__(self, q: Any) -> None:
        self.q = q

    def try_send(self, parts: list[bytes]) -> bool:
        try:
            self.q.put_nowait(b"".join(parts))
            return True
        except queue.Full:
            return False

    def drained(self) -> bool:
        return True  # put_nowait hands the whole message to the queue

    def close(self) -> None:
        # The reader may be dead: never let interpreter exit wait on the feeder thread.
        self.q.cancel_join_thread()
        self.q.close()


class Receiver:
    """A helper's inbound end: one or several pipes, or one queue."""

    def __init__(self, conns: list[Connection] | None = None, q: Any = None) -> None:
        self.conns = conns or []
        self.q = q
        self._ready: list[Connection] = []

    def recv(self, timeout: float) -> bytes | None:
        if self.q is not None:
            try:
                msg: bytes = self.q.get(timeout=timeout)
                return msg
            except queue.Empty:
                return None
        if not self._ready:
            self._ready = wait(self.conns, timeout)  # type: ignore[assignment]
            if not self._ready:
                return None
        return self._ready.pop().recv_bytes()


class BlockingSender:
    """A helper's outbound end (a packer's, to the saver): may block, never drops."""

    def __init__(self, conn: Connection | None = None, q: Any = None) -> None:
        self.conn = conn
        self.q = q

    def send(self, parts: list[bytes]) -> None:
        if self.q is not None:
            self.q.put(b"".join(parts))
        else:
            assert self.conn is not None
            self.conn.send_bytes(b"".join(parts))


class SenderDownstream:
    """A generation whose chunks reach one saver through one sender (a pipe or a queue)."""

    def __init__(self, procs: list[BaseProcess], control: Control,
                 out: PipeSender | QueueSender) -> None:
        self.procs = procs
        self.control = control
        self.out = out
        self._end_accepted = False

    def try_send(self, n: int, chunk: bytes) -> bool:
        return self.out.try_send(message(DATA, n, chunk))

    def try_end(self, last: int) -> bool:
        if not self._end_accepted:
            self._end_accepted = self.out.try_send(message(END, last))
        return self._end_accepted and self.out.drained()

    def close(self) -> None:
        self.out.close()
