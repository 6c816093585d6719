"""``fanout-pipe`` / ``fanout-queue``: acquisition → two packers (alternating) → one saver.

The notebook's 4-process design. Chunk ``n`` goes to packer ``n % 2``, which
decodes it to Arrow and passes IPC bytes on; the two packers finish out of
order, and the saver's reorder buffer puts chunks back in sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..capture.loop import CaptureResult, StopFlag
from ..capture.stats import Stats
from ..events import EventSink
from . import RecordPlan
from ._channels import (
    DATA,
    END,
    QUEUE_MESSAGES,
    BlockingSender,
    PipeSender,
    QueueSender,
    Receiver,
    message,
)
from ._child import Control
from ._helpers import packer_main, saver_main
from .supervisor import acquire

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ._child import Context

PACKERS = 2


class FanoutDownstream:
    def __init__(self, ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
                 first: int, *, use_queue: bool) -> None:
        self.control = control
        self.procs: list[BaseProcess] = []
        self.outs: list[PipeSender | QueueSender] = []
        self._ended = [False] * PACKERS
        to_close: list[Any] = []
        if use_queue:
            saver_q = ctx.Queue(maxsize=QUEUE_MESSAGES)
            saver_in = Receiver(q=saver_q)
            packer_outs = [BlockingSender(q=saver_q) for _ in range(PACKERS)]
            self._queues = [saver_q]
        else:
            pipes = [ctx.Pipe(duplex=False) for _ in range(PACKERS)]
            saver_in = Receiver(conns=[r for r, _ in pipes])
            packer_outs = [BlockingSender(conn=w) for _, w in pipes]
            to_close += [c for pair in pipes for c in pair]
            self._queues = []
        saver = ctx.Process(target=saver_main, name="booktape-saver",
                            args=(plan, stats, control, first, saver_in, True))
        saver.start()
        self.procs.append(saver)
        for i in range(PACKERS):
            out: QueueSender | PipeSender
            if use_queue:
                q = ctx.Queue(maxsize=QUEUE_MESSAGES)
                inbox, out = Receiver(q=q), QueueSender(q)
            else:
                r, w = ctx.Pipe(duplex=False)
                inbox, out = Receiver(conns=[r]), PipeSender(w)
                to_close.append(r)
            p = ctx.Process(target=packer_main, name=f"booktape-packer-{i}",
                            args=(control, inbox, packer_outs[i]))
            p.start()
            self.procs.append(p)
            self.outs.append(out)
        for c in to_close:  # the helpers hold their own copies
            c.close()

    def try_send(self, n: int, chunk: bytes) -> bool:
        return self.outs[n % PACKERS].try_send(message(DATA, n, chunk))

    def try_end(self, last: int) -> bool:
        for i, out in enumerate(self.outs):
            if not self._ended[i]:
                self._ended[i] = out.try_send(message(END, last))
        # Called again until True: each call pushes what is left of an accepted END.
        return all(self._ended) and all(out.drained() for out in self.outs)

    def close(self) -> None:
        for out in self.outs:
            out.close()
        for q in self._queues:
            q.cancel_join_thread()
            q.close()


def _start(use_queue: bool) -> Callable[[Context, RecordPlan, Stats, Control, int],
                                          FanoutDownstream]:
    def start(ctx: Context, plan: RecordPlan, stats: Stats, control: Control,
              first: int) -> FanoutDownstream:
        return FanoutDownstream(ctx, plan, stats, control, first, use_queue=use_queue)
    return start


def run_pipe(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
             on_tick: Callable[[], None]) -> CaptureResult:
    return acquire(plan, stop, stats, events, on_tick, _start(False))


def run_queue(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
              on_tick: Callable[[], None]) -> CaptureResult:
    return acquire(plan, stop, stats, events, on_tick, _start(True))
