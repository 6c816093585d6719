"""``ring``: a single-producer single-consumer ring in ``multiprocessing.shared_memory``.

The poller packs each changed state straight into the ring (:class:`RingPacker`)
and publishes a chunk with one position store; a saver process reads it
there. Neither ever waits for the other. The ring is also the acquirer's
backlog: a chunk's space is freed only when the saver acknowledges it
durable, so a saver that dies loses nothing: its successor reads the ring
again from the oldest unacknowledged chunk, and nothing is copied or sent
twice. Positions are two monotonically increasing int64 words in the ring's
header: the published write position and the freed position, both written
by the poller only, after the bytes they cover. That ordering is all the
synchronisation needed on x86-64 and on ARM64 Windows/macOS under CPython,
whose bytecode dispatch places full barriers between the payload writes and
the position store.

Of the six topologies this one keeps the poll gaps tightest, within the
noise of the same loop with storage disabled (BENCHMARKS.md, "Topologies").
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from functools import partial
from itertools import chain
from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Any

import numpy as np

from ..capture.frame import (
    HEADER,
    HEADER_SIZE,
    LEVEL_SIZE,
    PREFIX,
    ChunkBuilder,
    decode,
    levels_struct,
)
from ..capture.loop import CaptureResult, StopFlag
from ..capture.stats import Stats
from ..clock import SystemClock
from ..errors import BooktapeError
from ..events import Event, EventSink
from ..model import Book
from . import RecordPlan, _tracker
from ._channels import DATA, END
from ._child import Control, become_helper, track_segment
from ._helpers import limit_threads, save_loop
from ._shm import remove_dead_segments, segment_name
from .supervisor import Supervisor, acquire

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._child import Context

log = logging.getLogger(__name__)

HEADER_BYTES = 64  # [published write position, freed position], padded to a cache line
RECORD = struct.Struct("<iiq")  # payload length, kind, chunk number
WRAP = 3
RING_BYTES = 64 << 20
MIN_RING_BYTES = 1 << 20


def _aligned(n: int) -> int:
    return (n + 7) & ~7


def ring_bytes(buffer_bytes: int | None, shm_free: int | None = None) -> int:
    """The ring's size: 64 MiB, or less when the caller set a smaller buffer.

    Chunks stay in the ring until durable, so the saver fsyncs early when the
    ring fills (see ``ring_saver_main``) rather than only every --sync-every.
    ``shm_free`` (bytes free in /dev/shm) caps it at half of that: Docker's
    default /dev/shm is 64 MB, and touching a page past a full tmpfs is a
    SIGBUS, not an error.
    """
    cap = RING_BYTES if buffer_bytes is None else min(RING_BYTES, buffer_bytes)
    if shm_free is not None:
        cap = min(cap, shm_free // 2)
    cap = max(MIN_RING_BYTES, cap) & ~7
    if shm_free is not None and cap + HEADER_BYTES > shm_free:
        raise BooktapeError(
            f"only {shm_free >> 20} MiB free in /dev/shm; the ring topology needs at least "
            f"{(2 * MIN_RING_BYTES) >> 20} MiB (e.g. `docker run --shm-size 256m`), or use "
            f"--topology pipe")
    return cap


def shm_free_bytes() -> int | None:
    """Bytes free where POSIX shared memory lives (None where that is not a file system)."""
    try:
        st = os.statvfs("/dev/shm")
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


class Ring:
    """The ring's shared state; either end constructs one over the same buffer."""

    def __init__(self, buf: memoryview, capacity: int) -> None:
        self.buf = buf
        self.cap = capacity
        self.pos = np.ndarray((2,), dtype=np.int64, buffer=buf[:16])
        self.data = buf[HEADER_BYTES:HEADER_BYTES + capacity]

    # -- the producer's side (the poller) ------------------------------------
    def region(self, need: int) -> tuple[int, int] | None:
        """Where a record of at least ``need`` bytes can start now, and how much room it has.

        Returns ``(position, room)`` with ``room >= need`` contiguous bytes,
        wrapping to the start of the ring if the tail is too short; None if
        the unfreed records leave no room.
        """
        w = int(self.pos[0])
        free = self.cap - (w - int(self.pos[1]))
        at = w % self.cap
        tail = self.cap - at
        if need <= tail:
            return (w, min(tail, free)) if need <= free else None
        if tail + need > free:
            return None
        if tail >= RECORD.size:
            RECORD.pack_into(self.data, at, 0, WRAP, 0)
        return w + tail, free - tail

    def put(self, kind: int, n: int, payload: bytes) -> tuple[int, int] | None:
        """Append and publish a record if it fits now: its (start, end); None if too full."""
        size = RECORD.size + len(payload)
        need = _aligned(size)
        if need > self.cap // 2:
            raise BooktapeError(f"a {len(payload)} byte chunk does not fit the {self.cap} byte ring")
        got = self.region(need)
        if got is None:
            return None
        w = got[0]
        at = w % self.cap
        RECORD.pack_into(self.data, at, len(payload), kind, n)
        self.data[at + RECORD.size:at + size] = payload
        self.pos[0] = w + need  # publish after the bytes
        return w, w + need

    def free_to(self, end: int) -> None:
        """Everything before ``end`` is acknowledged: its space may be reused."""
        self.pos[1] = end

    def read(self, start: int) -> bytes:
        """The payload of the (published, unfreed) record at ``start``."""
        at = start % self.cap
        length = RECORD.unpack_from(self.data, at)[0]
        return bytes(self.data[at + RECORD.size:at + RECORD.size + length])

    def release(self) -> None:
        """Drop our views so the segment can be closed."""
        del self.pos
        self.data.release()


