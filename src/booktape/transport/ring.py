"""``ring``: a single-producer single-consumer ring in ``multiprocessing.shared_memory``.

The acquirer copies each packed chunk into the ring (one memcpy, no
pickling, no system call) and a saver process takes it out; neither ever
waits for the other. Positions are two monotonically increasing int64 words
in the ring's header, each written by one side only, after the bytes they
publish. That ordering is all the synchronisation needed on x86-64 and on
ARM64 Windows/macOS under CPython, whose bytecode dispatch places full
barriers between the payload copy and the position store.

This is the design that met the issue's gap targets (BENCHMARKS.md).
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Callable
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

from ..capture.frame import decode
from ..capture.loop import CaptureResult, StopFlag
from ..capture.stats import Stats
from ..errors import BooktapeError
from ..events import EventSink
from . import RecordPlan
from ._channels import DATA, END
from ._child import Control, become_helper
from ._helpers import limit_threads, save_loop
from .supervisor import acquire

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._child import Context

HEADER_BYTES = 64  # [write position, read position], padded to a cache line
RECORD = struct.Struct("<iiq")  # payload length, kind, chunk number
WRAP = 3
RING_BYTES = 64 << 20


class Ring:
    """One end of the ring over a shared-memory buffer (either end: same code)."""

    def __init__(self, buf: memoryview, capacity: int) -> None:
        self.buf = buf
        self.cap = capacity
        self.pos = np.ndarray((2,), dtype=np.int64, buffer=buf[:16])
        self.data = buf[HEADER_BYTES:HEADER_BYTES + capacity]

    def put(self, kind: int, n: int, payload: bytes) -> bool:
        """Append a record if it fits now; False if the ring is too full."""
        size = RECORD.size + len(payload)
        need = (size + 7) & ~7
        if need > self.cap // 2:
            raise BooktapeError(f"a {len(payload)} byte chunk does not fit the {self.cap} byte ring")
        w = int(self.pos[0])
        used = w - int(self.pos[1])
        at = w % self.cap
        tail = self.cap - at
        if need > tail:
            if used + tail + need > self.cap:
                return False
            if tail >= RECORD.size:
                RECORD.pack_into(self.data, at, 0, WRAP, 0)
            w += tail
            at = 0
        elif used + need > self.cap:
            return False
        RECORD.pack_into(self.data, at, len(payload), kind, n)
        self.data[at + RECORD.size:at + size] = payload
        self.pos[0] = w + need  # publish after the bytes
        return True

    def get(self) -> tuple[int, int, bytes] | None:
        """Take the oldest record, or None if the ring is empty."""
        while True:
            r = int(self.pos[1])
            if r == int(self.pos[0]):
                return None
            at = r % self.cap
            tail = self.cap - at
            if tail < RECORD.size:
                self.pos[1] = r + tail
                continue
            length, kind, n = RECORD.unpack_from(self.data, at)
            if kind == WRAP:
                self.pos[1] = r + tail
                continue
            payload = bytes(self.data[at + RECORD.size:at + RECORD.size + length])
            self.pos[1] = r + ((RECORD.size + length + 7) & ~7)  # free after copying out
            return kind, n, payload

    def release(self) -> None:
        """Drop our views so the segment can be closed."""
        del self.pos
        self.data.release()


def _attach(name: str) -> shared_memory.SharedMemory:
    return shared_memory.SharedMemory(name=name)


#: Longest the saver sleeps with nothing to do (parent checks, fsync cadence).
WAKE_TIMEOUT_S = 0.05


def ring_saver_main(plan: RecordPlan, stats: Stats, control: Control, first: int,
                    shm_name: str, capacity: int, wake: Any) -> None:
    ppid = become_helper()
    limit_threads()
    shm = _attach(shm_name)
    assert shm.buf is not None  # an attached segment always has a buffer
    ring = Ring(shm.buf, capacity)

    def recv(timeout: float) -> tuple[int, int, memoryview] | None:
        got = ring.get()
        if got is None:
            # Block until the poller says a record is there (one semaphore post
            # per chunk, ~20/s) rather than waking every few ms to look: every
            # needless wake-up on a 2-core machine is a chance to delay a poll.
            wake.acquire(timeout=max(timeout, WAKE_TIMEOUT_S))
            got = ring.get()
            if got is None:
                return None
        kind, n, payload = got
        return kind, n, memoryview(payload)

    try:
        save_loop(plan, stats, control, first, recv, decode, ppid)
    finally:
        ring.release()
        shm.close()


class RingDownstream:
    def __init__(self, ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
                 first: int, capacity: int = RING_BYTES) -> None:
        self.control = control
        name = f"booktape-{os.getpid()}-{secrets.token_hex(4)}"
        self.shm = shared_memory.SharedMemory(name=name, create=True,
                                              size=HEADER_BYTES + capacity)
        assert self.shm.buf is not None
        self.ring = Ring(self.shm.buf, capacity)
        self.ring.pos[:] = 0
        self.wake = ctx.Semaphore(0)
        try:
            p = ctx.Process(target=ring_saver_main, name="booktape-saver",
                            args=(plan, stats, control, first, self.shm.name, capacity,
                                  self.wake))
            p.start()
        except BaseException:
            self.close()
            raise
        self.procs: list[BaseProcess] = [p]

    def try_send(self, n: int, chunk: bytes) -> bool:
        if self.ring.put(DATA, n, chunk):
            self.wake.release()
            return True
        return False

    def try_end(self, last: int) -> bool:
        if self.ring.put(END, last, b""):
            self.wake.release()
            return True
        return False

    def close(self) -> None:
        self.ring.release()
        self.shm.close()
        self.shm.unlink()


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    return acquire(plan, stop, stats, events, on_tick, RingDownstream)
