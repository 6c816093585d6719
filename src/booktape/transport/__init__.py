"""Transport topologies: how packed chunks get from the poller to the tape writer.

Every topology is a function ``run(plan, stop, stats, events, on_tick)`` that
polls until told to stop, gets every chunk onto the tape, seals, and returns a
:class:`~booktape.capture.loop.CaptureResult`. Chosen by name; registered
lazily so a topology's imports cost nothing until used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..capture.loop import CaptureConfig, CaptureResult, StopFlag
from ..capture.stats import Stats
from ..errors import BadArgument
from ..events import EventSink
from ..sources import SourceSpec
from ..tape.writer import WriterConfig


@dataclass(frozen=True)
class DownstreamSpec:
    """A consumer of every batch once the local tape made it durable (e.g. the bus publisher).

    ``target`` is ``"module:factory"``, imported in the saving process;
    ``factory(plan, events, **options)`` returns a :class:`Downstream`.
    """

    target: str
    options: dict[str, Any] = field(default_factory=dict)


class Downstream(Protocol):
    def offer(self, symbol: str, batch: Any) -> None: ...

    def close(self) -> None: ...


def open_downstream(plan: RecordPlan, events: EventSink) -> Downstream | None:
    if plan.downstream is None:
        return None
    mod, _, attr = plan.downstream.target.partition(":")
    factory: Any = getattr(importlib.import_module(mod), attr)
    return factory(plan, events, **plan.downstream.options)  # type: ignore[no-any-return]


@dataclass(frozen=True, kw_only=True)
class RecordPlan:
    """Everything a topology needs, picklable for ``spawn``."""

    root: str
    collector: str
    session: str
    source: SourceSpec
    capture: CaptureConfig
    writer: WriterConfig
    start_seq: tuple[int, ...]
    events_path: str
    meta: dict[str, str] = field(default_factory=dict)
    #: The acquirer's in-memory backlog limit before spilling; None: ``writer.rotate_bytes``.
    buffer_bytes: int | None = None
    #: Where benchmarks want poll stamps and durability latencies (None: off).
    diag_dir: str | None = None
    #: Fed every batch after it is durable here (``record --publish``); None: nothing.
    downstream: DownstreamSpec | None = None


def step_reporter(plan: RecordPlan, events: EventSink) -> Callable[[int, int], None]:
    """``on_step`` for the capture loop: a wall-clock step becomes a ``clock_step`` row."""
    from ..events import Event

    def on_step(t_ns: int, step_ns: int) -> None:
        events.emit(Event("clock_step", t_ns, collector=plan.collector, duration_ns=step_ns,
                          detail={"session": plan.session, "step_ms": step_ns / 1e6}))
    return on_step


class Topology(Protocol):
    def __call__(self, plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
                 on_tick: Callable[[], None]) -> CaptureResult: ...


_TOPOLOGIES: dict[str, str] = {
    "sequential": "booktape.transport.sequential:run",
    "pipe": "booktape.transport.pipe:run",
    "queue": "booktape.transport.queue:run",
    "fanout-pipe": "booktape.transport.fanout:run_pipe",
    "fanout-queue": "booktape.transport.fanout:run_queue",
    "ring": "booktape.transport.ring:run",
}

# The shared-memory ring: the only hand-off with no pickling and no system
# call on the polling side, and the tightest gaps in and out of seal windows
# (BENCHMARKS.md, "Topologies").
DEFAULT_TOPOLOGY = "ring"


def register(name: str, target: str) -> None:
    _TOPOLOGIES[name] = target


def topology_names() -> list[str]:
    return list(_TOPOLOGIES)


def get_topology(name: str) -> Topology:
    target = _TOPOLOGIES.get(name)
    if target is None:
        raise BadArgument(f"unknown topology {name!r}; choose one of: {', '.join(_TOPOLOGIES)}")
    mod, _, attr = target.partition(":")
    fn: Any = getattr(importlib.import_module(mod), attr)
    return fn  # type: ignore[no-any-return]