class RingReader:
    """The consumer's cursor: it starts at the oldest unfreed record and never frees."""

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.r = int(ring.pos[1])

    def get(self) -> tuple[int, int, bytes] | None:
        """The next published record, or None if there is none yet."""
        ring = self.ring
        while True:
            r = self.r
            if r == int(ring.pos[0]):
                return None
            at = r % ring.cap
            tail = ring.cap - at
            if tail < RECORD.size:
                self.r = r + tail
                continue
            length, kind, n = RECORD.unpack_from(ring.data, at)
            if kind == WRAP:
                self.r = r + tail
                continue
            payload = bytes(ring.data[at + RECORD.size:at + RECORD.size + length])
            self.r = r + _aligned(RECORD.size + length)
            return kind, n, payload


class Kept:
    """A chunk the ring keeps until acknowledged (a :class:`~.backlog.Held`)."""

    __slots__ = ("ring", "start", "end", "nbytes")

    def __init__(self, ring: Ring, start: int, end: int) -> None:
        self.ring = ring
        self.start = start
        self.end = end
        self.nbytes = end - start

    def payload(self) -> bytes:
        return self.ring.read(self.start)

    def free(self) -> None:
        self.ring.free_to(self.end)


class RingPacker:
    """The poller's packer for ``ring``: each state is packed in place, in the ring.

    Measured here (BENCHMARKS.md): with a private buffer the poll that ends a
    128-state chunk paid for two copies of ~170 kB (the chunk, then into the
    ring): 29 us median and 69 us p99 alone (``benchmarks/bench_handoff.py``),
    52 us and 266 us inside a recording, which was the ring's whole poll-gap
    tail. Packing in place costs the same per state and a chunk is published
    by a few stores (13x cheaper at p50). When the ring cannot take the chunk
    in place (no room, or chunks queued ahead of it) the
    chunk is packed privately and takes the backlog's path, so order and the
    no-loss rules are the same either way.
    """

    def __init__(self, sup: Supervisor, ring: Ring, slots: int) -> None:
        self.sup = sup
        self.ring = ring
        self.data = ring.data
        self.slots = slots  # header slots reserved per chunk
        self.head = RECORD.size + PREFIX.size + HEADER_SIZE * slots
        self.private = ChunkBuilder()
        self.snapshots = 0
        self.in_place = False
        self.w = self.ho = self.lo = self.limit = self.levels = 0

    def add(self, sym: int, seq: int, t_before: int, t_after: int, unchanged: int,
            blind: int, book: Book) -> None:
        n = len(book)
        if not self.snapshots:
            self._begin(n)
        elif self.in_place and (self.snapshots == self.slots
                                or self.lo + LEVEL_SIZE * n > self.limit):
            self.sup.handoff(self._publish())  # this chunk is full: the state starts the next
            self._begin(n)
        if not self.in_place:
            self.private.add(sym, seq, t_before, t_after, unchanged, blind, book)
            self.snapshots += 1
            return
        HEADER.pack_into(self.data, self.ho, sym, n, unchanged, seq, t_before, t_after, blind)
        if n:
            levels_struct(n).pack_into(self.data, self.lo, *chain.from_iterable(book))
        self.ho += HEADER_SIZE
        self.lo += LEVEL_SIZE * n
        self.levels += n
        self.snapshots += 1

    def _begin(self, n: int) -> None:
        need = self.head + LEVEL_SIZE * n
        got = None
        if self.sup.gen is not None and self.sup.backlog.may_hold():
            got = self.ring.region(need)
        self.in_place = got is not None
        if got is None:
            return
        self.w, room = got
        at = self.w % self.ring.cap
        self.ho = at + RECORD.size + PREFIX.size
        self.lo = at + self.head
        self.limit = at + min(room, self.ring.cap // 2)
        self.levels = 0

    def _publish(self) -> Kept:
        at = self.w % self.ring.cap
        length = self.lo - at - RECORD.size
        RECORD.pack_into(self.data, at, length, DATA, self.sup.backlog.next)
        PREFIX.pack_into(self.data, at + RECORD.size, self.snapshots, self.levels, self.slots, 0)
        end = self.w + _aligned(RECORD.size + length)
        self.ring.pos[0] = end  # publish after the bytes
        gen = self.sup.gen
        if isinstance(gen, RingDownstream):
            gen.wake.release()
        self.snapshots = 0
        self.in_place = False
        return Kept(self.ring, self.w, end)

    def take(self) -> bytes | Kept:
        if self.in_place:
            return self._publish()
        self.snapshots = 0
        return self.private.take()


def _register_segment(shm: shared_memory.SharedMemory) -> None:
    if os.name != "nt":
        from multiprocessing import resource_tracker

        resource_tracker.register(shm._name, "shared_memory")  # type: ignore[attr-defined]


def _attach(name: str) -> shared_memory.SharedMemory:
    return _tracker.attach(name)


#: Longest the saver sleeps with nothing to do (parent checks, fsync cadence).
WAKE_TIMEOUT_S = 0.05


def ring_saver_main(plan: RecordPlan, stats: Stats, control: Control, first: int,
                    shm_name: str, capacity: int, wake: Any) -> None:
    ppid = become_helper()
    limit_threads()
    shm = _attach(shm_name)
    assert shm.buf is not None  # an attached segment always has a buffer
    ring = Ring(shm.buf, capacity)
    reader = RingReader(ring)

    def recv(timeout: float) -> tuple[int, int, memoryview] | None:
        got = reader.get()
        if got is None:
            # Block until the poller says a record is there (one semaphore post
            # per chunk, ~20/s) rather than waking every few ms to look: every
            # needless wake-up on a 2-core machine is a chance to delay a poll.
            wake.acquire(timeout=max(timeout, WAKE_TIMEOUT_S))
            got = reader.get()
            if got is None:
                return None
        kind, n, payload = got
        return kind, n, memoryview(payload)

    # The ring frees a chunk's space only once it is acknowledged, so the fsync
    # cadence alone would cap throughput at one ring per --sync-every. Sync
    # early when what was read but not freed passes a quarter of the ring, then
    # at most once per further eighth read.
    next_sync = [0]

    def pressed() -> bool:
        r = reader.r
        if r - int(ring.pos[1]) > capacity // 4 and r >= next_sync[0]:
            next_sync[0] = r + capacity // 8
            return True
        return False

    try:
        save_loop(plan, stats, control, first, recv, decode, ppid, pressed)
    finally:
        ring.release()
        shm.close()


class RingDownstream:
    """One generation: a saver reading the ring from its oldest unacknowledged chunk."""

    def __init__(self, ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
                 first: int, *, ring: Ring, shm_name: str) -> None:
        self.control = control
        self.ring = ring
        self.wake = ctx.Semaphore(0)
        p = ctx.Process(target=ring_saver_main, name="booktape-saver",
                        args=(plan, stats, control, first, shm_name, ring.cap, self.wake))
        p.start()
        self.procs: list[BaseProcess] = [p]

    def try_send(self, n: int, chunk: bytes) -> bool | Kept:
        span = self.ring.put(DATA, n, chunk)
        if span is None:
            return False
        self.wake.release()
        return Kept(self.ring, *span)

    def try_end(self, last: int) -> bool:
        if self.ring.put(END, last, b"") is None:
            return False
        self.wake.release()
        return True

    def close(self) -> None:
        """Nothing to release: the ring outlives generations (``run`` removes it)."""


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    _tracker.install()
    removed = remove_dead_segments()
    if removed:
        total = sum(r.bytes for r in removed)
        events.emit(Event("shm_cleanup", SystemClock().now_ns(), collector=plan.collector,
                          count=len(removed), detail={
                              "segments": [r.name for r in removed], "bytes": total,
                              "session": plan.session}))
        log.warning("removed %d shared-memory segment(s) of recorders no longer alive "
                    "(%d MiB): %s", len(removed), total >> 20,
                    ", ".join(r.name for r in removed))
    cap = ring_bytes(plan.buffer_bytes, shm_free_bytes())
    name = segment_name()
    try:
        shm = shared_memory.SharedMemory(name=name, create=True, size=HEADER_BYTES + cap)
    except OSError as e:
        raise BooktapeError(f"cannot create the ring's {cap >> 20} MiB of shared memory: "
                            f"{e.strerror or e}; use --topology pipe") from None
    track_segment(shm)
    try:
        assert shm.buf is not None
        # Touch every page now, not on the poll whose state first lands in it.
        np.frombuffer(shm.buf, dtype=np.uint8)[:] = 0
        ring = Ring(shm.buf, cap)
        try:
            slots = plan.capture.chunk_snapshots + len(plan.capture.symbols)

            def packer(sup: Supervisor) -> RingPacker:
                # A relaunched resource tracker must know the segment, or nothing
                # removes it if we are killed (and our unlink confuses it).
                sup.on_tracker_restart = partial(_register_segment, shm)
                return RingPacker(sup, ring, slots)

            return acquire(plan, stop, stats, events, on_tick,
                           partial(RingDownstream, ring=ring, shm_name=name), packer=packer)
        finally:
            ring.release()
    finally:
        shm.close()
        try:
            shm.unlink()
        except FileNotFoundError:
            pass  # already gone (a relaunched resource tracker's cleanup): nothing to free
        track_segment(shm, live=False)
