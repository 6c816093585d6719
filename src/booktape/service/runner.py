"""The recorder's side of the service features: start, watch and stop the health helper.

``record`` calls :meth:`Service.tick` between polls (it only looks at a clock,
and once a second at whether the helper is alive) and :meth:`Service.stop`
at the end, which writes the final health file itself so it is right even
if the helper was killed.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..capture.loop import StopFlag
from ..capture.stats import Stats
from ..clock import SystemClock
from ..events import Event, EventSink
from ..units import parse_duration
from .health import Identity, Rates, health_path, snapshot, write_health
from .helper import HelperPlan, helper_main

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0


class Service:
    """The health helper of one recording, restarted if it dies."""

    def __init__(self, plan: HelperPlan, stats: Stats, events: EventSink) -> None:
        self.plan = plan
        self.stats = stats
        self.events = events
        self.stop_flag = StopFlag()
        self.ready = StopFlag()  # raised by the helper once it is in its loop
        self.proc: Any = None
        self._next = 0.0
        self.restarts = 0
        #: The recording's own stop flag (set when the helper cannot run at all).
        self.stop_recording: StopFlag | None = None
        #: The helper found itself re-running the user's unguarded script.
        self.unguarded = False

    def start(self) -> None:
        """Write a first health file and launch the helper now: health is visible from the start.

        It used to start 5 s in, because its imports (``import booktape`` pulls
        pyarrow and pandas: seconds of CPU on a loaded 2-core box) delayed the
        topology's saver, and a 2 s recording took 2-3 s longer. But then the
        health file went unrefreshed, and ``status`` called a loaded recorder
        stuck, for up to ~10 s. Imports at the helpers' low priority were no
        answer: under load they took over 7 s (the saver's, at normal
        priority, 2-3 s). A slower start of a seconds-long recording is the
        lesser cost: the backlog absorbs the saver's delay, nothing is lost.
        """
        self._write(snapshot(self.plan.ident, self.stats, Rates(), SystemClock().now_ns()))
        self._launch()

    def _launch(self) -> None:
        from ..transport._child import mp_context

        self.proc = mp_context().Process(target=helper_main, name="booktape-health",
                                         args=(self.plan, self.stats, self.stop_flag,
                                               self.ready))
        self.proc.start()

    def tick(self) -> None:
        t = time.monotonic()
        if t < self._next:
            return
        self._next = t + CHECK_EVERY_S
        code = self.proc.exitcode if self.proc is not None else None
        if code is None or self.unguarded:
            return
        from ..transport._child import UNGUARDED_MAIN, UNGUARDED_MESSAGE

        if code == UNGUARDED_MAIN:
            # Restarting would re-run the user's script again, forever: stop instead.
            log.info("booktape-health exited: %s", UNGUARDED_MESSAGE)
            self.unguarded = True
            if self.stop_recording is not None:
                self.stop_recording.set()
            return
        self.restarts += 1
        self.stats.add("restarts")
        self.events.emit(Event("restart", SystemClock().now_ns(),
                               collector=self.plan.ident.collector,
                               detail={"process": "booktape-health", "exitcode": code,
                                       "session": self.plan.ident.session_id}))
        log.warning("booktape-health died (exit code %s); restarted", code)
        self.proc.join(1)
        self.ready = StopFlag()
        self._launch()

    def stop(self, error: str | None = None, state: str = "stopped") -> None:
        """Stop the helper (never waiting on anything it could hold) and write the last health."""
        if error:
            self.events.emit(Event("error", SystemClock().now_ns(),
                                   collector=self.plan.ident.collector,
                                   detail={"error": error, "session": self.plan.ident.session_id}))
        self.stop_flag.set()
        if self.proc is not None:
            # In its loop it looks at the flag every 50 ms; still starting (imports,
            # seconds under load) it has nothing to finish: no reason to wait.
            if self.ready.is_set():
                self.proc.join(2)
            if self.proc.exitcode is None:
                self.proc.kill()
                self.proc.join(5)
        self._write(snapshot(self.plan.ident, self.stats, Rates(), SystemClock().now_ns(),
                             state="failed" if error else state, last_error=error))

    def _write(self, data: dict[str, Any]) -> None:
        try:
            write_health(health_path(Path(self.plan.root), self.plan.ident.collector), data)
        except OSError:
            pass


@dataclass(frozen=True)
class ServiceOptions:
    """``--stale-after``, ``--log``, ``--metrics``, checked before the tape is touched."""

    stale_after_ns: int = 120_000_000_000
    log_file: str | None = None
    metrics: tuple[str, int] | None = None

    def waiting(self, root: Path, collector: str, symbols: tuple[str, ...], stats: Stats, *,
                source: str, topology: str) -> None:
        """Health of a scheduled recorder waiting for a session (before the first, too).

        Without it a recorder started at night had no health file until the
        morning's open, and ``status`` said no recorder had run on the tape.
        """
        from ..transport._shm import start_mark

        ident = Identity(collector=collector, symbols=symbols, pid=os.getpid(),
                         pid_start=start_mark(os.getpid()), session_id="", source=source,
                         topology=topology, stale_after_ns=self.stale_after_ns)
        try:
            write_health(health_path(root, collector),
                         snapshot(ident, stats, Rates(), SystemClock().now_ns(),
                                  state="waiting"))
        except OSError:
            pass

    def start(self, root: Path, collector: str, symbols: tuple[str, ...], session: str,
              events_path: Path, stats: Stats, events: EventSink, *, source: str,
              topology: str, stop: StopFlag | None = None,
              close_ns: int | None = None) -> Service:
        """Start the health helper (before polling starts); ``stop``: the recording's.

        ``close_ns``: the scheduled window's close, so the drain after it reads "closed".
        """
        from ..transport._shm import start_mark

        ident = Identity(collector=collector, symbols=symbols, pid=os.getpid(),
                         pid_start=start_mark(os.getpid()), session_id=session, source=source,
                         topology=topology, stale_after_ns=self.stale_after_ns,
                         close_ns=close_ns)
        svc = Service(HelperPlan(root=str(root), events_path=str(events_path), ident=ident,
                                 log=self.log_file, metrics=self.metrics), stats, events)
        svc.stop_recording = stop
        svc.start()
        return svc


def prepare_service(stale_after: str | int = "2m", log_file: str | None = None,
                    metrics: str | None = None) -> ServiceOptions:
    """Validate the service options; a bad one is a :class:`BadArgument` (exit 2)."""
    from ..errors import BadArgument

    stale_ns = parse_duration(stale_after, "--stale-after")
    if stale_ns <= 0:
        raise BadArgument(f"invalid --stale-after {stale_after!r}: must be positive")
    addr = None
    if metrics is not None:
        from .metrics import check_bindable, parse_addr

        addr = parse_addr(metrics)
        check_bindable(*addr)
    if log_file is not None:
        from .logfile import check_log_path

        log_file = str(check_log_path(log_file))
    return ServiceOptions(stale_after_ns=stale_ns, log_file=log_file, metrics=addr)
