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
from ._channels import DATA, END, PipeSender, Receiver, message
from ._child import Control
from ._helpers import saver_main
from .supervisor import acquire

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._child import Context


class PipeDownstream:
    def __init__(self, ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
                 first: int) -> None:
        r, w = ctx.Pipe(duplex=False)
        self.control = control
        p = ctx.Process(target=saver_main, name="booktape-saver",
                        args=(plan, stats, control, first, Receiver(conns=[r]), False))
        p.start()
        r.close()  # the saver has its own copy now
        self.procs: list[BaseProcess] = [p]
        self.out = PipeSender(w)

    def try_send(self, n: int, chunk: bytes) -> bool:
        return self.out.try_send(message(DATA, n, chunk))

    def try_end(self, last: int) -> bool:
        return self.out.try_send(message(END, last))

    def close(self) -> None:
        self.out.close()


def run(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
        on_tick: Callable[[], None]) -> CaptureResult:
    return acquire(plan, stop, stats, events, on_tick, PipeDownstream)
