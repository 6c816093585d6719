"""The health file: one small JSON per collector in the tape, rewritten every second.

``DATA/_health/collector=NAME.json``, written atomically (temporary file +
``os.replace``) so a reader never sees half a file. It is not fsync'd: it is
rewritten every second, and after a power cut a missing or stale file reads
as "dead", which is then the truth.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..capture.stats import SESSION_STATES, Stats

HEALTH_DIR = "_health"
VERSION = 1


def health_path(root: Path, collector: str) -> Path:
    return root / HEALTH_DIR / f"collector={collector}.json"


@dataclass
class Rates:
    """polls/s and states/s over the last interval (the helper keeps the previous sample)."""

    t_ns: int = 0
    polls: int = 0
    stored: int = 0
    polls_per_s: float = 0.0
    states_per_s: float = 0.0

    def update(self, now_ns: int, polls: int, stored: int) -> None:
        if self.t_ns and now_ns > self.t_ns:
            dt = (now_ns - self.t_ns) / 1e9
            self.polls_per_s = (polls - self.polls) / dt
            self.states_per_s = (stored - self.stored) / dt
        self.t_ns, self.polls, self.stored = now_ns, polls, stored


@dataclass(frozen=True)
class Identity:
    """What does not change during a recording: who writes this health file."""

    collector: str
    symbols: tuple[str, ...]
    pid: int
    pid_start: str | None
    session_id: str
    source: str
    topology: str
    stale_after_ns: int
    metrics: str | None = None
    #: Wall ns at which the scheduled session's window closes (None: no schedule).
    close_ns: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def snapshot(ident: Identity, stats: Stats, rates: Rates, now_ns: int, *,
             state: str = "recording", last_error: str | None = None,
             metrics_addr: str | None = None) -> dict[str, Any]:
    """The health file's content from the live counters.

    ``state`` "recording" becomes "draining" once the poll loop has ended (the
    close, a deadline or Ctrl-C): the backlog is being written and sealed, which
    took ~7 s after a session's close, and "recording" would have said polls ran.
    """
    s = stats.as_dict()
    ended = s["polls_ended_ns"]
    session = SESSION_STATES.get(s["session_state"], "open")
    if state == "recording" and ended:
        state = "draining"
        if session == "open" and ident.close_ns is not None and now_ns >= ident.close_ns:
            session = "closed"
    rates.update(now_ns, s["polls"], s["stored"])
    started = s["started_ns"]
    syms = {}
    for k, name in enumerate(ident.symbols):
        last_change = stats.sym_get("last_change_ns", k)
        syms[name] = {
            "last_poll_ns": s["last_poll_at_ns"] or None,
            "last_change_ns": last_change or None,
            "unchanged_for_s": round((now_ns - (last_change or started)) / 1e9, 3)
            if (last_change or started) else None,
            "next_seq": stats.sym_get("next_seq", k),
            "stale": bool(stats.sym_get("stale", k)),
        }
    return {
        "version": VERSION, "collector": ident.collector, "pid": ident.pid,
        "pid_start": ident.pid_start, "session_id": ident.session_id,
        "session": session, "state": state,
        "source": ident.source, "topology": ident.topology,
        "updated_ns": now_ns, "started_ns": started or None,
        "last_poll_ns": s["last_poll_at_ns"] or None, "polls_ended_ns": ended or None,
        "polls": s["polls"], "states": s["stored"],
        "polls_per_s": round(rates.polls_per_s, 1), "states_per_s": round(rates.states_per_s, 1),
        "rows_written": s["rows"], "buffered_bytes": s["buffered_bytes"],
        "spilled_bytes": s["spilled_bytes"], "parts_sealed": s["sealed_parts"],
        "restarts": s["restarts"], "stale_events": s["stale_events"],
        "clock_steps": s["clock_steps"], "broker_lost": bool(s["broker_lost"]),
        "stale_after_s": ident.stale_after_ns / 1e9, "metrics": metrics_addr,
        "last_error": last_error, "symbols": syms,
    }


def write_health(path: Path, data: dict[str, Any]) -> None:
    """Replace the health file atomically (never a half-written file for a reader)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def read_health(root: Path) -> list[dict[str, Any]]:
    """Every collector's health file under a tape (unreadable ones as ``{"error": ...}``)."""
    d = root / HEALTH_DIR
    out: list[dict[str, Any]] = []
    if not d.is_dir():
        return out
    for p in sorted(d.glob("collector=*.json")):
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            out.append({"collector": p.stem.partition("=")[2], "error": f"unreadable: {e}"})
    return out
