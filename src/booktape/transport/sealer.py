"""Seal rotated journals on a background thread of the saver process.

Sealing reads a whole segment back, sorts, dedupes and writes zstd Parquet:
seconds for a 256 MB segment. Done inline it would stop the saver from
journaling and acknowledging, the acquirer's backlog would grow, and at high
rates spill. pyarrow releases the GIL for the heavy parts, so a thread keeps
the saver's receive loop flowing (measured in BENCHMARKS.md, "Topologies").
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..clock import Clock
from ..events import Event, EventSink
from ..tape.manifest import PartEntry
from ..tape.seal import seal_journal
from ._child import HELPER_NICE, deprioritize

log = logging.getLogger(__name__)

#: A seal still running after this long beats no more: the drain's watchdog may
#: then call it hung. A 1 GB segment seals in seconds (BENCHMARKS.md: 1.6 s per
#: 256 MB); this leaves room for a loaded machine and a slow disk.
SEAL_BEAT_CAP_S = 600.0


class BackgroundSealer:
    """A FIFO of closed journals and one thread sealing them in order."""

    def __init__(self, clock: Clock, events: EventSink, collector: str,
                 on_seal: Callable[[str, PartEntry], None] | None = None,
                 beat: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self.events = events
        self.collector = collector
        self.on_seal = on_seal
        self._q: queue.Queue[tuple[str, Path] | None] = queue.Queue()
        self.error: BaseException | None = None
        self._busy_since: float | None = None
        self._done = threading.Event()
        self._t = threading.Thread(target=self._run, name="booktape-sealer", daemon=True)
        self._t.start()
        if beat is not None:
            threading.Thread(target=self._beat, args=(beat,), name="booktape-seal-beat",
                             daemon=True).start()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Beat while this block runs (a seal, here or on the saver's own thread)."""
        self._busy_since = time.monotonic()
        try:
            yield
        finally:
            self._busy_since = None

    def _beat(self, beat: Callable[[], None]) -> None:
        """Say "still sealing" once a second; the seal itself is one long pyarrow call."""
        while not self._done.wait(1.0):
            since = self._busy_since
            if since is not None and time.monotonic() - since < SEAL_BEAT_CAP_S:
                beat()

    def submit(self, symbol: str, journal: Path) -> None:
        if self.error is not None:
            raise self.error
        self._q.put((symbol, journal))

    def _run(self) -> None:
        # Sealing is the least urgent work of all: it must not delay journaling
        # and acknowledgements, let alone polling.
        deprioritize(HELPER_NICE, thread=True)
        while True:
            item = self._q.get()
            if item is None:
                self._done.set()
                return
            symbol, path = item
            try:
                with self.busy():
                    seal_and_report(path, symbol, self.clock, self.events, self.collector,
                                    self.on_seal)
            except BaseException as e:  # surfaced to the saver on its next submit/close
                if isinstance(e, OSError):  # a full disk: the saver reports it in one line
                    log.error("sealing %s failed: %s", path, e)
                else:
                    log.exception("sealing %s failed", path)
                self.error = e
                self._done.set()
                return

    def close(self) -> None:
        """Wait until every submitted journal is sealed; re-raise a seal failure."""
        self._q.put(None)
        self._t.join()
        if self.error is not None:
            raise self.error


def seal_and_report(path: Path, symbol: str, clock: Clock, events: EventSink, collector: str,
                    on_seal: Callable[[str, PartEntry], None] | None = None) -> PartEntry | None:
    """Seal one journal and record the seal window as a ``seal`` event row."""
    t0 = clock.now_ns()
    entry = seal_journal(path, t0)
    t1 = clock.now_ns()
    events.emit(Event("seal", t0, symbol=symbol, collector=collector,
                      count=entry.snapshots if entry else 0, duration_ns=t1 - t0,
                      detail={"part": entry.part if entry else None,
                              "rows": entry.rows if entry else 0,
                              "session": entry.session if entry else None}))
    if entry is not None and on_seal is not None:
        on_seal(symbol, entry)
    return entry
