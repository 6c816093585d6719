"""Event rows: everything notable that is not a book state.

Disconnects, reconnects, stalls, spills, restarts, session start/stop. They
are stored with the tape (``DATA/_events/collector=C/events-<session>.jsonl``,
one JSON object per line, fsync'd on the writer's cadence) and shown by
``ls``, the summary and ``analyze``. Nothing is dropped silently: a drop is an
event too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

# The kinds we emit; free-form kinds are allowed but these are the known ones.
KINDS = (
    "session_start", "session_stop", "disconnect", "reconnect", "not_connected",
    "stale", "none_result", "stall", "spill", "drop", "restart", "recover", "seal",
    "shm_cleanup", "clock_step",
)


@dataclass
class Event:
    """One event row."""

    kind: str
    t_ns: int
    symbol: str | None = None
    collector: str | None = None
    count: int = 0
    duration_ns: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class MemoryEvents:
    """Collects events in a list (tests, and the capture process before hand-off)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)


class EventLog:
    """Append-only JSON-lines event file; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self.failed: OSError | None = None

    def emit(self, event: Event) -> None:
        line = json.dumps(asdict(event), separators=(",", ":"), default=str)
        with self._lock:
            if self.failed is not None:
                return
            try:
                self._f.write(line + "\n")
                self._f.flush()
            except OSError as e:
                # A full disk must not stop the recording over an event row; the
                # data path reports the same error where it matters.
                self.failed = e
                log.warning("event log %s: cannot write (%s); further events dropped",
                            self.path, e.strerror or e)

    def sync(self) -> None:
        with self._lock:
            if not self._f.closed and self.failed is None:
                try:
                    self._f.flush()
                    os.fsync(self._f.fileno())
                except OSError as e:
                    self.failed = e

    def close(self) -> None:
        self.sync()
        with self._lock:
            if not self._f.closed:
                try:
                    self._f.close()
                except OSError:
                    pass


def events_dir(root: Path, collector: str) -> Path:
    return root / "_events" / f"collector={collector}"


def read_events(root: Path, collector: str | None = None) -> list[dict[str, Any]]:
    """All event rows under a tape, oldest first.

    A torn last line (a crash) is skipped quietly; any other line that is not
    a JSON object with a ``kind`` and an integer ``t_ns`` (garbage bytes, a bit
    flip) is skipped with a warning naming the file and line, and the rest is
    read (issue 11).
    """
    base = root / "_events"
    if not base.is_dir():
        return []
    out: list[dict[str, Any]] = []
    pattern = f"collector={collector}/*.jsonl" if collector else "collector=*/*.jsonl"
    for p in sorted(base.glob(pattern)):
        try:
            raw = p.read_bytes()
        except OSError as e:
            log.warning("warning: event file %s cannot be read (%s)", p, e.strerror or e)
            continue
        lines = raw.split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
                if not (isinstance(row, dict) and isinstance(row.get("kind"), str)
                        and isinstance(row.get("t_ns"), int)):
                    raise ValueError("not an event row")
            except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                if i < len(lines) - 1:  # the last piece has no newline: a torn tail
                    log.warning("warning: %s line %d is damaged; skipped", p, i + 1)
                continue
            out.append(row)
    out.sort(key=lambda e: e.get("t_ns", 0))
    return out
