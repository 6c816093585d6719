"""``queue``: acquisition + packing here, saving in one helper, over a ``multiprocessing.Queue``.

The notebook's 2-process design with a Queue. ``put_nowait`` on a bounded
queue: when it is full the chunk waits in the acquirer's backlog. The
queue's feeder thread pickles and writes in this process, so it competes
with polling for the GIL; the benchmark shows what that costs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..capture.loop import CaptureResult, StopFlag
from ..capture.stats import Stats
from ..events import EventSink
from . import RecordPlan
from ._channels import QUEUE_MESSAGES, QueueSender, Receiver, SenderDownstream
from ._child import Control
from ._helpers import saver_main
from .supervisor import acquire

if TYPE_CHECKING:
    from ._child import Context


def start(ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
          first: int) -> SenderDownstream:
    """One saver process fed through a bounded queue."""
    q = ctx.Queue(maxsize=QUEUE_MESSAGES)
    p = ctx.Process(target=saver_main, name="booktape-saver",
                    args=(plan, stats, control, first, Receiver(q=q), False))
    p.start()
    return SenderDownstream([p], control, QueueSender(q))


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    return acquire(plan, stop, stats, events, on_tick, start)
