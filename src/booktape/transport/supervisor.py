"""The recorder process as acquirer and supervisor of its helper processes.

Every multi-process topology is "acquire here, a generation of helpers
downstream". The capture loop runs in the recorder (no extra hop before the
first stamp); its non-blocking hand-off files each chunk in the
:class:`~.backlog.Backlog` and pushes what the downstream accepts. Between
polls (at most every chunk) the supervisor reads acknowledgements and checks
its helpers. When any helper dies, the whole generation is replaced: a helper
killed mid-write leaves its pipe or queue holding half a message (and a
``multiprocessing.Queue`` its lock taken), so no channel it touched can be
trusted. The new generation gets every unacknowledged chunk again.
"""

from __future__ import annotations

import logging
import os
import time
from array import array
from collections import deque
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..capture.frame import decode, headers
from ..capture.loop import CaptureResult, Packer, StopFlag, run_capture
from ..capture.stats import Stats
from ..clock import SystemClock
from ..errors import BooktapeError, TapeNotWritable, UnguardedMain
from ..events import Event, EventSink
from ..sources import make_source
from . import RecordPlan, step_reporter
from ._child import UNGUARDED_MAIN, UNGUARDED_MESSAGE, Control, mp_context
from ._diag import traced, write_poll_trace
from ._helpers import WRITE_FAILED
from ._resub import Resubscriber
from .backlog import Backlog, Held

if TYPE_CHECKING:
    from ._child import Context

log = logging.getLogger(__name__)

CHECK_EVERY_NS = 20_000_000
STALL_EVENT_NS = 100_000_000  # shorter hold-ups are normal pipe back-pressure, not worth a row
MAX_RESTARTS = 5  # within RESTART_WINDOW_NS; past that a helper is failing for good
RESTART_WINDOW_NS = 10_000_000_000
TRACKER_CHECK_NS = 1_000_000_000
#: After the last poll, a generation that shows no progress for this long (no
#: chunk accepted or acknowledged, no row journaled, no part sealed, no seal
#: heartbeat, no helper exit) is taken for hung. Generous: a seal beats every
#: second however long it runs, and a bus publisher's close waits up to ~20 s.
DRAIN_STALL_ENV = "BOOKTAPE_DRAIN_STALL_S"
DRAIN_STALL_S = 120.0
#: ... but helpers still starting get at least this long: under load a spawned
#: helper's imports alone took over 10 s here, with nothing to show for it.
DRAIN_START_S = 60.0


def drain_stall_s() -> float:
    """The drain watchdog's period (``BOOKTAPE_DRAIN_STALL_S`` overrides, for tests)."""
    try:
        return float(os.environ.get(DRAIN_STALL_ENV) or DRAIN_STALL_S)
    except ValueError:
        return DRAIN_STALL_S


class TransportFailed(BooktapeError):
    """Helper processes keep dying, or never started; the recording was stopped."""

    exit_code = 1


class Downstream(Protocol):
    """One generation of helper processes and the channels into them."""

    procs: list[BaseProcess]
    control: Control

    def try_send(self, n: int, chunk: bytes) -> bool | Held:
        """Hand chunk ``n`` on if the channel has room now; never blocks.

        A channel that keeps the chunk until acknowledged returns a
        :class:`~.backlog.Held` for it instead of True.
        """

    def try_end(self, last: int) -> bool:
        """Tell the helpers no chunk after ``last`` is coming; never blocks."""

    def close(self) -> None:
        """Release channels and shared memory (helpers are dead or finished)."""


StartFn = Callable[["Context", RecordPlan, Stats, Control, int], Downstream]


def spill_path(plan: RecordPlan) -> Path:
    return Path(plan.root) / "_spill" / f"collector={plan.collector}" / f"spill-{plan.session}.bin"


