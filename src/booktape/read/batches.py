"""Stream one collector's level rows in bounded memory: whole snapshots, in seq order.

:func:`booktape.read_arrow` returns a symbol's whole day as one table — 320 M
level rows, several GB. Readers that go over a day (``merge``, ``heatmap``,
``export --csv``) take it in batches instead: each sealed part is read one
Parquet row group at a time (row groups outside the time range are skipped by
their statistics), a journal whole (the writer's rotation bounds it), and every
batch ends on a snapshot boundary, so no consumer ever sees half a book.

Rows come out as :func:`booktape.read_arrow` gives them for one symbol and
collector: sorted by ``seq, level``, with the time filter on ``t_before_ns`` and
the same exactly-once rule (a state that a journal repeats from a sealed part,
in the instant between a seal's commit and the journal's deletion, is read once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..schema import BOOK_SCHEMA, MERGED_SCHEMA
from ..tape.journal import read_journal
from ..tape.layout import part_number
from ..tape.seal import dedupe_sorted
from ..tape.tape import Tape, TapeFile
from .reader import check_part, tape_files, with_columns

#: Level rows per batch read from a row group: ~14 MB of book columns.
BATCH_ROWS = 1 << 18


def collector_files(data: str | Path | Tape, symbol: str, collector: str, start_ns: int | None = None,
                    end_ns: int | None = None) -> list[TapeFile]:
    """A collector's parts and journals of one symbol, in the order its seq runs."""
    files = tape_files(data, symbol, collector, start_ns, end_ns)
    # Dates in order, then the part numbers a directory shares between parts and journals.
    return sorted(files, key=lambda f: (f.date, part_number(f.path.name) or 0, not f.sealed))


def _row_groups(pf: pq.ParquetFile, start_ns: int | None, end_ns: int | None) -> list[int]:
    """Row groups whose ``t_before_ns`` statistics can meet ``[start_ns, end_ns)``."""
    if start_ns is None and end_ns is None:
        return list(range(pf.num_row_groups))
    col = pf.schema_arrow.get_field_index("t_before_ns")
    keep = []
    for i in range(pf.num_row_groups):
        st = pf.metadata.row_group(i).column(col).statistics
        if st is not None and st.has_min_max and (
                (start_ns is not None and st.max < start_ns) or (end_ns is not None and st.min >= end_ns)):
            continue
        keep.append(i)
    return keep


def _file_batches(f: TapeFile, columns: list[str], start_ns: int | None, end_ns: int | None,
                  batch_rows: int) -> Iterator[pa.Table]:
    if f.sealed:
        pf = pq.ParquetFile(str(f.path))
        groups = _row_groups(pf, start_ns, end_ns)
        have = [c for c in columns if c in pf.schema_arrow.names]
        if groups:
            for b in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=have):
                # A column the file predates (blind_ns) reads as null: unknown, never a guess.
                yield with_columns(pa.Table.from_batches([b]).replace_schema_metadata(None),
                                   columns)
        return
    t, _ = read_journal(f.path)
    # A journal may hold a re-sent chunk (at-least-once hand-off): sort and dedupe as sealing does.
    t = with_columns(t, list(dict.fromkeys([*columns, "seq", "level"])))
    t = dedupe_sorted(t)[0]
    t = t.select(columns).replace_schema_metadata(None)
    for lo in range(0, t.num_rows, batch_rows):
        yield t.slice(lo, batch_rows)


def iter_batches(data: str | Path | Tape, symbol: str, collector: str, start_ns: int | None = None,
                 end_ns: int | None = None, *, columns: list[str] | None = None,
                 verify: bool = True, batch_rows: int = BATCH_ROWS,
                 files: list[TapeFile] | None = None) -> Iterator[pa.Table]:
    """Level rows of one symbol and collector, in snapshot-aligned batches.

    Args:
        data: the tape. symbol, collector: which stream.
        start_ns, end_ns: keep snapshots with ``start_ns <= t_before_ns < end_ns``.
        columns: book columns to return (``seq``, ``level`` and ``t_before_ns`` are read
            anyway); default all of :data:`~booktape.schema.BOOK_SCHEMA`.
        verify: check each sealed part's checksum before reading it.
        batch_rows: rows read at a time (a batch holds at most this plus one snapshot).
        files: the files to read (default :func:`collector_files`).

    Yields:
        Tables of whole snapshots, seq strictly increasing across batches.

    Raises:
        ChecksumMismatch: a sealed part was altered (named in the message).
    """
    cols = columns or BOOK_SCHEMA.names
    need = list(dict.fromkeys([*cols, "seq", "level", "t_before_ns"]))
    # One schema whatever the file (a journal and a part may differ in nullability), so
    # batches of different files concatenate.
    out = pa.schema([MERGED_SCHEMA.field(c) for c in cols])
    last = -1  # seq of the last snapshot yielded
    for f in files if files is not None else collector_files(data, symbol, collector, start_ns,
                                                             end_ns):
        if f.sealed and verify:
            check_part(f)
        carry: pa.Table | None = None
        for t in _file_batches(f, need, start_ns, end_ns, batch_rows):
            # Rows of a file come sorted by seq: only a batch starting at or before the last
            # seq yielded (a journal repeating a part) needs the filter, which copies every
            # column of every batch otherwise (issue 12: a day is 320 M rows per collector).
            keep = pc.greater(t.column("seq"), pa.scalar(last, pa.int64()).cast(pa.uint64())) \
                if last >= 0 and t.num_rows and t.column("seq")[0].as_py() <= last else None
            if start_ns is not None or end_ns is not None:
                tb = t.column("t_before_ns")
                for m in ((pc.greater_equal(tb, start_ns) if start_ns is not None else None),
                          (pc.less(tb, end_ns) if end_ns is not None else None)):
                    if m is not None:
                        keep = m if keep is None else pc.and_(keep, m)
            if keep is not None:
                t = t.filter(keep)
            if carry is not None:
                t = pa.concat_tables([carry, t])
                carry = None
            if t.num_rows == 0:
                continue
            # The last snapshot may go on in the next batch of this file: hold it back.
            seq = t.column("seq").to_numpy()
            cut = int(np.searchsorted(seq, seq[-1], "left"))
            if cut < t.num_rows:
                carry = t.slice(cut)
                t = t.slice(0, cut)
            if t.num_rows:
                last = int(seq[cut - 1])
                yield t.select(cols).cast(out)
        if carry is not None and carry.num_rows:
            last = int(carry.column("seq")[0].as_py())
            yield carry.select(cols).cast(out)
