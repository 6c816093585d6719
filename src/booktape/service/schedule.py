"""The session scheduler: wait for the open, record through the window, seal at the close.

``record(..., session="moex-forts")`` hands this module one function that
records until a deadline; :func:`run_schedule` decides when to call it. It
waits (in steps, so Ctrl-C and ``--until`` are honoured) for the next window
of the calendar, records through it, and after the close waits for the next
one, until ``end_ns`` (``--duration``/``--until``) or a stop. Windows that touch
(``always`` at midnight) are one recording. Every recording is a complete
session of its own (a topology started and drained, every segment sealed), so
a pause or a close leaves nothing open on disk.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from .. import clock as _clock
from ..clock import Clock
from ..events import Event
from .calendar import Calendar, Window

log = logging.getLogger(__name__)

T = TypeVar("T")
# At most this many days of touching windows make one recording (``always``):
# the recorder restarts its topology once a month rather than never.
_MERGE_DAYS = 31


class _Stop(Protocol):
    def is_set(self) -> bool: ...


def merged_window(cal: Calendar, t_ns: int) -> Window | None:
    """The window open at (or next after) ``t_ns``, joined with the windows that touch it."""
    w = cal.next_window(t_ns)
    if w is None:
        return None
    limit = w.open + dt.timedelta(days=_MERGE_DAYS)
    while w.close < limit:
        nxt = cal.next_window(w.close_ns)
        if nxt is None or nxt.open_ns != w.close_ns:
            break
        w = replace(w, close=nxt.close, parts=w.parts + nxt.parts)
    return w


def describe(w: Window) -> str:
    """``moex-forts 2026-03-24 (weekday) 08:50–23:50 MSK = 05:50–20:50 UTC``."""
    u_open, u_close = w.open.astimezone(dt.UTC), w.close.astimezone(dt.UTC)
    zone = w.open.tzname() or ""
    return (f"{w.calendar} {w.date.isoformat()} ({w.day}) {w.open:%H:%M}–{w.close:%H:%M} {zone}"
            f" = {u_open:%Y-%m-%d %H:%M}–{u_close:%H:%M} UTC")


def open_event(w: Window, t_ns: int, collector: str, session: str) -> Event:
    """The ``session_open`` row: the window as scheduled, so ``analyze`` can read it back."""
    return Event("session_open", t_ns, collector=collector, detail={
        "session": session, "calendar": w.calendar, "date": w.date.isoformat(), "day": w.day,
        "open_ns": w.open_ns, "close_ns": w.close_ns, "parts": [p[0] for p in w.parts]})


def close_event(w: Window, t_ns: int, collector: str, session: str, reason: str) -> Event:
    """The ``session_close`` row; ``reason`` is ``close``, ``deadline`` or ``stop``."""
    return Event("session_close", t_ns, collector=collector, detail={
        "session": session, "calendar": w.calendar, "date": w.date.isoformat(),
        "open_ns": w.open_ns, "close_ns": w.close_ns, "reason": reason})


def run_schedule(cal: Calendar, record_window: Callable[[Window, int], T], *, clock: Clock,
                 stop: _Stop, end_ns: int | None = None,
                 on_wait: Callable[[Window], None] | None = None,
                 sleep: Callable[[float], None] = _clock.sleep) -> list[T]:
    """Record every window of ``cal`` from now until ``end_ns`` or ``stop``.

    Args:
        cal: the trading calendar.
        record_window: records from now until the deadline it is given (ns), then
            returns once everything is sealed; it receives the window for its events.
        clock: tells the time (the recorder's clock; tests inject a fast or manual one).
        stop: raised by Ctrl-C/SIGTERM: the wait ends at once, a recording drains.
        end_ns: ``--duration``/``--until`` as a wall-clock deadline; None runs on.
        on_wait: told each time the scheduler starts waiting for a window.
        sleep: sleeps this many seconds of ``clock`` time (tests advance a manual clock).

    Returns:
        What ``record_window`` returned, one per window recorded.
    """
    done: list[T] = []
    while not stop.is_set():
        now = clock.now_ns()
        if end_ns is not None and now >= end_ns:
            break
        w = merged_window(cal, now)
        if w is None:
            log.info("calendar %s has no session after %s: stopping", cal.name,
                     dt.datetime.fromtimestamp(now / 1e9, tz=cal.tz).date())
            break
        if w.open_ns > now:
            if end_ns is not None and w.open_ns >= end_ns:
                log.info("next session %s opens after the deadline: stopping", describe(w))
                break
            log.info("waiting for the session %s", describe(w))
            if on_wait is not None:
                on_wait(w)
            _wait_until(w.open_ns, clock, stop, sleep)
            continue  # the clock may have stepped: look again
        deadline = w.close_ns if end_ns is None else min(w.close_ns, end_ns)
        log.info("session open: %s; recording until %s", describe(w),
                 dt.datetime.fromtimestamp(deadline / 1e9, tz=cal.tz).isoformat())
        done.append(record_window(w, deadline))
        ended = clock.now_ns()
        log.info("session %s %s: sealed", w.calendar, "closed" if ended >= w.close_ns else "ended")
        if ended < deadline and not stop.is_set():
            # The recording stopped by itself before its deadline (--polls): that is
            # the user's limit for the whole run, not a reason to start again.
            break
    return done


def _wait_until(t_ns: int, clock: Clock, stop: _Stop, sleep: Callable[[float], None]) -> None:
    # Steps of at most a second of real time: Ctrl-C, SIGTERM and a stepped
    # clock are noticed promptly, and a sleeping laptop wakes to the right time.
    step = 1.0 * _clock.speed
    while not stop.is_set():
        left = (t_ns - clock.now_ns()) / 1e9
        if left <= 0:
            return
        sleep(min(left, step))