class Supervisor:
    """Owns the backlog and the current generation; restarts it when a helper dies."""

    def __init__(self, plan: RecordPlan, stats: Stats, events: EventSink, stop: StopFlag,
                 start: StartFn, ctx: Context | None = None) -> None:
        self.plan = plan
        self.stats = stats
        self.events = events
        self.stop = stop
        self._start = start
        self.ctx = ctx or mp_context()
        self.clock = SystemClock()
        self.backlog = Backlog(plan.buffer_bytes or plan.writer.rotate_bytes, spill_path(plan))
        self.gen: Downstream | None = None
        self.generation = 0
        self.ending = False
        self.end_sent = False
        self.broken = False
        #: Why the drain gave up on a live generation (its helpers made no progress).
        self.hung: str | None = None
        #: A helper found itself re-running the user's script (no __main__ guard).
        self.unguarded = False
        self._restarts: deque[int] = deque()
        self._next_check = 0
        self._stall_since: int | None = None
        self._next_tracker_check = 0
        #: Called after the resource tracker was relaunched (re-register what we own).
        self.on_tracker_restart: Callable[[], None] | None = None
        self._spill_since: int | None = None

    # -- generations ---------------------------------------------------------
    def start(self) -> None:
        # Spawning a helper relaunches a dead resource tracker silently: look first.
        self._check_tracker()
        control = Control(self.ctx)
        self.gen = self._start(self.ctx, self.plan, self.stats, control, self.backlog.first)
        self.generation += 1
        self.end_sent = False

    def kill(self) -> None:
        """End the current generation at once (SIGKILL) and release its channels."""
        if self.gen is None:
            return
        for p in self.gen.procs:
            if p.exitcode is None:
                p.kill()
        for p in self.gen.procs:
            p.join(5)
        self.gen.close()
        self.gen = None

    def _restart(self, dead: BaseProcess) -> None:
        now = self.clock.now_ns()
        # Real time, not the clock: under the tests' fast clock (BOOKTAPE_DEV_CLOCK) the
        # window was milliseconds, and a helper failing for good restarted forever.
        real = time.monotonic_ns()
        while self._restarts and real - self._restarts[0] > RESTART_WINDOW_NS:
            self._restarts.popleft()
        self._restarts.append(real)
        self.kill()
        self.backlog.rewind()
        resend = self.backlog.next - self.backlog.first  # re-sent, or re-read from the ring
        self.stats.add("restarts")
        self.events.emit(Event("restart", now, collector=self.plan.collector, count=resend,
                               detail={"process": dead.name, "exitcode": dead.exitcode,
                                       "generation": self.generation + 1,
                                       "first_chunk": self.backlog.first,
                                       "session": self.plan.session}))
        why = "could not write the tape" if dead.exitcode == WRITE_FAILED else "died"
        log.warning("%s %s (exit code %s); restarted, %d unacknowledged chunks go to the new one",
                    dead.name, why, dead.exitcode, resend)
        if len(self._restarts) > MAX_RESTARTS:
            # Failing for good (disk full, a bug): stop polling and write the
            # backlog from this process so nothing handed off is lost.
            self.broken = True
            self.stop.set()
            return
        self.start()

    def _check_tracker(self) -> None:
        """Relaunch multiprocessing's resource tracker if it was killed, and say so.

        Nothing waits on it, so its death never blocks us; but it removes our
        shared memory if we die, so a dead one is replaced (with our segment
        registered again) and reported like any other helper's death.
        """
        from ._child import tracker_died

        died = tracker_died()
        if died is None:
            return
        if self.on_tracker_restart is not None:
            self.on_tracker_restart()
        self.stats.add("restarts")
        self.events.emit(Event("restart", self.clock.now_ns(), collector=self.plan.collector,
                               detail={"process": "resource-tracker", "exitcode": died,
                                       "session": self.plan.session}))
        log.warning("the multiprocessing resource tracker died (exit code %s); relaunched", died)

    def check(self) -> None:
        """Restart the generation if a helper died (or exited before it was told to)."""
        if self.gen is None or self.broken:
            return
        now = time.perf_counter_ns()
        if now >= self._next_tracker_check:
            self._next_tracker_check = now + TRACKER_CHECK_NS
            self._check_tracker()
        for p in self.gen.procs:
            code = p.exitcode
            if code == UNGUARDED_MAIN:
                # A new generation would re-run the user's script again: stop.
                log.info("%s exited: %s", p.name, UNGUARDED_MESSAGE)
                self.unguarded = True
                self.broken = True
                self.stop.set()
                return
            if code is not None and (code != 0 or not self.end_sent):
                self._restart(p)
                return

    # -- hand-off ---------------------------------------------------------------
    def handoff(self, chunk: bytes | Held) -> None:
        self.backlog.add(chunk)
        self.pump()

    def pump(self) -> None:
        """Take acknowledgements, then push queued chunks until the channel is full."""
        gen = self.gen
        b = self.backlog
        if gen is None:
            return
        acked = gen.control.acked
        if acked > b.acked:
            b.ack(acked)
        while b.sent < b.next:
            n = b.sent
            got = gen.try_send(n, b.get(n))
            if not got:
                if self._stall_since is None:
                    self._stall_since = time.perf_counter_ns()
                break
            b.sent += 1
            if got is not True:
                b.hold(n, got)
        else:
            if self._stall_since is not None:
                held = time.perf_counter_ns() - self._stall_since
                self._stall_since = None
                if held >= STALL_EVENT_NS:
                    self.events.emit(Event("stall", self.clock.now_ns() - held,
                                           collector=self.plan.collector, duration_ns=held,
                                           count=b.next - b.first,
                                           detail={"session": self.plan.session}))
            if self.ending and not self.end_sent:
                self.end_sent = gen.try_end(b.next - 1)
        self._note_spill()

    def _note_spill(self) -> None:
        b = self.backlog
        if b.spilled_chunks and self._spill_since is None:
            self._spill_since = self.clock.now_ns()
            self.events.emit(Event("spill", self._spill_since, collector=self.plan.collector,
                                   detail={"phase": "start", "buffered_bytes": b.mem_bytes,
                                           "path": str(b.spill.path),
                                           "session": self.plan.session}))
        elif not b.spilled_chunks and self._spill_since is not None:
            now = self.clock.now_ns()
            self.events.emit(Event("spill", now, collector=self.plan.collector,
                                   count=b.spill_episode_chunks,
                                   duration_ns=now - self._spill_since,
                                   detail={"phase": "end", "spilled_bytes": b.spill.total_bytes,
                                           "session": self.plan.session}))
            self._spill_since = None
            b.spill_episode_chunks = 0
        self.stats.set("spilled_bytes", b.spill.total_bytes)
        self.stats.set("buffered_bytes", b.mem_bytes + b.held_bytes)

    def housekeeping(self) -> None:
        self.pump()
        now = time.perf_counter_ns()
        if now >= self._next_check:
            self._next_check = now + CHECK_EVERY_NS
            self.check()

    # -- the end ------------------------------------------------------------------
    def drain(self, on_tick: Callable[[], None]) -> None:
        """After the last poll: get everything durable and sealed, helpers exited 0."""
        self.ending = True
        last = self.backlog.next - 1
        patience = drain_stall_s()
        seen, since = self._progress(), time.monotonic()
        while not self.broken:
            self.pump()
            self.check()
            gen = self.gen
            if (gen is not None and self.end_sent and self.backlog.acked >= last
                    and all(p.exitcode == 0 for p in gen.procs)):
                for p in gen.procs:
                    p.join()
                gen.close()
                self.gen = None
                return
            on_tick()
            time.sleep(0.001)
            now, progress = time.monotonic(), self._progress()
            if progress != seen:
                seen, since = progress, now
            elif now - since > (patience if self._started() else max(patience, DRAIN_START_S)):
                self._give_up(last, now - since)
                break
        self.kill()
        self._save_here()

    def _started(self) -> bool:
        """Every helper of the generation is past its start-up (imports, recovery)."""
        return self.gen is None or self.gen.control.ready >= len(self.gen.procs)

    def _progress(self) -> tuple[object, ...]:
        """Everything that moves while a healthy generation finishes its work."""
        gen, s, b = self.gen, self.stats, self.backlog
        return (self.generation, self.end_sent, b.sent, b.acked,
                gen.control.acked if gen else None, gen.control.ready if gen else None,
                tuple(p.exitcode for p in gen.procs) if gen else (),
                s.get("rows"), s.get("sealed_parts"), s.get("durable_snapshots"),
                s.get("seal_beat"))

    def _give_up(self, last: int, idle_s: float) -> None:
        """A live generation stopped making progress: say what it waited for, then fail it."""
        b = self.backlog
        if not self._started():
            what = "to start (imports, recovering journals)"
        elif b.sent <= last:
            what = f"to accept chunk {b.sent} of {last} (the end message not sent)"
        elif not self.end_sent:
            what = f"to accept the end message after chunk {last}"
        elif b.acked < last:
            what = (f"to acknowledge chunk {last} (acknowledged through {b.acked}; "
                    f"the end message was sent)")
        else:
            what = "to seal and exit (everything acknowledged)"
        alive = [f"{p.name} (pid {p.pid})" for p in (self.gen.procs if self.gen else ())
                 if p.exitcode is None]
        self.hung = (f"{', '.join(alive) or 'the helpers'} made no progress for "
                     f"{idle_s:.0f} s after the last poll, waiting {what}")
        log.warning("%s; killing them and sealing the rest in the recorder itself", self.hung)
        self.events.emit(Event("restart", self.clock.now_ns(), collector=self.plan.collector,
                               count=b.next - b.first,
                               detail={"process": ", ".join(alive), "exitcode": None,
                                       "reason": "no progress while draining",
                                       "generation": "recorder",
                                       "first_chunk": b.first, "session": self.plan.session}))

    def _save_here(self) -> None:
        """Last resort when helpers keep dying or hang: journal and seal the backlog in-process."""
        from .saver import Saver

        b = self.backlog
        try:
            saver = Saver(self.plan, self.stats, b.first, lambda n: None, events=self.events,
                          background_seal=False)
            for n in range(b.first, b.next):
                saver.put(n, decode(b.get(n)))
            saver.end(b.next - 1)
            saver.close()
        except (OSError, TapeNotWritable) as e:
            states = sum(int(headers(b.get(n)).size) for n in range(b.first, b.next))
            raise TransportFailed(
                f"cannot write the tape under {self.plan.root}: {getattr(e, 'strerror', None) or e}. Recording "
                f"stopped; what was fsync'd is in the journals (`booktape recover` seals them "
                f"once there is room), the last {states} states captured could not be "
                f"stored") from None
        b.ack(b.next - 1)
        if self.unguarded:
            raise UnguardedMain(f"{UNGUARDED_MESSAGE}; recording stopped, what was captured "
                                f"was sealed")
        if self.hung is not None:
            raise TransportFailed(
                f"{self.hung}; they were killed and everything captured was sealed by the "
                f"recorder itself (`booktape verify` checks it)")
        raise TransportFailed(
            f"helper processes died {len(self._restarts)} times within "
            f"{RESTART_WINDOW_NS // 10**9} s; recording stopped, everything captured was "
            f"sealed by the recorder itself (see the restart events in `booktape ls`)")

    def close(self) -> None:
        self.kill()
        self._check_tracker()  # before the ring's unlink talks to it
        self.backlog.close()
        try:
            spill_path(self.plan).parent.rmdir()
            spill_path(self.plan).parent.parent.rmdir()
        except OSError:
            pass


