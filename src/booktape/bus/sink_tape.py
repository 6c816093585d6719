"""The sink's tape side: chunks from the bus in, the same journals, parts and manifests out.

One :class:`~booktape.tape.writer.TapeWriter` per collector, under that
collector's lock (so never two writers of one partition, whoever they are).
Each ``(collector, symbol)`` has an expected next seq — its last sealed seq
plus one, or the publisher's ``Booktape-Base`` — and chunks are written in
seq order only: a duplicate (JetStream's window expired, a recorder re-sent
from its tape) is dropped, overlapping rows are trimmed, and a chunk that
arrives ahead of a gap (a redelivery overtaken by newer messages) is held
until the gap fills. Messages are acknowledged only after the rows they
carried are fsync'd.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..clock import Clock
from ..errors import CollectorBusy
from ..events import Event, EventLog
from ..tape.layout import events_path, lock_path
from ..tape.lock import CollectorLock
from ..tape.manifest import last_seq
from ..tape.recover import recover
from ..tape.writer import TapeWriter, WriterConfig
from ..transport._diag import LatencyProbe
from ..transport.sealer import BackgroundSealer
from .codec import Chunk

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass
class SinkCounts:
    messages: int = 0
    chunks_written: int = 0
    snapshots_written: int = 0
    duplicates: int = 0
    trimmed_rows: int = 0
    held: int = 0
    gaps: int = 0
    quarantined: int = 0
    collectors: dict[str, int] = field(default_factory=dict)


@dataclass
class _Held:
    chunk: Chunk
    msgs: list[Any]
    since: float


class SinkTape:
    """Everything the sink writes; the NATS loop only hands messages in and acks what comes out."""

    def __init__(self, root: Path, clock: Clock, config: WriterConfig, session: str, *,
                 gap_timeout_s: float = 300.0, max_held: int = 50_000,
                 diag_dir: str | None = None) -> None:
        self.root = root
        self.clock = clock
        self.config = config
        self.session = session
        self.gap_timeout_s = gap_timeout_s
        self.max_held = max_held
        self.counts = SinkCounts()
        self.writers: dict[str, TapeWriter] = {}
        self.sealers: dict[str, BackgroundSealer] = {}
        self.locks: dict[str, CollectorLock] = {}
        self.events: dict[str, EventLog] = {}
        self.expected: dict[Key, int] = {}
        self.held: dict[Key, dict[int, _Held]] = {}
        self._n_held = 0
        self._unacked: list[Any] = []
        self._busy_logged: set[str] = set()
        self._quarantine: Any = None
        self._last_sync = clock.now_ns()
        # Benchmarks only (`benchmarks/bench_bus.py`): t_after -> durable here, per state.
        self.latency = LatencyProbe(diag_dir, "sink")

    # -- messages in -----------------------------------------------------------
    def accept(self, chunk: Chunk, msg: Any) -> bool:
        """Take one chunk; False when it cannot be taken now (collector busy, hold full): nak it."""
        self.counts.messages += 1
        if not self._open(chunk.collector):
            return False
        key = (chunk.collector, chunk.symbol)
        exp = self.expected.get(key)
        if exp is None:
            exp = self.expected[key] = max(
                last_seq(self.root, chunk.symbol, chunk.collector) + 1, chunk.base)
        if chunk.first > exp:
            held = self.held.setdefault(key, {})
            if chunk.first in held:
                held[chunk.first].msgs.append(msg)
                return True
            if self._n_held >= self.max_held:
                return False
            held[chunk.first] = _Held(chunk, [msg], time.monotonic())
            self._n_held += 1
            self.counts.held += 1
            return True
        self._take(key, chunk, [msg])
        self._drain(key)
        return True

    def _take(self, key: Key, chunk: Chunk, msgs: list[Any]) -> None:
        exp = self.expected[key]
        self._unacked.extend(msgs)
        if chunk.last < exp:
            self.counts.duplicates += 1
            return
        t = chunk.table
        if chunk.first < exp:
            keep = pc.greater_equal(t.column("seq"), pa.scalar(exp, pa.uint64()))
            self.counts.trimmed_rows += t.num_rows - int(pc.sum(keep).as_py() or 0)
            t = t.filter(keep)
        for b in t.to_batches():
            self.writers[chunk.collector].append(chunk.symbol, b)
            self.latency.note(b)
        snaps = len(pc.unique(t.column("seq")))
        self.counts.chunks_written += 1
        self.counts.snapshots_written += snaps
        self.counts.collectors[chunk.collector] = self.counts.collectors.get(chunk.collector, 0) + snaps
        self.expected[key] = chunk.last + 1

    def _drain(self, key: Key) -> None:
        held = self.held.get(key)
        while held:
            first = min(held)
            if first > self.expected[key]:
                h = held[first]
                if time.monotonic() - h.since < self.gap_timeout_s:
                    return
                # Nothing filled the gap in gap_timeout: the stream lost it (purged by
                # hand?). Say so and go on rather than stall the symbol for ever.
                self.counts.gaps += 1
                log.error("sink: %s/%s seq %d..%d never arrived; continuing at %d",
                          key[0], key[1], self.expected[key], first - 1, first)
                self.events[key[0]].emit(Event(
                    "bus_gap", self.clock.now_ns(), symbol=key[1], collector=key[0],
                    count=first - self.expected[key],
                    detail={"missing_from": self.expected[key], "missing_to": first - 1}))
                self.expected[key] = first
            h = held.pop(first)
            self._n_held -= 1
            self._take(key, h.chunk, h.msgs)

    # -- durability and acknowledgements --------------------------------------------
    def tick(self, force: bool = False) -> list[Any]:
        """Rotate and fsync on the cadence; the messages whose rows are now durable."""
        for key in list(self.held):
            self._drain(key)
        for w in self.writers.values():
            w.tick()
        now = self.clock.now_ns()
        if not force and (not self._unacked or now - self._last_sync < self.config.sync_every_ns):
            return []
        self._last_sync = now
        for w in self.writers.values():
            w.sync()
        for ev in self.events.values():
            ev.sync()
        self.latency.durable(self.clock.now_ns())
        out, self._unacked = self._unacked, []
        return out

    def quarantine(self, subject: str, headers: dict[str, str] | None, payload: bytes,
                   reason: str, stream_seq: int | None) -> None:
        """Keep a foreign message in ``DATA/_quarantine/`` (durable) so nothing is lost."""
        if self._quarantine is None:
            d = self.root / "_quarantine"
            d.mkdir(parents=True, exist_ok=True)
            self._quarantine = open(d / f"bus-{self.session}.jsonl", "a", encoding="utf-8")
        rec = {"t_ns": self.clock.now_ns(), "subject": subject, "stream_seq": stream_seq,
               "reason": reason, "headers": headers or {},
               "payload_b64": base64.b64encode(payload).decode()}
        self._quarantine.write(json.dumps(rec) + "\n")
        self._quarantine.flush()
        os.fsync(self._quarantine.fileno())
        self.counts.quarantined += 1
        log.warning("sink: quarantined a message on %s (%s)", subject, reason)

    # -- collectors ------------------------------------------------------------
    def _open(self, collector: str) -> bool:
        if collector in self.writers:
            return True
        lock = CollectorLock(lock_path(self.root, collector))
        try:
            lock.acquire()
        except CollectorBusy:
            if collector not in self._busy_logged:
                self._busy_logged.add(collector)
                log.warning("sink: collector %s is locked by another writer of this tape; "
                            "its messages wait", collector)
            return False
        self.locks[collector] = lock
        now = self.clock.now_ns()
        # A sink killed mid-write left journals durable to its last fsync: seal
        # them first, so last_seq says where this collector's tape ends.
        recover(self.root, now, collector, lock_held=True, side_streams=False)
        ev = EventLog(events_path(self.root, collector, f"sink-{self.session}"))
        ev.emit(Event("session_start", now, collector=collector,
                      detail={"session": self.session, "source": "bus", "topology": "sink"}))
        self.events[collector] = ev
        sealer = BackgroundSealer(self.clock, ev, collector)
        self.sealers[collector] = sealer
        self.writers[collector] = TapeWriter(
            self.root, collector, self.clock, config=self.config,
            meta={"source": "bus", "topology": "sink", "session": self.session},
            sealer=sealer.submit)
        return True

    def close(self) -> list[Any]:
        """Seal everything; the messages still to acknowledge."""
        out = self.tick(force=True)
        for c, w in self.writers.items():
            w.close()
            self.sealers[c].close()
            self.events[c].emit(Event("session_stop", self.clock.now_ns(), collector=c,
                                      count=self.counts.collectors.get(c, 0),
                                      detail={"session": self.session}))
            self.events[c].close()
        for lock in self.locks.values():
            lock.release()
        if self._quarantine is not None:
            self._quarantine.close()
        self.latency.dump()
        return out
