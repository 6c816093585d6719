"""Rebuild damaged manifests from the parts themselves (``booktape verify --repair``).

A part carries the facts of its manifest line in its own Parquet key-value
metadata, and since issue 11 a CRC per page. A part no valid manifest line
lists is read back in full (page CRCs checked), its rows, seq and time ranges
recomputed and compared with its metadata; only then does it get a line again,
with a SHA-256 taken now. Lines that are still valid are kept as they are; the
old manifest is kept beside the new one as ``_manifest.jsonl.damaged``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._fs import replace_durably
from .layout import MANIFEST
from .manifest import PartEntry, entry_line, sha256_file
from .tape import Tape, entry_from_part

log = logging.getLogger(__name__)


@dataclass
class Repair:
    """What repairing one partition's manifest did."""

    dir: Path
    kept: int = 0  # valid lines kept as they were
    dropped: list[str] = field(default_factory=list)  # damaged lines removed (as reported)
    relisted: list[str] = field(default_factory=list)  # parts given a line again
    refused: list[str] = field(default_factory=list)  # parts that failed their own checks
    backup: Path | None = None

    def describe(self) -> str:
        out = [f"{self.dir}: kept {self.kept} line(s)"]
        if self.dropped:
            out.append(f"dropped {len(self.dropped)} damaged line(s)")
        if self.relisted:
            out.append(f"relisted {', '.join(self.relisted)} from their own metadata")
        if self.refused:
            out.append(f"left unlisted: {'; '.join(self.refused)}")
        if self.backup:
            out.append(f"old manifest kept as {self.backup.name}")
        return "; ".join(out)


def check_part_alone(path: Path, now_ns: int) -> PartEntry:
    """A manifest entry for a part, from its data checked against its own metadata.

    Raises:
        ValueError: unreadable, a page CRC fails, or the data disagrees with the metadata.
    """
    meta = entry_from_part(path)
    try:
        # Every column: a page CRC only fails when its page is read.
        t = pq.ParquetFile(path, page_checksum_verification=True).read()
    except Exception as e:  # noqa: BLE001 - any read failure is the finding
        raise ValueError(f"cannot be read ({type(e).__name__}: {str(e)[:120]})") from None
    seq = t.column("seq")
    got = dict(rows=t.num_rows, snapshots=len(pc.unique(seq)) if t.num_rows else 0,
               seq_min=pc.min(seq).as_py(), seq_max=pc.max(seq).as_py(),
               t_min_ns=pc.min(t.column("t_before_ns")).as_py(),
               t_max_ns=pc.max(t.column("t_after_ns")).as_py())
    for k, v in got.items():
        if v != getattr(meta, k):
            raise ValueError(f"its data has {k}={v} but its metadata says {getattr(meta, k)}")
    return PartEntry(**{**meta.__dict__, "sha256": sha256_file(path), "sealed_at_ns": now_ns})


def repair_manifests(data: str | Path | Tape, now_ns: int, symbol: str | None = None,
                     collector: str | None = None) -> list[Repair]:
    """Rewrite every manifest that has damaged lines or misses parts; returns what was done.

    Collectors with a live recorder are left alone (their manifests are being written).
    """
    tape = Tape.of(data)
    out = []
    for d in tape.partitions(symbol, collector):
        col = d.name.partition("=")[2]
        m = tape.manifest(d)
        unlisted = [f for f in tape.files(collector=col) if not f.listed and f.path.parent == d]
        bad = [p for p in m.problems if not p.torn_tail]
        if not bad and not unlisted and not m.problems:
            continue
        if tape.busy(col):
            log.warning("%s: collector %s is recording; not repaired", d, col)
            continue
        r = Repair(d, kept=len(m.entries), dropped=[str(p) for p in m.problems])
        entries = list(m.entries)
        for f in unlisted:
            try:
                entries.append(check_part_alone(f.path, now_ns))
                r.relisted.append(f.path.name)
            except ValueError as e:
                r.refused.append(f"{f.path.name} {e}")
        entries.sort(key=lambda e: e.part)
        _rewrite(d, entries, r)
        out.append(r)
    return out


def _rewrite(d: Path, entries: list[PartEntry], r: Repair) -> None:
    mf = d / MANIFEST
    if mf.exists() or mf.is_symlink():
        r.backup = d / (MANIFEST + ".damaged")
        if r.backup.is_dir():
            r.backup = d / (MANIFEST + f".damaged-{os.getpid()}")
        os.replace(mf, r.backup)
    tmp = d / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for e in entries:
            f.write(entry_line(e) + "\n")
        f.flush()
        os.fsync(f.fileno())
    replace_durably(tmp, mf)
