"""The simulated market's true timeline, written by ``--sim-log`` (issue 13).

For every state of a symbol's book from the one the first call served to the
one the last call served: its event count, its birth and death (wall ns, on
the stamps' clock) and a hash of its content. Nothing here runs per event
during a recording: the sim's content and timing come from two seeded random
streams, so the timeline is replayed at close from the schedule's start
(``SimBook.base_ns``) and the served event counts.

In ``lockstep`` mode the market advances inside calls, so a state is born at
the instant of the call that applied its event and dies at the call that
replaced it (states a call stepped over live zero time).
"""

from __future__ import annotations

import hashlib
from itertools import chain
from typing import Any

from ..capture.frame import levels_struct
from ..model import Book
from .simulated import SimBook, SimConfig

TRUTH_VERSION = 2


def state_hash(book: Book) -> int:
    """A 64-bit content hash of a book, over the bytes the tape stores for it.

    The levels are packed as the capture loop packs them (4 little-endian
    float64 per level: type, price, volume, volume_dbl), so the same hash is
    computed from a tape's rows (:func:`packed_hash`) without the sim.
    """
    raw = levels_struct(len(book)).pack(*chain.from_iterable(book)) if book else b""
    return packed_hash(raw)


def packed_hash(raw: bytes) -> int:
    """The hash of packed levels (see :func:`state_hash`)."""
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little", signed=True)


def symbol_timeline(cfg: SimConfig, symbol: str, served: list[int], calls_ns: list[int],
                    base_ns: int | None, wall_offset_ns: int) -> dict[str, Any]:
    """The true states of one symbol over the calls that were made (see the module doc)."""
    first, last = served[0], served[-1]
    b = SimBook(cfg, symbol)
    births = [0] * (last + 2)  # perf ns; index = event count
    if cfg.lockstep:
        prev = -1
        for n, t in zip(served, calls_ns):
            for e in range(prev + 1, n + 1):
                births[e] = t
            prev = max(prev, n)
        births[last + 1] = calls_ns[-1]  # still alive at the last call: death unknown past it
    else:
        assert base_ns is not None
        t = base_ns
        births[0] = t
        for e in range(1, last + 2):
            t += b._gap_ns()
            births[e] = t
    hashes = []
    for e in range(last + 1):
        if e >= first:
            hashes.append(state_hash(b.book()))
        if e < last:
            b.step()
    off = wall_offset_ns
    return {
        "events": list(range(first, last + 1)),
        "birth_ns": [births[e] + off for e in range(first, last + 1)],
        "death_ns": [births[e + 1] + off for e in range(first, last + 1)],
        "hash": hashes,
        "calls": len(calls_ns),
        "window_ns": [calls_ns[0] + off, calls_ns[-1] + off],
    }


def timeline(cfg: SimConfig, books: dict[str, SimBook], served: dict[str, list[int]],
             calls_ns: dict[str, list[int]], wall_offset_ns: int) -> dict[str, Any]:
    """The whole truth file's content: config, served counts and every symbol's timeline."""
    out: dict[str, Any] = {"version": TRUTH_VERSION, "config": dict(cfg.__dict__),
                           "wall_offset_ns": wall_offset_ns, "served": served, "symbols": {}}
    for sym, counts in served.items():
        if counts:
            out["symbols"][sym] = symbol_timeline(cfg, sym, counts, calls_ns[sym],
                                                  books[sym].base_ns, wall_offset_ns)
    return out
