"""The loops that run inside helper processes: the saver's and a packer's."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from multiprocessing import current_process

import pyarrow as pa

from ..capture.frame import decode
from ..capture.stats import Stats
from ..errors import TapeNotWritable
from ..schema import BOOK_SCHEMA
from . import RecordPlan
from ._channels import DATA, END, BlockingSender, Receiver, message, parse
from ._child import Control, become_helper, parent_gone
from .saver import Saver

Decoder = Callable[[memoryview], dict[int, pa.RecordBatch]]

IDLE_WAIT_S = 0.002
WRITE_FAILED = 4  # a helper's exit code when the tape cannot be written


def limit_threads() -> None:
    """One Arrow worker thread per helper: on a 2-core machine more only fight the poller."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def save_loop(plan: RecordPlan, stats: Stats, control: Control, first: int,
              recv: Callable[[float], tuple[int, int, memoryview] | None],
              decoder: Decoder, ppid: int,
              pressed: Callable[[], bool] | None = None) -> None:
    """Journal what ``recv`` delivers until the END message and everything before it are in.

    ``pressed()`` true means the channel needs acknowledgements to free space:
    fsync and acknowledge now rather than on the cadence.
    """
    try:
        _save(plan, stats, control, first, recv, decoder, ppid, pressed)
    except (OSError, TapeNotWritable) as e:
        # A full or failing disk: one line, not a traceback per restart; the
        # supervisor restarts us, and stops the recording if it keeps failing.
        print(f"{current_process().name}: cannot write the tape: {e}", file=sys.stderr)
        sys.exit(WRITE_FAILED)


def _save(plan: RecordPlan, stats: Stats, control: Control, first: int,
          recv: Callable[[float], tuple[int, int, memoryview] | None],
          decoder: Decoder, ppid: int, pressed: Callable[[], bool] | None) -> None:
    saver = Saver(plan, stats, first, control.ack)
    control.set_ready()
    while not saver.finished:
        got = recv(IDLE_WAIT_S)
        if got is None:
            if parent_gone(ppid):
                os._exit(3)  # leave the journals to `recover`; the recorder is gone
        else:
            kind, n, payload = got
            if kind == DATA:
                saver.put(n, decoder(payload))
                if pressed is not None and pressed():
                    saver.sync_now()
            elif kind == END:
                saver.end(n)
        saver.tick()
    saver.close()


def saver_main(plan: RecordPlan, stats: Stats, control: Control, first: int,
               inbox: Receiver, packed: bool) -> None:
    """Entry point of a saver fed by pipes or a queue (``packed``: by packers, as IPC)."""
    ppid = become_helper()
    limit_threads()

    def recv(timeout: float) -> tuple[int, int, memoryview] | None:
        msg = inbox.recv(timeout)
        return None if msg is None else parse(msg)

    save_loop(plan, stats, control, first, recv, ipc_to_batches if packed else decode, ppid)


def packer_main(control: Control, inbox: Receiver, out: BlockingSender) -> None:
    """Entry point of a packer: raw chunks in, Arrow IPC record batches out."""
    ppid = become_helper()
    limit_threads()
    control.set_ready()
    while True:
        msg = inbox.recv(0.05)
        if msg is None:
            if parent_gone(ppid):
                os._exit(3)
            continue
        kind, n, payload = parse(msg)
        if kind == DATA:
            out.send(message(DATA, n, batches_to_ipc(decode(payload))))
        else:
            out.send(message(END, n))
            return


def batches_to_ipc(batches: dict[int, pa.RecordBatch]) -> bytes:
    """``[<ii> symbol index, length][IPC message]...``; IPC messages are 8-byte padded."""
    parts = []
    for k, b in batches.items():
        buf = b.serialize()
        parts += [k.to_bytes(4, "little"), buf.size.to_bytes(4, "little"), buf.to_pybytes()]
    return b"".join(parts)


def ipc_to_batches(view: memoryview) -> dict[int, pa.RecordBatch]:
    out: dict[int, pa.RecordBatch] = {}
    off = 0
    while off < len(view):
        k = int.from_bytes(view[off:off + 4], "little")
        size = int.from_bytes(view[off + 4:off + 8], "little")
        off += 8
        out[k] = pa.ipc.read_record_batch(pa.py_buffer(view[off:off + size]), BOOK_SCHEMA)
        off += size
    return out


