"""The health helper process: health file, watchdog, log lines and metrics, once a second.

A low-priority child of the recorder (like the status line and the saver):
it only reads the shared counters and the session's event file, so the
poller never waits for it, and if it is killed the recorder starts another.
It stops on a shared word (never a multiprocessing Event: CPython gh-75158).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..capture.loop import StopFlag
from ..capture.stats import Stats
from ..clock import SystemClock
from ..events import EventLog
from .health import Identity, Rates, health_path, snapshot, write_health
from .tail import EventTail
from .watchdog import Watchdog

PERIOD_S = 1.0


@dataclass(frozen=True)
class HelperPlan:
    """Everything the helper needs (picklable for spawn)."""

    root: str
    events_path: str
    ident: Identity
    log: str | None = None
    metrics: tuple[str, int] | None = None
    #: "Is the session open now?" for the watchdog (picklable); None: the shared word.
    is_open: Callable[[int], bool] | None = None


def helper_main(plan: HelperPlan, stats: Stats, stop: StopFlag, ready: StopFlag) -> None:
    from ..transport._child import become_helper, parent_gone

    ppid = become_helper()
    run_helper(plan, stats, stop, lambda: parent_gone(ppid), ready)


def run_helper(plan: HelperPlan, stats: Stats, stop: StopFlag,
               gone: Callable[[], bool] = lambda: False, ready: StopFlag | None = None) -> None:
    clock = SystemClock()
    ident = plan.ident
    path = health_path(Path(plan.root), ident.collector)
    events = EventLog(Path(plan.events_path))
    tail = EventTail(Path(plan.events_path))
    log = None
    if plan.log:
        from .logfile import open_log

        log = open_log(plan.log)
    latest: list[dict[str, Any] | None] = [None]
    addr = None
    if plan.metrics is not None:
        from .metrics import serve

        _server, addr = serve(plan.metrics[0], plan.metrics[1], lambda: latest[0])
    wd = Watchdog(stats, events, ident.symbols, ident.collector, ident.session_id,
                  ident.stale_after_ns, plan.is_open)
    rates = Rates()
    broker_lost = False
    if ready is not None:
        ready.set()
    try:
        while True:
            for e in tail.read():
                if log is not None:
                    from .logfile import event_line, level_of

                    log.log(level_of(e), event_line(e))
                if e.get("kind") == "not_connected":
                    broker_lost = True
                elif e.get("kind") == "reconnect" and (e.get("detail") or {}).get("link") == "broker":
                    broker_lost = False
            stats.set("broker_lost", int(broker_lost))
            if stop.is_set() or gone():
                return
            now = clock.now_ns()
            wd.check(now, broker_lost)
            latest[0] = snap = snapshot(ident, stats, rates, now, metrics_addr=addr)
            try:
                write_health(path, snap)
            except OSError:
                pass  # a full disk: the data path reports it; health resumes with room
            deadline = time.monotonic() + PERIOD_S
            while time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.05)
    finally:
        events.close()
        if log is not None:
            for h in log.handlers:
                h.close()
