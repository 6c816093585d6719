"""Re-sending from the local tape: sealed states the stream has not acknowledged.

After a recorder or saver restart (and at the start of every session) the
cursor may be behind the last sealed seq: those states are read back from the
sealed parts, in seq order, in slices of whole snapshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..read.reader import with_columns
from ..schema import BOOK_SCHEMA
from ..tape.tape import Tape


def split_snapshots(table: pa.Table, max_rows: int) -> list[pa.Table]:
    """Slices of at most ``max_rows`` rows (or one snapshot, if larger) never cutting a snapshot."""
    if table.num_rows <= max_rows:
        return [table]
    seq = table.column("seq").to_numpy()
    n = table.num_rows
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    out, lo = [], 0
    while lo < n:
        if lo + max_rows >= n:
            hi = n
        else:
            i = int(np.searchsorted(starts, lo + max_rows, side="right")) - 1
            if starts[i] > lo:
                hi = int(starts[i])
            else:  # one snapshot larger than max_rows: it goes alone
                j = int(np.searchsorted(starts, lo, side="right"))
                hi = int(starts[j]) if j < len(starts) else n
        out.append(table.slice(lo, hi - lo))
        lo = hi
    return out


def unsent(data: Path | Tape, collector: str, symbol: str, after: int,
           max_rows: int = 8192) -> Iterator[pa.Table]:
    """Sealed rows of ``symbol`` with seq > ``after``, oldest first, sliced."""
    tape = Tape.of(data)
    tape.refresh()
    if tape.last_seq(symbol, collector) <= after:
        return
    files = [f for f in tape.files(symbol, collector)
             if f.entry is not None and f.entry.seq_max > after]
    files.sort(key=lambda f: f.entry.seq_min if f.entry else 0)
    for f in files:
        # One file, not pq.read_table: pyarrow 18 adds the symbol=/date=/collector=
        # directories as columns to a single part (issue 10).
        t = pq.ParquetFile(f.path).read().replace_schema_metadata(None)
        if after >= 0:
            t = t.filter(pc.greater(t.column("seq"), pa.scalar(after, pa.uint64())))
        t = with_columns(t, BOOK_SCHEMA.names).cast(BOOK_SCHEMA)
        if t.num_rows:
            yield from split_snapshots(t, max_rows)
            after = int(pc.max(t.column("seq")).as_py())
