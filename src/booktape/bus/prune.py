"""``--no-local``: the recorder's tape is only a spool; sealed parts the stream holds are deleted.

The manifest lines stay, so the next session still continues each symbol's
seq from the last sealed one; only the Parquet files go.
"""

from __future__ import annotations

from pathlib import Path

from ..tape.tape import Tape


def prune_acked(data: Path | Tape, collector: str, acked: dict[str, int]) -> int:
    """Delete sealed parts of ``collector`` whose every seq is at or below ``acked``; return the count.

    Given the publisher's own :class:`Tape`, a manifest is re-read only when it changed.
    """
    tape = Tape.of(data)
    tape.refresh()  # a new day's partition may have appeared since the last call
    n = 0
    for symbol, through in acked.items():
        for d in tape.partitions(symbol, collector):
            for e in tape.manifest(d).entries:
                p = d / e.part
                if e.seq_max <= through and p.exists():
                    p.unlink()
                    n += 1
    return n
