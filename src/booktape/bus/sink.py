"""``booktape sink``: a durable JetStream pull consumer writing a tape.

One sink per durable name writes at a time: the sink takes
``DATA/_locks/sink=<durable>.lock`` before it fetches anything, so a second
sink with the same durable (another machine, the same shared ``DATA``) is a
hot standby that waits on that lock and takes over when the first dies (the
OS drops the lock even on SIGKILL). Inside, the collector locks keep any
other writer (a local recorder) off the partitions the sink writes.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..capture.loop import StopFlag
from ..clock import SystemClock
from ..errors import BadArgument, BusUnavailable, CollectorBusy
from ..tape.layout import check_name
from ..tape.lock import CollectorLock
from ..tape.writer import WriterConfig
from ..units import parse_duration, parse_size
from .codec import ForeignMessage, decode
from .config import BusConfig
from .connect import connect
from .sink_tape import SinkCounts, SinkTape
from .stream import ensure_stream

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 0.2
ACK_WAIT_S = 30.0
MAX_ACK_PENDING = 65_536


@dataclass
class SinkSummary:
    out: str
    durable: str
    session: str
    waited_s: float
    counts: SinkCounts

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _durable_lock(root: Path, durable: str) -> CollectorLock:
    return CollectorLock(root / "_locks" / f"sink={durable}.lock")


def wait_for_lock(lock: CollectorLock, stop: StopFlag, on_wait: Callable[[], None]) -> bool:
    """Block until ``lock`` is ours (True) or ``stop`` is set (False)."""
    told = False
    while not stop.is_set():
        try:
            lock.acquire()
            return True
        except CollectorBusy:
            if not told:
                told = True
                on_wait()
            time.sleep(0.2)
    return False


@contextmanager
def _stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """Ctrl-C / SIGTERM / Ctrl-Break: stop fetching, fsync, acknowledge, seal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):  # Windows: CTRL_BREAK_EVENT, how a service is stopped there
        sigs.append(signal.SIGBREAK)
    old = {s: signal.signal(s, lambda *a: stop.set()) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_sink(bus: BusConfig, out: str | Path, *, durable: str = "booktape-sink",
             rotate_every: str | int = "1h", rotate_bytes: str | int = "1GB",
             sync_every: str | int = "1s", duration: str | float | None = None,
             until_idle: str | float | None = None, gap_timeout: str | float = "5m",
             stop: StopFlag | None = None,
             on_wait: Callable[[], None] | None = None,
             diag_dir: str | None = None) -> SinkSummary:
    """Consume ``bus``'s stream into the tape at ``out`` until Ctrl-C (or ``duration``/``until_idle``).

    ``diag_dir`` (benchmarks) receives ``latency-sink-PID.npy``: per state, the time from
    its ``t_after`` to the fsync that made it durable here.

    Raises:
        BusRefused: wrong credentials, or the stream would lose data.
    """
    check_name("durable", durable)
    cfg = WriterConfig(rotate_every_ns=parse_duration(rotate_every, "--rotate-every"),
                       rotate_bytes=parse_size(rotate_bytes, "--rotate-bytes"),
                       sync_every_ns=parse_duration(sync_every, "--sync-every"))
    limit = parse_duration(duration, "--duration") / 1e9 if duration is not None else None
    idle = parse_duration(until_idle, "--until-idle") / 1e9 if until_idle is not None else None
    gap = parse_duration(gap_timeout, "--gap-timeout") / 1e9
    root = Path(out)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadArgument(f"--out {root} is not writable: {e.strerror or e}") from None
    stop = stop or StopFlag()
    lock = _durable_lock(root, durable)
    t0 = time.monotonic()
    if not wait_for_lock(lock, stop, on_wait or (lambda: log.warning(
            "sink: another sink with durable %s writes %s; standing by", durable, root))):
        return SinkSummary(str(root), durable, "", time.monotonic() - t0, SinkCounts())
    waited = time.monotonic() - t0
    clock = SystemClock()
    session = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    tape = SinkTape(root, clock, cfg, session, gap_timeout_s=gap, diag_dir=diag_dir)
    try:
        with _stop_on_signals(stop):
            asyncio.run(_consume(bus, durable, tape, stop, limit, idle))
    finally:
        try:
            tape.close()  # acks cannot be sent any more: the next sink gets redeliveries
        finally:
            lock.release()
    return SinkSummary(str(root), durable, session, waited, tape.counts)


async def _consume(bus: BusConfig, durable: str, tape: SinkTape, stop: StopFlag,
                   limit: float | None, idle: float | None) -> None:
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    start = last_msg = time.monotonic()
    nc: Any = None
    down = False
    while not stop.is_set():
        try:
            nc = await connect(bus)
            break
        except BusUnavailable as e:
            if not down:
                down = True
                log.warning("%s: waiting for it", e)
            waited = time.monotonic() - start
            if (limit is not None and waited >= limit) or (idle is not None and waited >= idle):
                return
            await asyncio.sleep(1.0)
    if nc is None:
        return
    try:
        js = nc.jetstream()
        await ensure_stream(js, bus)
        sub = await js.pull_subscribe(
            f"{bus.prefix}.>", durable=durable, stream=bus.stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
                                  max_deliver=-1, max_ack_pending=MAX_ACK_PENDING,
                                  deliver_policy=DeliverPolicy.ALL))
        while not stop.is_set():
            now = time.monotonic()
            if limit is not None and now - start >= limit:
                break
            if idle is not None and now - last_msg >= idle and not tape.held:
                break
            try:
                msgs = await sub.fetch(512, timeout=FETCH_TIMEOUT_S)
            except (NatsTimeout, TimeoutError):
                msgs = []
            except Exception as e:  # a reconnect in progress: nats-py retries for us
                log.debug("sink fetch: %s", e)
                await asyncio.sleep(0.2)
                msgs = []
            for m in msgs:
                last_msg = time.monotonic()
                await _handle(tape, m)
            await _ack_all(tape.tick())
        await _ack_all(tape.tick(force=True))
        await nc.flush(timeout=2)
    finally:
        try:
            await asyncio.wait_for(nc.close(), 2)
        except Exception:
            pass


async def _ack_all(msgs: list[Any]) -> None:
    for m in msgs:
        try:
            await m.ack()
        except Exception as e:  # not acknowledged: redelivered later, deduped by seq
            log.debug("sink ack: %s", e)


async def _handle(tape: SinkTape, m: Any) -> None:
    try:
        chunk = decode(m.headers, m.data)
    except ForeignMessage as e:
        seq = getattr(getattr(m, "metadata", None), "sequence", None)
        tape.quarantine(m.subject, m.headers, m.data, str(e), getattr(seq, "stream", None))
        await m.ack()
        return
    if not tape.accept(chunk, m):
        await m.nak(delay=1.0)
