"""Replay the overflow journals (spill files) of sessions that were killed.

A killed acquirer leaves ``_spill/collector=C/spill-<session>.bin``: chunks
it could not keep in memory and that may never have reached a journal, so
they may be the only copy of those states (issue 11). Before a collector
records again (and in ``booktape recover``), each such file is walked frame
by frame, every frame whose checksum holds is decoded, the states not already
on the tape (seq above the last stored one) are sealed into parts of their
own, and the file is removed. Damaged frames are named and skipped; a file
that cannot be mapped to its symbols is kept and reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from ..capture.frame import HEADER_DTYPE, HEADER_SIZE, LEVEL_SIZE, PREFIX, decode
from ..clock import ManualClock
from ..events import read_events
from ..tape.tape import Tape
from ..tape.writer import TapeWriter
from .backlog import SPILL_FRAME, SPILL_MAGIC

log = logging.getLogger(__name__)


@dataclass
class SpillReplay:
    """What replaying one spill file did."""

    path: Path
    session: str
    states: dict[str, int] = field(default_factory=dict)  # replayed, per symbol
    already: int = 0  # states in the file that were on the tape already
    damaged: list[str] = field(default_factory=list)  # frames that failed their checks
    kept: str = ""  # why the file was kept rather than removed

    def describe(self) -> str:
        n = sum(self.states.values())
        out = f"{self.path}: {n:,} state(s) of session {self.session} replayed"
        if self.states:
            out += " (" + ", ".join(f"{s} {k:,}" for s, k in self.states.items()) + ")"
        out += f", {self.already:,} already on the tape"
        if self.damaged:
            out += f"; damaged: {'; '.join(self.damaged)}"
        return out + (f"; kept: {self.kept}" if self.kept else "; removed")


def spill_files(tape: Tape, collector: str | None = None) -> list[Path]:
    base = tape.root / "_spill"
    return sorted(base.glob(f"collector={collector or '*'}/spill-*.bin"))


def _session_symbols(tape: Tape, collector: str, session: str) -> list[str] | None:
    for e in read_events(tape.root, collector):
        d = e.get("detail") or {}
        if e.get("kind") == "session_start" and d.get("session") == session:
            syms = d.get("symbols")
            if isinstance(syms, list) and all(isinstance(s, str) for s in syms):
                return syms
    return None


def _chunks(data: bytes, out: SpillReplay) -> list[bytes]:
    """Every frame's chunk whose checksum holds; damaged stretches are named in ``out``."""
    chunks = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < SPILL_FRAME.size:
            out.damaged.append(f"bytes {pos}..{len(data)}: a frame cut short")
            break
        magic, n, want = SPILL_FRAME.unpack_from(data, pos)
        body = data[pos + SPILL_FRAME.size:pos + SPILL_FRAME.size + n]
        if magic == SPILL_MAGIC and len(body) == n and xxhash.xxh3_64_intdigest(body) == want \
                and _well_formed(body):
            chunks.append(body)
            pos += SPILL_FRAME.size + n
            continue
        nxt = data.find(SPILL_MAGIC, pos + 1)
        end = nxt if nxt >= 0 else len(data)
        out.damaged.append(f"bytes {pos}..{end}: fails its checksum")
        pos = end
    return chunks


def _well_formed(chunk: bytes) -> bool:
    """The chunk's own counts agree with its length (decode would trust them)."""
    if len(chunk) < PREFIX.size:
        return False
    n_snap, n_lv, slots, _ = PREFIX.unpack_from(chunk, 0)
    if n_snap > slots or len(chunk) != PREFIX.size + HEADER_SIZE * slots + LEVEL_SIZE * n_lv:
        return False
    h = np.frombuffer(chunk, dtype=HEADER_DTYPE, count=n_snap, offset=PREFIX.size)
    return bool(int(h["n"].astype(np.int64).sum()) == n_lv)


def replay_spills(data: str | Path | Tape, now_ns: int, collector: str | None = None, *,
                  lock_held: bool = False) -> list[SpillReplay]:
    """Seal what the spill files of dead sessions hold, then remove them.

    Collectors with a live recorder are skipped (their spill file is in use)
    unless ``lock_held`` or the :class:`Tape` holds that collector's lock.
    """
    tape = Tape.of(data)
    done = []
    for p in spill_files(tape, collector):
        col = p.parent.name.partition("=")[2]
        if not (lock_held and col == collector) and tape.busy(col):
            continue
        done.append(_replay_one(tape, p, col, now_ns))
        log.info("spill replay: %s", done[-1].describe())
    return done


def _replay_one(tape: Tape, p: Path, col: str, now_ns: int) -> SpillReplay:
    session = p.stem.removeprefix("spill-")
    out = SpillReplay(p, session)
    data = p.read_bytes()
    if not data:
        p.unlink()
        return out
    symbols = _session_symbols(tape, col, session)
    if symbols is None:
        out.kept = "its session's start event is not in the tape, so its symbols are unknown"
        return out
    batches: dict[str, list[pa.RecordBatch]] = {}
    for chunk in _chunks(data, out):
        for k, b in decode(chunk).items():
            if k >= len(symbols):
                out.damaged.append(f"a chunk names symbol #{k} of {len(symbols)}")
                continue
            batches.setdefault(symbols[k], []).append(b)
    writer = TapeWriter(tape.root, col, ManualClock(now_ns),
                        meta={"session": session, "source": "spill replay"})
    for sym, bs in batches.items():
        t = pa.Table.from_batches(bs)
        last = tape.last_seq(sym, col)
        fresh = t.filter(pc.greater(t.column("seq"), last))
        out.already += len(pc.unique(t.column("seq"))) - len(pc.unique(fresh.column("seq")))
        if fresh.num_rows:
            for b in fresh.to_batches():
                writer.append(sym, b)
            out.states[sym] = len(pc.unique(fresh.column("seq")))
    writer.close()
    tape.refresh()
    p.unlink()
    for d in (p.parent, p.parent.parent):
        try:
            d.rmdir()
        except OSError:
            break
    return out
