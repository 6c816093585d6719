"""``pipe``: acquisition + packing here, saving in one helper, over a ``multiprocessing.Pipe``.

The notebook's 2-process design. The pipe is made non-blocking on our side
(with a 1 MiB buffer where Linux allows), so a saver that falls behind fills
the acquirer's backlog instead of stalling a ``send`` mid-poll.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..capture.loop import CaptureResult, StopFlag
from ..capture.stats import Stats
from ..events import EventSink
from . import RecordPlan
from ._channels import PipeSender, Receiver, SenderDownstream
from ._child import Control
from ._helpers import saver_main
from .supervisor import acquire

if TYPE_CHECKING:
    from ._child import Context


def start(ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
          first: int) -> SenderDownstream:
    """One saver process fed through a pipe."""
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=saver_main, name="booktape-saver",
                    args=(plan, stats, control, first, Receiver(conns=[r]), False))
    p.start()
    r.close()  # the saver has its own copy now
    return SenderDownstream([p], control, PipeSender(w))


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    return acquire(plan, stop, stats, events, on_tick, start)
