"""A tape directory as one object: its partitions, manifests, files and locks.

Like sqlite-utils' ``Database``, every command works on one :class:`Tape`:
partitions are listed once, each manifest is read and validated once (and
again only if the file changed on disk), and a collector's lock is held by the
object for as long as the caller needs it. Parts on disk that no manifest
lists are found here too, from their Parquet key-value metadata, so no reader
can skip them silently (issue 11).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from ..errors import TapeNotFound
from ..schema import metadata_of
from .layout import (
    JOURNAL_RE,
    PART_RE,
    lock_path,
    parse_partition,
    part_name,
    part_number,
    utc_date,
)
from .lock import CollectorLock
from .manifest import Manifest, ManifestProblem, PartEntry, load_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TapeFile:
    """One readable file of a tape: a sealed part or an open journal."""

    path: Path
    symbol: str
    date: str
    collector: str
    entry: PartEntry | None  # None for a journal
    listed: bool = True  # False: a part no manifest lists (entry from its own metadata)
    problem: str = ""  # why an unlisted part's own metadata cannot be read

    @property
    def sealed(self) -> bool:
        return self.entry is not None


def entry_from_part(path: Path) -> PartEntry:
    """What a part says of itself in its Parquet key-value metadata (no checksum).

    Raises:
        ValueError: the footer or its booktape metadata cannot be read.
    """
    try:
        md = pq.ParquetFile(path).metadata
        meta = metadata_of(md.schema.to_arrow_schema())
        return PartEntry(
            part=path.name, rows=md.num_rows, snapshots=int(meta["snapshots"]),
            seq_min=int(meta["seq_min"]), seq_max=int(meta["seq_max"]),
            t_min_ns=int(meta["t_min_ns"]), t_max_ns=int(meta["t_max_ns"]),
            bytes=path.stat().st_size, sha256="", sealed_at_ns=0,
            session=meta.get("session", ""), schema_version=meta.get("schema_version", "1"))
    except Exception as e:  # noqa: BLE001 - any damage to a footer is reported, not raised
        raise ValueError(f"{type(e).__name__}: {e}".splitlines()[0][:200]) from None


class Tape:
    """One tape directory (``--out`` of ``record``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._partitions: list[Path] | None = None
        self._manifests: dict[Path, tuple[tuple[int, int, int], Manifest]] = {}
        self._locks: dict[str, CollectorLock] = {}
        #: Problems already reported to the user through this object (said once).
        self.warned: set[str] = set()

    @classmethod
    def of(cls, data: str | Path | Tape) -> Tape:
        """``data`` itself if it is a Tape, else an existing tape directory.

        Raises:
            TapeNotFound: the path does not exist or is a file.
        """
        if isinstance(data, Tape):
            return data
        root = Path(data)
        if not root.exists():
            raise TapeNotFound(f"no tape at {root}: the path does not exist")
        if not root.is_dir():
            raise TapeNotFound(f"no tape at {root}: it is a file, not a tape directory")
        return cls(root)

    def __repr__(self) -> str:
        return f"Tape({str(self.root)!r})"

    # -- partitions and manifests ---------------------------------------------------
    def refresh(self) -> None:
        """Forget the partition list (after another process may have added one)."""
        self._partitions = None

    def partitions(self, symbol: str | None = None, collector: str | None = None,
                   under: str | None = None) -> list[Path]:
        """``collector=`` directories, optionally filtered; ``under``: a side stream (``_ticks``)."""
        if under is not None:
            base = self.root / under
            pat = f"symbol={symbol or '*'}/date=*/collector={collector or '*'}"
            return sorted(p for p in base.glob(pat) if p.is_dir())
        if self._partitions is None:
            self._partitions = sorted(p for p in self.root.glob("symbol=*/date=*/collector=*")
                                      if p.is_dir())
        out = []
        for p in self._partitions:
            k = parse_partition(p)
            if (symbol is None or k.get("symbol") == symbol) and (
                    collector is None or k.get("collector") == collector):
                out.append(p)
        return out

    def manifest(self, dir_: Path) -> Manifest:
        """The validated manifest of a partition, read again only if it changed."""
        try:
            st = os.stat(dir_ / "_manifest.jsonl")
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = (-1, -1, -1)
        hit = self._manifests.get(dir_)
        if hit is not None and hit[0] == stamp and stamp[0] != -1:
            return hit[1]
        m = load_manifest(dir_)
        self._manifests[dir_] = (stamp, m)
        return m

    def entries(self, symbol: str | None = None, collector: str | None = None) -> list[PartEntry]:
        """Every valid manifest entry of the matching partitions."""
        return [e for d in self.partitions(symbol, collector) for e in self.manifest(d).entries]

    def last_seq(self, symbol: str, collector: str) -> int:
        """The highest sealed seq of a symbol's collector (listed or not), or -1 if none."""
        best = -1
        for f in self.files(symbol, collector):
            if f.entry is not None and f.entry.snapshots:
                best = max(best, f.entry.seq_max)
        return best

    # -- files -----------------------------------------------------------------------
    def files(self, symbol: str | None = None, collector: str | None = None,
              start_ns: int | None = None, end_ns: int | None = None) -> list[TapeFile]:
        """Every part (listed or found on disk) and journal, pruned by the filters given."""
        lo = utc_date(start_ns) if start_ns is not None else None
        hi = utc_date(end_ns) if end_ns is not None else None
        out = []
        for d in self.partitions(symbol, collector):
            keys = parse_partition(d)
            date = keys.get("date", "")
            if (lo and date < lo) or (hi and date > hi):
                continue
            sym, col = keys["symbol"], keys["collector"]
            m = self.manifest(d)
            listed = m.listed
            for e in m.entries:
                if (start_ns is not None and e.t_max_ns < start_ns) or (
                        end_ns is not None and e.t_min_ns >= end_ns):
                    continue
                out.append(TapeFile(d / e.part, sym, date, col, e))
            names = sorted(p.name for p in d.iterdir())
            journals = {part_number(n) for n in names if JOURNAL_RE.match(n)}
            for n in names:
                if PART_RE.match(n) and n not in listed and part_number(n) not in journals:
                    # A part whose journal is gone but that no manifest lists: the
                    # manifest was damaged or cut. Its own metadata stands in.
                    f = self._unlisted(d / n, sym, date, col, start_ns, end_ns)
                    if f is not None:
                        out.append(f)
                elif JOURNAL_RE.match(n) and part_name(part_number(n)) not in listed:
                    # A journal whose part is listed is sealed, only not deleted yet (a seal
                    # in progress, or a reader held it open on Windows): its rows are the part's.
                    out.append(TapeFile(d / n, sym, date, col, None))
        return out

    def _unlisted(self, p: Path, sym: str, date: str, col: str, start_ns: int | None,
                  end_ns: int | None) -> TapeFile | None:
        try:
            e = entry_from_part(p)
        except ValueError as ex:
            zero = PartEntry(p.name, 0, 0, 0, 0, 0, 0, 0, "", 0)
            return TapeFile(p, sym, date, col, zero, listed=False, problem=str(ex))
        if (start_ns is not None and e.t_max_ns < start_ns) or (
                end_ns is not None and e.t_min_ns >= end_ns):
            return None
        return TapeFile(p, sym, date, col, e, listed=False)

    def problems(self, symbol: str | None = None,
                 collector: str | None = None) -> list[ManifestProblem]:
        """Damaged manifest lines and parts on disk that no manifest lists (not torn tails)."""
        out = [p for d in self.partitions(symbol, collector) for p in self.manifest(d).problems
               if not p.torn_tail]
        for f in self.files(symbol, collector):
            if not f.listed:
                why = f" and its own metadata cannot be read: {f.problem}" if f.problem else ""
                out.append(ManifestProblem(f.path, 0, "is on disk but in no manifest line"
                                           f"{why} (run `booktape verify --repair`)"))
        return out

    # -- locks -----------------------------------------------------------------------
    def lock(self, collector: str) -> None:
        """Take ``collector``'s lock and hold it until :meth:`release` (or the process ends).

        Raises:
            CollectorBusy: another live recorder holds it.
        """
        if collector not in self._locks:
            lk = CollectorLock(lock_path(self.root, collector))
            lk.acquire()
            self._locks[collector] = lk

    def holds(self, collector: str) -> bool:
        return collector in self._locks

    def busy(self, collector: str) -> bool:
        """True when a live process other than this one holds ``collector``'s lock."""
        if collector in self._locks:
            return False
        return CollectorLock(lock_path(self.root, collector)).is_held_elsewhere()

    def release(self, collector: str | None = None) -> None:
        """Release one collector's lock, or all that this object holds."""
        for c in [collector] if collector else list(self._locks):
            lk = self._locks.pop(c, None)
            if lk is not None:
                lk.release()

    def __enter__(self) -> Tape:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
