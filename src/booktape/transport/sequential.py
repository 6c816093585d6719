"""``sequential``: poll, pack and write in one process, one thread.

The baseline of the notebook's experiment: every journal write and every seal
happens between two polls, so storage shows up directly in the poll gaps.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from pathlib import Path

from ..capture.frame import decode
from ..capture.loop import CaptureResult, StopFlag, run_capture
from ..capture.stats import Stats
from ..clock import SystemClock
from ..events import Event, EventSink
from ..sources import make_source
from ..tape.manifest import PartEntry
from ..tape.writer import TapeWriter
from . import Downstream, RecordPlan, open_downstream, step_reporter
from ._diag import LatencyProbe, traced, write_poll_trace
from ._resub import Resubscriber
from .supervisor import TransportFailed


def open_writer(plan: RecordPlan, clock: SystemClock, stats: Stats,
                events: EventSink | None = None,
                downstream: Downstream | None = None) -> TapeWriter:
    """The tape writer a plan describes, reporting seals into ``stats`` (and ``events``)."""

    def on_seal(symbol: str, entry: PartEntry) -> None:
        stats.add("sealed_parts")
        if events is not None:
            # entry.sealed_at_ns is taken as the seal starts: the window is [then, now].
            events.emit(Event("seal", entry.sealed_at_ns, symbol=symbol,
                              collector=plan.collector, count=entry.snapshots,
                              duration_ns=clock.now_ns() - entry.sealed_at_ns,
                              detail={"part": entry.part, "rows": entry.rows,
                                      "session": plan.session}))

    return TapeWriter(Path(plan.root), plan.collector, clock, config=plan.writer,
                      meta=dict(plan.meta, session=plan.session), on_seal=on_seal,
                      on_durable=downstream.offer if downstream else None)


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    try:
        return _run(plan, stop, stats, events, on_tick)
    except OSError as e:
        # The same one line the other topologies give (issue 11), not a traceback.
        raise TransportFailed(
            f"cannot write the tape under {plan.root}: {e.strerror or e}. Recording stopped; "
            "what was fsync'd is in the journals (`booktape recover` seals them once there "
            "is room), the states captured since the last fsync could not be stored") from None


def _run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
         on_tick: Callable[[], None]) -> CaptureResult:
    clock = SystemClock()
    source = make_source(plan.source)
    source.bind(events, stop.is_set)
    source.open(plan.capture.symbols)
    downstream = open_downstream(plan, events)
    writer = open_writer(plan, clock, stats, events, downstream)
    symbols = plan.capture.symbols
    latency = LatencyProbe(plan.diag_dir, "sequential")
    syncs = [0]
    starts = array("q")
    try:
        getters = [source.getter(s) for s in symbols]
        if plan.diag_dir:
            getters = traced(getters, starts)

        def handoff(chunk: bytes) -> None:
            for k, batch in decode(chunk).items():
                writer.append(symbols[k], batch)
                latency.note(batch)

        resub = Resubscriber(source, symbols, stats)

        def housekeeping() -> None:
            resub()
            writer.tick()
            if writer.stats.syncs != syncs[0]:
                syncs[0] = writer.stats.syncs
                latency.durable(clock.now_ns())
            stats.set("rows", writer.stats.rows)
            stats.set("buffered_bytes", writer.stats.open_bytes)
            on_tick()

        result = run_capture(getters, plan.capture, clock.offset_ns, plan.start_seq, handoff,
                             stop, stats, housekeeping, anchor=clock,
                             on_step=step_reporter(plan, events))
        if plan.diag_dir:
            write_poll_trace(plan.diag_dir, starts, clock.offset_ns)
        return result
    finally:
        try:
            source.close()
        finally:
            writer.close()
            if downstream is not None:
                downstream.close()
            latency.durable(clock.now_ns())
            latency.dump()
            stats.set("rows", writer.stats.rows)
            stats.set("buffered_bytes", 0)
