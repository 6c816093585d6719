"""The saver: the end of every multi-process topology, wherever its chunks come from.

Receives numbered chunks (decoded to Arrow batches), puts them back in order
(two packers finish out of order, and ``tape/seal`` refuses parts whose seq
ranges overlap), journals them, fsyncs on the writer's cadence and only then
acknowledges "durable through chunk n". A new saver (after a crash) first
seals whatever journals its predecessor left, then drops resent rows whose
seq is already sealed; rows it journals twice are deduped by seal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..capture.stats import Stats
from ..clock import SystemClock
from ..events import EventLog, EventSink
from ..tape.manifest import PartEntry, last_seq
from ..tape.recover import recover
from ..tape.writer import TapeWriter
from . import RecordPlan, open_downstream
from ._diag import LatencyProbe
from .sealer import BackgroundSealer

log = logging.getLogger(__name__)


class Saver:
    """Reorders, journals, fsyncs and acknowledges; seals on a background thread."""

    def __init__(self, plan: RecordPlan, stats: Stats, first_chunk: int,
                 ack: Callable[[int], None], events: EventSink | None = None,
                 background_seal: bool = True) -> None:
        self.plan = plan
        self.stats = stats
        self.clock = SystemClock()
        self.events: EventSink = events or EventLog(Path(plan.events_path))
        self.symbols = plan.capture.symbols
        root = Path(plan.root)

        def on_seal(symbol: str, entry: PartEntry) -> None:
            stats.add("sealed_parts")

        self.sealer = (BackgroundSealer(self.clock, self.events, plan.collector, on_seal,
                                        beat=lambda: stats.add("seal_beat"))
                       if background_seal else None)
        # The recorder holds the collector lock on our behalf: every journal of
        # this collector is a predecessor's, durable up to its last fsync.
        with self.sealer.busy() if self.sealer else nullcontext():
            recover(root, self.clock.now_ns(), plan.collector, lock_held=True,
                    side_streams=False)
        self.sealed_max = [last_seq(root, s, plan.collector) for s in self.symbols]
        self.downstream = open_downstream(plan, self.events)
        self.writer = TapeWriter(root, plan.collector, self.clock, config=plan.writer,
                                 meta=dict(plan.meta, session=plan.session),
                                 sealer=self.sealer.submit if self.sealer else None,
                                 on_seal=on_seal,
                                 on_durable=self.downstream.offer if self.downstream else None)
        self.next = first_chunk
        self.pending: dict[int, dict[int, pa.RecordBatch]] = {}
        self.end_at: int | None = None
        self._ack = ack
        self._syncs = 0
        self._durable_snaps = 0
        self._written_snaps = 0
        self._rows = 0
        self.latency = LatencyProbe(plan.diag_dir, "saver")
        ack(first_chunk - 1)

    @property
    def finished(self) -> bool:
        return self.end_at is not None and self.next > self.end_at

    def put(self, n: int, batches: dict[int, pa.RecordBatch]) -> None:
        """Accept chunk ``n`` (any order, duplicates ignored) and journal what is in order."""
        if n < self.next or n in self.pending:
            return
        self.pending[n] = batches
        while self.next in self.pending:
            self._write(self.pending.pop(self.next))
            self.next += 1

    def end(self, last: int) -> None:
        """The acquirer has sent everything through ``last``; finish once it is in."""
        self.end_at = last

    def _write(self, batches: dict[int, pa.RecordBatch]) -> None:
        for k, b in batches.items():
            lim = self.sealed_max[k]
            if lim >= 0:
                seq = b.column("seq")
                if int(pc.min(seq).as_py()) <= lim:
                    b = b.filter(pc.greater(seq, pa.scalar(lim, pa.uint64())))
            if b.num_rows:
                self.writer.append(self.symbols[k], b)
                self.latency.note(b)
                self._written_snaps += int(np.count_nonzero(b.column("level").to_numpy() <= 0))

    def tick(self) -> None:
        """Fsync on the cadence, then acknowledge what that made durable."""
        self.writer.tick()
        self._after_sync()

    def sync_now(self) -> None:
        """Fsync and acknowledge now, off the cadence (the channel is filling up)."""
        self.writer.sync()
        self._after_sync()

    def _after_sync(self) -> None:
        if self.writer.stats.syncs != self._syncs:
            self._syncs = self.writer.stats.syncs
            self.latency.durable(self.clock.now_ns())
            # Deltas: a restarted saver starts counting from zero again.
            self.stats.add("durable_snapshots", self._written_snaps - self._durable_snaps)
            self._durable_snaps = self._written_snaps
            self.stats.add("rows", self.writer.stats.rows - self._rows)
            self._rows = self.writer.stats.rows
            self._ack(self.next - 1)

    def close(self) -> None:
        """Seal everything (waiting for the seal thread) and acknowledge it all."""
        self.writer.close()
        # The seals first: with --no-local the publisher deletes, as it closes, each
        # sealed part the stream has acknowledged; a part sealed after it closed stayed.
        if self.sealer is not None:
            self.sealer.close()
        if self.downstream is not None:
            self.downstream.close()
        self.writer.stats.syncs += 1
        self._after_sync()
        self.latency.dump()
