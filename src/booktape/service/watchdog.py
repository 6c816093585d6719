"""The stale-feed watchdog: a book that stopped changing, or a terminal without its broker.

Runs once a second in the health helper, never in the poll loop. A book
unchanged for longer than ``stale_after`` while the session is open becomes
one ``stale`` event row (and ``stale`` in health, status and metrics); it
clears with a second row when the book changes again. The watchdog only
*asks* for a re-subscription (a shared word the poller reads between polls);
an MT5 source re-subscribes only when its tick stream moved while the book
did not, so a healthy quiet market is never restarted (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..capture.stats import Stats
from ..events import Event, EventSink

DEFAULT_STALE_AFTER_NS = 120_000_000_000


def session_open_from_stats(stats: Stats) -> Callable[[int], bool]:
    """The default "is the session open now" hook: the shared ``session_state`` word.

    0 (no schedule) and 1 (open) are open; whoever runs a schedule sets 2/3.
    """
    return lambda now_ns: stats.get("session_state") in (0, 1)


@dataclass
class Watchdog:
    stats: Stats
    events: EventSink
    symbols: tuple[str, ...]
    collector: str
    session: str
    stale_after_ns: int = DEFAULT_STALE_AFTER_NS
    #: "Is the session open now?" (wall ns → bool); default: the shared word.
    is_open: Callable[[int], bool] | None = None
    since: dict[int, int] = field(default_factory=dict)  # symbol index -> flagged at
    broker_since: int | None = None

    def check(self, now_ns: int, broker_lost: bool = False) -> None:
        is_open = self.is_open or session_open_from_stats(self.stats)
        ended = self.stats.get("polls_ended_ns")
        if ended or not is_open(now_ns):
            # Outside the session a quiet book is the schedule, not a fault; after the
            # poll loop ended (draining) nothing polls it.
            for k in list(self.since):
                self._clear(k, now_ns, "polling ended" if ended else "session closed")
            return
        started = self.stats.get("started_ns")
        for k, sym in enumerate(self.symbols):
            last = self.stats.sym_get("last_change_ns", k) or started
            if not last:
                continue
            quiet = now_ns - last
            if k not in self.since and quiet > self.stale_after_ns:
                self.since[k] = now_ns
                self.stats.sym_set("stale", k, 1)
                self.stats.add("stale_events")
                self.stats.sym_set("resubscribe", k, 1)
                self._emit(now_ns, sym, quiet, "start", reason="unchanged",
                           last_change_ns=last)
            elif k in self.since and quiet <= self.stale_after_ns:
                self._clear(k, now_ns, "changed")
            elif k in self.since and now_ns - self.since[k] >= self.stale_after_ns:
                # Still stale after another period: ask again (the source decides).
                self.since[k] = now_ns
                self.stats.sym_set("resubscribe", k, 1)
        if broker_lost and self.broker_since is None:
            self.broker_since = now_ns
            self.stats.add("stale_events")
            self._emit(now_ns, None, 0, "start", reason="broker_lost")
        elif not broker_lost and self.broker_since is not None:
            self._emit(now_ns, None, now_ns - self.broker_since, "end", reason="broker_back")
            self.broker_since = None

    def _clear(self, k: int, now_ns: int, why: str) -> None:
        t0 = self.since.pop(k)
        self.stats.sym_set("stale", k, 0)
        self.stats.sym_set("resubscribe", k, 0)
        self._emit(now_ns, self.symbols[k], now_ns - t0, "end", reason=why)

    def _emit(self, now_ns: int, symbol: str | None, dur: int, phase: str, **detail: object) -> None:
        self.events.emit(Event("stale", now_ns, symbol=symbol, collector=self.collector,
                               duration_ns=dur, detail={"phase": phase, "session": self.session,
                                                        "stale_after_s": self.stale_after_ns / 1e9,
                                                        **detail}))
