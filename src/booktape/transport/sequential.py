"""``sequential``: poll, pack and write in one process, one thread.

The baseline of the notebook's experiment: every journal write and every seal
happens between two polls, so storage shows up directly in the poll gaps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..capture.frame import decode
from ..capture.loop import CaptureResult, StopFlag, run_capture
from ..capture.stats import Stats
from ..clock import SystemClock
from ..events import EventSink
from ..sources import make_source
from ..tape.writer import TapeWriter
from . import RecordPlan


def open_writer(plan: RecordPlan, clock: SystemClock, stats: Stats) -> TapeWriter:
    """The tape writer a plan describes, reporting seals into ``stats``."""

    def on_seal(symbol: str, entry: object) -> None:
        stats.add("sealed_parts")

    return TapeWriter(Path(plan.root), plan.collector, clock, config=plan.writer,
                      meta=dict(plan.meta, session=plan.session), on_seal=on_seal)


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    clock = SystemClock()
    source = make_source(plan.source)
    source.bind(events, stop.is_set)
    source.open(plan.capture.symbols)
    writer = open_writer(plan, clock, stats)
    symbols = plan.capture.symbols
    try:
        getters = [source.getter(s) for s in symbols]

        def handoff(chunk: bytes) -> None:
            for k, batch in decode(chunk).items():
                writer.append(symbols[k], batch)

        def housekeeping() -> None:
            writer.tick()
            stats.set("rows", writer.stats.rows)
            stats.set("buffered_bytes", writer.stats.open_bytes)
            on_tick()

        return run_capture(getters, plan.capture, clock.offset_ns, plan.start_seq, handoff,
                           stop, stats, housekeeping)
    finally:
        try:
            source.close()
        finally:
            writer.close()
            stats.set("rows", writer.stats.rows)
            stats.set("buffered_bytes", 0)
