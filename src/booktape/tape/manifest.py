"""The manifest: one JSON line per sealed part, in the part's own directory.

A part exists for readers once its line is here; the line carries what ``ls``,
``verify`` and ``merge`` need (rows, seq and time ranges, checksum) so they
never scan row data to answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ._fs import append_line_durably
from .layout import MANIFEST, partition_dirs


@dataclass(frozen=True)
class PartEntry:
    """What the manifest knows of one sealed part."""

    part: str
    rows: int
    snapshots: int
    seq_min: int
    seq_max: int
    t_min_ns: int
    t_max_ns: int
    bytes: int
    sha256: str
    sealed_at_ns: int
    session: str = ""
    torn_tail: bool = False
    duplicates_dropped: int = 0
    schema_version: str = "1"


def read_manifest(dir_: Path) -> list[PartEntry]:
    """Entries of one partition directory; a torn last line (crash) is ignored."""
    p = dir_ / MANIFEST
    if not p.exists():
        return []
    out = []
    fields = set(PartEntry.__dataclass_fields__)
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        out.append(PartEntry(**{k: v for k, v in d.items() if k in fields}))
    return out


def add_entry(dir_: Path, entry: PartEntry) -> None:
    append_line_durably(dir_ / MANIFEST, json.dumps(asdict(entry), separators=(",", ":")))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def last_seq(root: Path, symbol: str, collector: str) -> int:
    """The highest sealed seq of a symbol's collector, or -1 if none."""
    best = -1
    for d in partition_dirs(root, symbol, collector):
        for e in read_manifest(d):
            if e.snapshots:
                best = max(best, e.seq_max)
    return best
