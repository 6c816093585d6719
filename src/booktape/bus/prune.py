"""``--no-local``: the recorder's tape is only a spool; sealed parts the stream holds are deleted.

The manifest lines stay, so the next session still continues each symbol's
seq from the last sealed one; only the Parquet files go.
"""

from __future__ import annotations

from pathlib import Path

from ..tape.layout import partition_dirs
from ..tape.manifest import read_manifest


def prune_acked(root: Path, collector: str, acked: dict[str, int]) -> int:
    """Delete sealed parts of ``collector`` whose every seq is at or below ``acked``; return the count."""
    n = 0
    for symbol, through in acked.items():
        for d in partition_dirs(root, symbol, collector):
            for e in read_manifest(d):
                p = d / e.part
                if e.seq_max <= through and p.exists():
                    p.unlink()
                    n += 1
    return n
