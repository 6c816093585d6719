"""Each collector's day-long per-state arrays for the union's bound, kept on disk (issue 12).

``merge``'s union bound (:mod:`.merge_bound`) needs, for every collector, five
numbers per stored state (33 B: ~330 MB for a 10 M-state day). Held in memory for
the whole second pass they were most of a 2 x 10 M merge's 2 GB peak. Here they
are written once to ``.npy`` files in a temporary directory and each round maps
them (``np.load(mmap_mode="r")``) only while it computes its bound, touching the
few pages near the round (:func:`.merge_bound._near`); the mapping is dropped with
the round, so the pages it read leave the process's resident set.

Plain ``.npy`` files rather than Arrow IPC or Parquet: the round needs random
access by index into sorted arrays (binary search, slices), which a memory map of
a raw array gives for free.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from .merge_bound import CollectorStates

_FIELDS = ("tb", "ta", "blind", "hash", "reread")


class DaySpill:
    """A temporary directory of collectors' :class:`CollectorStates`; ``close`` removes it."""

    def __init__(self, n: int) -> None:
        # TMPDIR decides where (tempfile): a tmpfs /tmp would hold the files in RAM.
        self.dir = Path(tempfile.mkdtemp(prefix="booktape-merge-"))
        self.n = n

    def put(self, k: int, c: CollectorStates) -> None:
        for f in _FIELDS:
            a = getattr(c, f)
            if a is None:
                (self.dir / f"{k}-{f}.npy").unlink(missing_ok=True)
            else:
                np.save(self.dir / f"{k}-{f}.npy", np.ascontiguousarray(a))

    def get(self, k: int, *, mmap: bool = True) -> CollectorStates:
        """Collector ``k``'s states: mapped read-only (default) or read into memory."""
        def load(f: str) -> np.ndarray | None:
            p = self.dir / f"{k}-{f}.npy"
            if not p.exists():
                return None
            a: np.ndarray = np.load(p, mmap_mode="r" if mmap else None)
            return a
        tb, ta, blind, h, reread = (load(f) for f in _FIELDS)
        assert tb is not None and ta is not None and blind is not None
        return CollectorStates(tb, ta, blind, h, reread)

    def all(self) -> list[CollectorStates]:
        """Every collector, mapped (for one round: let the list go after it)."""
        return [self.get(k) for k in range(self.n)]

    def close(self) -> None:
        # Windows cannot delete a file that is still mapped; a mapping left by an error
        # path must not turn into a second error.
        shutil.rmtree(self.dir, ignore_errors=True)
