"""The publisher: every chunk the local tape made durable goes to JetStream, in order, acknowledged.

A thread of the saving process (the saver, or the poller under
``sequential``) with its own asyncio loop: ``offer`` only appends to a
bounded :class:`~booktape.bus.spool.Spool` and never waits for the network.
The thread publishes one chunk at a time and waits for JetStream's
acknowledgement before the next, so a symbol's chunks enter the stream in
seq order even across reconnects (nats-py flushes its reconnect buffer after
the messages the dead connection swallowed; pipelining would let a later
chunk overtake a lost one). A chunk leaves the spool, and the cursor moves,
only after its ack. While the bus is down chunks wait (spilling past
``buffer_bytes``) and the same chunk is retried with capped back-off;
``bus_down``/``bus_up`` event rows say when, for how long and how much waited.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..clock import Clock, SystemClock
from ..errors import BusRefused
from ..events import Event, EventSink
from ..tape.tape import Tape
from .backfill import split_snapshots, unsent
from .codec import encode
from .config import PublishConfig
from .connect import connect
from .cursor import Cursor, bus_dir
from .spool import Item, Spool, make_item
from .stream import ensure_stream
from .subjects import subject_for

log = logging.getLogger(__name__)

BACKOFF_S = (0.1, 2.0)
CURSOR_EVERY_S = 0.5
#: Close waits this long for a bus that is down when the recording stops.
CLOSE_WHEN_DOWN_S = 1.0


class Publisher:
    """Downstream of the tape writer: ``offer`` durable batches, ``close`` at the end."""

    def __init__(self, cfg: PublishConfig, root: Path, collector: str, session: str,
                 symbols: Sequence[str], start_seq: Sequence[int], events: EventSink,
                 clock: Clock | None = None, diag_dir: str | None = None) -> None:
        self.cfg = cfg
        self.root = root
        # One listing and manifest cache for backfill and pruning (both run often).
        self.tape = Tape(root)
        self.collector = collector
        self.session = session
        self.events = events
        self.clock = clock or SystemClock()
        self.diag_dir = diag_dir
        self.cursor = Cursor.load(root, collector)
        for s, q in zip(symbols, start_seq):
            self.cursor.start(s, q)
        self.cursor.save(durable=True)
        d = bus_dir(root, collector)
        for stale in d.glob("spill-*.bin"):
            # A crashed predecessor's: everything in it is in the local tape,
            # and the cursor says what of that the stream lacks.
            stale.unlink(missing_ok=True)
        self.spool = Spool(d / f"spill-{session}-{os.getpid()}.bin", cfg.buffer_bytes)
        self._backfill: Iterator[Item] = self._unsent()
        self._stop = threading.Event()
        self._deadline: float | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = False
        self._closing_nc = False
        self.down_since: int | None = None
        self.published = 0
        self.published_snapshots = 0
        self.unsent_at_close = 0
        self.ack_ns = array("q")
        self._thread = threading.Thread(target=self._run, name="booktape-publisher", daemon=True)
        self._thread.start()

    # -- the saver's side --------------------------------------------------------
    def offer(self, symbol: str, batch: pa.RecordBatch) -> None:
        """Queue a batch that is durable in the local tape; never blocks on the bus."""
        if batch.num_rows == 0:
            return
        self.spool.put(make_item(symbol, batch))
        if self._idle:
            self._idle = False
            self._poke()

    def close(self) -> None:
        """Publish what is left (up to ``close_timeout_s``), save the cursor, stop the thread."""
        self._deadline = time.monotonic() + (
            CLOSE_WHEN_DOWN_S if self.down_since is not None else self.cfg.close_timeout_s)
        self._stop.set()
        self._poke()
        self._thread.join(self.cfg.close_timeout_s + self.cfg.ack_timeout_s + 5)
        left = len(self.spool)
        self.cursor.save(durable=True)
        self.spool.close()
        if left:
            self.unsent_at_close = left
            log.warning("bus %s: %d chunks not acknowledged yet; they stay in the local tape and "
                        "the next `booktape record --publish` for collector %s sends them",
                        self.cfg.bus.url, left, self.collector)
            self.events.emit(Event("bus_unsent", self.clock.now_ns(), collector=self.collector,
                                   count=left, detail={"url": self.cfg.bus.url,
                                                       "acked": dict(self.cursor.acked)}))
        if self.diag_dir:
            Path(self.diag_dir, f"publish-ack-{os.getpid()}.bin").write_bytes(self.ack_ns.tobytes())

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the thread has already finished: nothing to wake
                pass

    # -- the thread ------------------------------------------------------------
    def _unsent(self) -> Iterator[Item]:
        for sym in sorted(self.cursor.acked):
            for t in unsent(self.tape, self.collector, sym, self.cursor.acked[sym]):
                yield make_item(sym, t)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # never take the saver down: the local tape is the truth
            log.exception("bus publisher stopped; chunks stay in the local tape")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        nc: Any = None
        js: Any = None
        pending: Item | None = None
        from_backfill = False
        backoff = BACKOFF_S[0]
        last_cursor = time.monotonic()
        try:
            while True:
                if pending is None:
                    for it in self._backfill:
                        pending, from_backfill = it, True
                        break
                    else:
                        pending, from_backfill = self.spool.peek(), False
                if pending is None:
                    if self._stop.is_set():
                        return
                    self._wake.clear()
                    self._idle = True
                    try:
                        await asyncio.wait_for(self._wake.wait(), 0.2)
                    except TimeoutError:
                        pass
                    self._idle = False
                    continue
                if self._deadline is not None and time.monotonic() > self._deadline:
                    return
                try:
                    if nc is None:
                        async def disconnected() -> None:
                            # The moment of the outage, not the first publish to time out
                            # (nats-py calls this on our own close too: not an outage).
                            if not self._closing_nc:
                                self._went_down(ConnectionError("connection to the server lost"))

                        nc = await connect(self.cfg.bus, disconnected_cb=disconnected)
                        js = nc.jetstream()
                        await ensure_stream(js, self.cfg.bus, subject_for(
                            self.cfg.bus.prefix, self.collector, "*"))
                    await self._publish(nc, js, pending)
                except Exception as e:
                    self._went_down(e)
                    if self._stop.is_set():
                        # Closing with the bus down: the local tape keeps it all and
                        # the next session re-sends; don't hold the recorder's exit.
                        return
                    if nc is not None and (nc.is_closed or isinstance(e, BusRefused)):
                        self._closing_nc = True
                        await _close_quietly(nc)
                        self._closing_nc = False
                        nc = None
                    await asyncio.sleep(backoff * (0.5 + random.random()))
                    backoff = min(backoff * 2, BACKOFF_S[1])
                    continue
                backoff = BACKOFF_S[0]
                self._came_up()
                if not from_backfill:
                    self.spool.pop()
                self.cursor.acked[pending.symbol] = max(
                    self.cursor.acked.get(pending.symbol, -1), pending.last)
                self.published += 1
                self.published_snapshots += pending.snapshots
                pending = None
                if time.monotonic() - last_cursor >= CURSOR_EVERY_S:
                    last_cursor = time.monotonic()
                    self._save_cursor()
        finally:
            self._save_cursor()
            self._closing_nc = True
            if nc is not None:
                await _close_quietly(nc)

    async def _publish(self, nc: Any, js: Any, item: Item) -> None:
        max_payload = int(getattr(nc, "max_payload", 1 << 20) or (1 << 20))
        parts = [item.batch]
        while True:
            msgs = [encode(self.cfg.bus.prefix, self.collector, item.symbol, b,
                           self.cursor.base.get(item.symbol, item.first), self.session)
                    for b in parts]
            # Headers and framing take a few hundred bytes beyond the payload.
            if all(len(m[2]) + 1024 <= max_payload for m in msgs) or all(
                    b.num_rows <= 1 for b in parts):
                break
            parts = [p for b in parts for p in split_snapshots(
                _as_table(b), max(1, b.num_rows // 2))]
        for subject, headers, payload in msgs:
            t0 = time.perf_counter_ns()
            await js.publish(subject, payload, timeout=self.cfg.ack_timeout_s,
                             stream=self.cfg.bus.stream, headers=headers)
            if len(self.ack_ns) < 4_000_000:
                self.ack_ns.append(time.perf_counter_ns() - t0)

    def _save_cursor(self) -> None:
        try:
            self.cursor.save(durable=self.cfg.no_local)
            if self.cfg.no_local:
                from .prune import prune_acked

                prune_acked(self.tape, self.collector, self.cursor.acked)
        except OSError as e:
            log.warning("bus cursor %s: %s", self.cursor.path, e.strerror or e)

    def _went_down(self, e: BaseException) -> None:
        if self.down_since is not None:
            return
        self.down_since = self.clock.now_ns()
        waiting = len(self.spool)
        msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        log.warning("bus %s is down (%s): recording locally, %d chunks wait; retrying",
                    self.cfg.bus.url, msg, waiting)
        self.events.emit(Event("bus_down", self.down_since, collector=self.collector,
                               count=waiting, detail={"url": self.cfg.bus.url, "error": msg,
                                                      "published": self.published}))

    def _came_up(self) -> None:
        if self.down_since is None:
            return
        now = self.clock.now_ns()
        waiting = len(self.spool)
        log.warning("bus %s is back after %.1f s: re-sending %d chunks", self.cfg.bus.url,
                    (now - self.down_since) / 1e9, waiting)
        self.events.emit(Event("bus_up", now, collector=self.collector, count=waiting,
                               duration_ns=now - self.down_since,
                               detail={"url": self.cfg.bus.url, "spilled": self.spool.spilled,
                                       "published": self.published}))
        self.down_since = None


def _as_table(b: pa.RecordBatch | pa.Table) -> pa.Table:
    return pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b


async def _close_quietly(nc: Any) -> None:
    try:
        await asyncio.wait_for(nc.close(), 2)
    except Exception:
        pass
