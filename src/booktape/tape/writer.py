"""The tape writer: per-symbol journal segments, rotation, sealing.

A segment is sealed when it has been open ``rotate_every_ns`` (hourly by
default), when the Arrow bytes appended reach ``rotate_bytes`` (the notebook's
memory threshold, 1 GB by default), at UTC midnight, and on close.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..clock import Clock
from ..schema import BOOK_SCHEMA, with_metadata
from .journal import Journal
from .layout import journal_name, next_midnight_ns, part_number, partition_dir, utc_date
from .manifest import PartEntry, read_manifest
from .seal import seal_journal

log = logging.getLogger(__name__)

HOUR_NS = 3600 * 1_000_000_000
GB = 1 << 30


@dataclass
class WriterConfig:
    rotate_every_ns: int = HOUR_NS
    rotate_bytes: int = GB
    sync_every_ns: int = 1_000_000_000


@dataclass
class _Segment:
    symbol: str
    dir: Path
    number: int
    journal: Journal
    opened_ns: int
    midnight_ns: int
    first_t_ns: int = 0  # data time of the first row
    bytes: int = 0
    rows: int = 0


@dataclass
class WriterStats:
    rows: int = 0
    sealed_parts: int = 0
    sealed_bytes: int = 0
    open_bytes: int = 0
    syncs: int = 0  # rounds of fsync over every open segment: what acknowledgements wait for
    durable_seq: dict[str, int] = field(default_factory=dict)


def next_part_number(dir_: Path) -> int:
    nums = [n for p in dir_.iterdir() if (n := part_number(p.name)) is not None] if dir_.is_dir() else []
    # The manifest too: `record --no-local` deletes parts the bus has, and their numbers
    # must not be given again (sealing would refuse the name and the session's data stall).
    nums += [n for e in read_manifest(dir_) if (n := part_number(e.part)) is not None]
    return max(nums, default=0) + 1


class TapeWriter:
    """Appends Arrow batches per symbol to journals and seals them into parts."""

    def __init__(self, root: Path, collector: str, clock: Clock, *,
                 config: WriterConfig | None = None, schema: pa.Schema = BOOK_SCHEMA,
                 meta: dict[str, str] | None = None,
                 on_seal: Callable[[str, PartEntry], None] | None = None,
                 time_col: str = "t_before_ns",
                 sealer: Callable[[str, Path], None] | None = None,
                 on_durable: Callable[[str, pa.RecordBatch], None] | None = None) -> None:
        self.root = root
        self.collector = collector
        self.clock = clock
        self.cfg = config or WriterConfig()
        self.meta = dict(meta or {})
        self.meta["collector"] = collector
        self.schema = schema
        self.time_col = time_col
        self.on_seal = on_seal
        # With a sealer, a rotated journal is closed (so durable) and handed
        # over: sealing a 256 MB segment takes seconds and the saver process
        # must keep journaling and acknowledging meanwhile (issue 3).
        self.sealer = sealer
        # Downstreams (the bus publisher) get each batch once its fsync is done,
        # so nothing leaves the machine that a crash here could take back (issue 15).
        self.on_durable = on_durable
        self._undurable: dict[str, list[pa.RecordBatch]] = {}
        self.stats = WriterStats()
        self._segs: dict[str, _Segment] = {}
        self._last_sync = clock.now_ns()
        self._max_seq: dict[str, int] = {}

    # -- appending -------------------------------------------------------------
    def append(self, symbol: str, batch: pa.RecordBatch) -> None:
        """Append rows of one symbol; rotates first when a boundary is due."""
        if batch.num_rows == 0:
            return
        t = batch.column(self.time_col)
        t0 = int(pc.min(t).as_py())
        seg = self._segs.get(symbol)
        if seg is not None and (t0 >= seg.midnight_ns
                                or t0 - seg.first_t_ns >= self.cfg.rotate_every_ns):
            # Age by data time too: a saver catching up on a backlog must cut
            # segments where the data says, not all in one (issue 3).
            self.seal(symbol)
            seg = None
        if seg is None:
            seg = self._open(symbol, t0)
        if int(pc.max(t).as_py()) >= seg.midnight_ns:
            # The batch straddles UTC midnight: split so no part spans two dates.
            before = pc.less(t, seg.midnight_ns)
            self.append(symbol, batch.filter(before))
            self.append(symbol, batch.filter(pc.invert(before)))
            return
        seg.journal.append(batch)
        if self.on_durable is not None:
            self._undurable.setdefault(symbol, []).append(batch)
        seg.bytes += batch.nbytes
        seg.rows += batch.num_rows
        self.stats.rows += batch.num_rows
        self.stats.open_bytes += batch.nbytes
        if "seq" in batch.schema.names:
            self._max_seq[symbol] = max(self._max_seq.get(symbol, -1),
                                        int(pc.max(batch.column("seq")).as_py()))
        if seg.bytes >= self.cfg.rotate_bytes:
            self.seal(symbol)

    def _open(self, symbol: str, t0: int) -> _Segment:
        date = utc_date(t0)
        d = partition_dir(self.root, symbol, date, self.collector)
        d.mkdir(parents=True, exist_ok=True)
        n = next_part_number(d)
        meta = dict(self.meta, symbol=symbol, date=date)
        j = Journal(d / journal_name(n), with_metadata(self.schema, meta))
        seg = _Segment(symbol, d, n, j, self.clock.now_ns(), next_midnight_ns(t0), t0)
        self._segs[symbol] = seg
        return seg

    # -- cadence -----------------------------------------------------------------
    def tick(self) -> None:
        """Call often: fsyncs on the cadence and seals segments that are due by age."""
        now = self.clock.now_ns()
        for sym, seg in list(self._segs.items()):
            if now - seg.opened_ns >= self.cfg.rotate_every_ns:
                self.seal(sym)
        if now - self._last_sync >= self.cfg.sync_every_ns:
            self.sync()

    def sync(self) -> None:
        for seg in self._segs.values():
            seg.journal.sync()
        self._last_sync = self.clock.now_ns()
        self.stats.syncs += 1
        self.stats.durable_seq.update(self._max_seq)
        for sym in list(self._undurable):
            self._hand_on(sym)

    def _hand_on(self, symbol: str) -> None:
        batches = self._undurable.pop(symbol, None)
        if batches and self.on_durable is not None:
            for b in batches:
                self.on_durable(symbol, b)

    # -- sealing -----------------------------------------------------------------
    def seal(self, symbol: str) -> PartEntry | None:
        """Close the symbol's segment and seal it (or hand it to ``sealer``)."""
        seg = self._segs.pop(symbol, None)
        if seg is None:
            return None
        seg.journal.close()
        self.stats.durable_seq[symbol] = self._max_seq.get(symbol, -1)
        self._hand_on(symbol)
        self.stats.open_bytes -= seg.bytes
        if self.sealer is not None:
            self.sealer(symbol, seg.journal.path)
            return None
        entry = seal_journal(seg.journal.path, self.clock.now_ns())
        if entry is not None:
            self.stats.sealed_parts += 1
            self.stats.sealed_bytes += entry.bytes
            if self.on_seal:
                self.on_seal(symbol, entry)
        return entry

    def close(self) -> list[PartEntry]:
        """Seal every open segment."""
        out = []
        for sym in list(self._segs):
            e = self.seal(sym)
            if e is not None:
                out.append(e)
        return out

    @property
    def open_segments(self) -> dict[str, Path]:
        return {s: seg.journal.path for s, seg in self._segs.items()}