def acquire(plan: RecordPlan, stop: StopFlag, stats: Stats, events: EventSink,
            on_tick: Callable[[], None], start: StartFn,
            packer: Callable[[Supervisor], Packer] | None = None) -> CaptureResult:
    """Run a supervised topology: helpers from ``start``, capture here, then drain.

    ``packer`` builds the capture loop's packer (default: a private
    :class:`~booktape.capture.frame.ChunkBuilder`).
    """
    sup = Supervisor(plan, stats, events, stop, start)
    try:
        # No waiting for the helpers' start-up (~0.5 s of imports): polling
        # starts now, as with `sequential`, and the backlog holds the first chunks.
        sup.start()
        clock = SystemClock()
        source = make_source(plan.source)
        source.bind(events, stop.is_set)
        source.open(plan.capture.symbols)
        try:
            getters = [source.getter(s) for s in plan.capture.symbols]
            starts = array("q")
            if plan.diag_dir:
                getters = traced(getters, starts)

            resub = Resubscriber(source, plan.capture.symbols, stats)

            def housekeeping() -> None:
                sup.housekeeping()
                resub()
                on_tick()

            result = run_capture(getters, plan.capture, clock.offset_ns, plan.start_seq,
                                 sup.handoff, stop, stats, housekeeping,
                                 packer(sup) if packer is not None else None,
                                 anchor=clock, on_step=step_reporter(plan, events))
            if plan.diag_dir:
                write_poll_trace(plan.diag_dir, starts, clock.offset_ns)
        finally:
            source.close()
        sup.drain(on_tick)
        return result
    finally:
        sup.close()
