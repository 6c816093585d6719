"""``booktape status DATA``: every collector's health, judged.

A recorder is **healthy** while it writes its health file every second,
polls, and no book is stale; **stale** when a book is unchanged past
``--stale-after`` or the terminal lost its broker; **stuck** when its health
file or its polls stopped advancing although its process lives; **dead**
when its process is gone without a clean stop. Outside an open session
(``waiting``/``closed``) staleness is not a fault, nor while it **drains** (polls
ended, the backlog is being sealed). A recorder that stopped
cleanly is **stopped**, one that stopped on an error **failed**.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TapeNotFound
from .health import read_health

#: Health not rewritten for this long (it is every second) means the recorder is stuck.
STUCK_AFTER_NS = 10_000_000_000
#: No poll for this long while the session is open: the poller is stuck in a call.
NO_POLL_AFTER_NS = 30_000_000_000
BAD = ("stale", "stuck", "dead", "failed")


@dataclass
class CollectorStatus:
    collector: str
    verdict: str
    why: str
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict not in BAD

    def as_dict(self) -> dict[str, Any]:
        return {"collector": self.collector, "verdict": self.verdict, "why": self.why,
                "ok": self.ok, "health": self.health}


def _alive(h: dict[str, Any]) -> bool:
    from ..transport._shm import start_mark

    pid = h.get("pid")
    if not isinstance(pid, int):
        return False
    now = start_mark(pid)
    return now is not None and (h.get("pid_start") in (None, now))


def judge(h: dict[str, Any], now_ns: int, speed: float = 1.0) -> CollectorStatus:
    """One collector's verdict from its health file.

    ``speed``: clock ns per real ns (the test clock, ``BOOKTAPE_DEV_CLOCK``):
    the health file is rewritten every real second, so "stuck" is judged in
    real time.
    """
    name = str(h.get("collector", "?"))
    if "error" in h:
        return CollectorStatus(name, "dead", str(h["error"]), h)
    state = h.get("state")
    if state == "stopped":
        return CollectorStatus(name, "stopped", "stopped cleanly", h)
    if state == "failed":
        return CollectorStatus(name, "failed", f"stopped on an error: {h.get('last_error')}", h)
    session = h.get("session", "open")
    if state == "waiting":
        # Between two scheduled sessions nothing polls and no helper rewrites health.
        if _alive(h):
            return CollectorStatus(name, "waiting", "waiting for the next session", h)
        return CollectorStatus(name, "down", f"process {h.get('pid')} is gone "
                               "(between sessions)", h)
    if not _alive(h):
        # Dead while draining: the backlog it held was never sealed (journals stay
        # for `recover`), a fault whatever the session.
        verdict = "dead" if session == "open" or state == "draining" else "down"
        return CollectorStatus(name, verdict, f"process {h.get('pid')} is gone "
                               f"(no clean stop)", h)
    age = now_ns - int(h.get("updated_ns") or 0)
    if age > STUCK_AFTER_NS * speed:
        return CollectorStatus(name, "stuck", f"health not updated for {age / 1e9:.0f} s", h)
    if state == "draining":
        # Polls ended (the close, a deadline, Ctrl-C): no poll and no change is expected
        # while the backlog is written and sealed; the helper still rewrites health.
        why = "polling ended; writing and sealing what was captured"
        if session == "closed":
            why = "session closed; writing and sealing what was captured"
        return CollectorStatus(name, "draining", why, h)
    if session != "open":
        return CollectorStatus(name, session, f"session {session}", h)
    last_poll = int(h.get("last_poll_ns") or 0)
    if last_poll and now_ns - last_poll > NO_POLL_AFTER_NS * speed:
        return CollectorStatus(name, "stuck", f"no poll for {(now_ns - last_poll) / 1e9:.0f} s", h)
    stale = [s for s, v in (h.get("symbols") or {}).items() if v.get("stale")]
    if h.get("broker_lost"):
        return CollectorStatus(name, "stale", "the terminal lost its broker", h)
    if stale:
        return CollectorStatus(name, "stale", f"unchanged past {h.get('stale_after_s')} s: "
                               f"{', '.join(stale)}", h)
    return CollectorStatus(name, "healthy", "recording", h)


def status(data: str | Path, now_ns: int) -> list[CollectorStatus]:
    """Every collector with a health file under the tape ``data``.

    Raises:
        TapeNotFound: no tape there, or no recorder has written health into it.
    """
    root = Path(data)
    if not root.is_dir():
        raise TapeNotFound(f"no tape at {root}: the path does not exist or is not a directory")
    hs = read_health(root)
    if not hs:
        raise TapeNotFound(f"no health files under {root}/_health: no recorder has run "
                           f"with this version on this tape")
    from ..clock import speed

    return [judge(h, now_ns, speed) for h in hs]
