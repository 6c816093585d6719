"""The one way booktape reads level rows: streamed, whole snapshots per chunk.

A stream is one (symbol, collector). Its sealed parts are read a Parquet row
group at a time (~1 M rows), its open journals whole; row groups and parts
outside the time filter are skipped from their statistics and manifest lines.
A snapshot split across two row groups is held back and emitted with the next
one, so every chunk holds complete snapshots, sorted by ``seq, level``, and
memory stays bounded by a row group whatever the length of the day.
:func:`booktape.read_arrow` concatenates these chunks; the views
(``quotes``, ``top``, ``book_at``, ``replay``, ``export``) consume them one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import BadArgument, TapeDamaged
from ..schema import BOOK_SCHEMA, MERGED_SCHEMA
from ..tape.journal import scan_journal
from ..tape.layout import part_number
from ..tape.seal import dedupe_sorted
from ..tape.tape import Tape, TapeFile
from .reader import check_part, damaged, with_columns
from .sides import SIDE_TYPE, side_depth

#: Columns readers derive from stored ones (issue 14): name -> stored columns needed.
DERIVED: dict[str, tuple[str, ...]] = {
    "side": ("seq", "type", "price"),
    "depth": ("seq", "type", "price"),
    "time_before": ("t_before_ns",),
    "time_after": ("t_after_ns",),
}
#: What readers return when no columns are named.
DEFAULT_COLUMNS = [*BOOK_SCHEMA.names, *DERIVED]
UTC_NS = pa.timestamp("ns", tz="UTC")
KEY_TYPE = pa.dictionary(pa.int8(), pa.string())

def check_columns(columns: Sequence[str] | None) -> list[str]:
    """The columns asked for (default: all), validated; raises :class:`BadArgument`."""
    cols = list(columns) if columns else list(DEFAULT_COLUMNS)
    known = [*MERGED_SCHEMA.names, *DERIVED]
    bad = [c for c in cols if c not in known and c not in ("symbol", "collector")]
    if bad:
        raise BadArgument(f"unknown column(s) {bad}; the tape has {BOOK_SCHEMA.names}, "
                          f"readers add {list(DERIVED)} "
                          f"(merged tapes also {MERGED_SCHEMA.names[len(BOOK_SCHEMA):]})")
    return [c for c in cols if c not in ("symbol", "collector")]


def stored_columns(cols: Sequence[str]) -> list[str]:
    """The stored columns to read for ``cols`` (derived ones need their sources)."""
    need: list[str] = ["seq", "t_before_ns"]
    for c in cols:
        need.extend(DERIVED.get(c, (c,)))
    return list(dict.fromkeys(need))


@dataclass
class Stream:
    """One (symbol, collector)'s files, in seq order."""

    symbol: str
    collector: str
    files: list[TapeFile] = field(default_factory=list)


def streams(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
            start_ns: int | None = None, end_ns: int | None = None) -> list[Stream]:
    """The tape's streams, sorted by symbol then collector, pruned by the filters."""
    out: dict[tuple[str, str], Stream] = {}
    for f in Tape.of(data).files(symbol, collector, start_ns, end_ns):
        out.setdefault((f.symbol, f.collector), Stream(f.symbol, f.collector)).files.append(f)
    for s in out.values():
        # Part and journal numbers count up within a partition; a journal that
        # shares its number with a part is the part's source, caught mid-seal.
        s.files.sort(key=lambda f: (f.date, part_number(f.path.name) or 0, 0 if f.entry else 1))
    return [out[k] for k in sorted(out)]


def _time_mask(t: pa.Table, start_ns: int | None, end_ns: int | None,
               after_seq: int) -> np.ndarray | None:
    """Rows to keep (None = all): in the time range and past ``after_seq``."""
    keep = None
    if start_ns is not None or end_ns is not None:
        tb = t.column("t_before_ns").to_numpy()
        keep = np.ones(t.num_rows, dtype=bool)
        if start_ns is not None:
            keep &= tb >= start_ns
        if end_ns is not None:
            keep &= tb < end_ns
    if after_seq >= 0:
        fresh = t.column("seq").to_numpy() > np.uint64(after_seq)
        keep = fresh if keep is None else keep & fresh
    return None if keep is None or keep.all() else keep


def _row_groups(f: TapeFile, need: list[str], start_ns: int | None,
                end_ns: int | None, whole: bool, batch_rows: int | None) -> Iterator[pa.Table]:
    # Unlisted parts have no manifest checksum: their page CRCs stand in (issue 11).
    pf = pq.ParquetFile(f.path, page_checksum_verification=not f.listed)
    md = pf.metadata
    j = pf.schema_arrow.get_field_index("t_before_ns")
    groups = []
    for i in range(md.num_row_groups):
        st = md.row_group(i).column(j).statistics if j >= 0 else None
        if st is not None and st.has_min_max and (
            (start_ns is not None and st.max < start_ns) or (end_ns is not None and st.min >= end_ns)
        ):
            continue
        groups.append(i)
    have = [c for c in need if c in pf.schema_arrow.names]  # older parts lack blind_ns
    if whole and groups:
        # The caller keeps every row anyway: one multi-threaded read of the
        # part's row groups decodes about twice as fast as one at a time.
        t = pf.read_row_groups(groups, columns=have)
        yield with_columns(t.replace_schema_metadata(None), need)
        return
    if batch_rows is not None and groups:
        # Decoded a page run at a time: a row group's million rows are never all
        # in memory, so an export's footprint is set by batch_rows alone.
        for b in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=have,
                                 use_threads=False):
            yield with_columns(pa.Table.from_batches([b]).replace_schema_metadata(None), need)
        return
    for i in groups:
        yield with_columns(pf.read_row_group(i, columns=have).replace_schema_metadata(None), need)


def _part_tables(f: TapeFile, need: list[str], start_ns: int | None, end_ns: int | None,
                 verify: bool, skip_damaged: bool, whole: bool,
                 batch_rows: int | None) -> Iterator[pa.Table]:
    try:
        if verify:
            check_part(f)
        yield from _row_groups(f, need, start_ns, end_ns, whole, batch_rows)
    except TapeDamaged as e:
        damaged(str(e), skip_damaged)
    except (pa.ArrowException, OSError) as e:
        damaged(f"part {f.path} cannot be read: {str(e).splitlines()[0][:200]}", skip_damaged)


def _file_tables(f: TapeFile, need: list[str], start_ns: int | None, end_ns: int | None,
                 verify: bool, skip_damaged: bool, whole: bool,
                 batch_rows: int | None) -> Iterator[pa.Table]:
    if f.entry is not None:
        yield from _part_tables(f, need, start_ns, end_ns, verify, skip_damaged, whole,
                                batch_rows)
        return
    scan = scan_journal(f.path)
    if scan.damaged:
        # The batches that verify are still read: only the damaged ones are skipped.
        damaged(f"journal {f.path} is damaged: {scan.describe()}", skip_damaged)
    # A journal holds rows again only after a resend (at-least-once hand-off).
    t = with_columns(dedupe_sorted(scan.table)[0], need).replace_schema_metadata(None)
    if batch_rows is None:
        yield t
        return
    for lo in range(0, t.num_rows, batch_rows):  # zero-copy slices; iter_stream rejoins states
        yield t.slice(lo, batch_rows)


def _keys(t: pa.Table, s: Stream) -> pa.Table:
    n = t.num_rows
    zeros = pa.array(np.zeros(n, dtype=np.int8))
    for i, (name, value) in enumerate((("symbol", s.symbol), ("collector", s.collector))):
        t = t.add_column(i, name, pa.DictionaryArray.from_arrays(zeros, pa.array([value])))
    return t


def with_derived(t: pa.Table, cols: Sequence[str]) -> pa.Table:
    """``t`` (whole snapshots, sorted) with the derived columns of ``cols`` added."""
    if "side" in cols or "depth" in cols:
        side, depth = side_depth(t.column("seq").to_numpy(), t.column("type").to_numpy(),
                                 t.column("price").to_numpy())
        t = t.append_column(pa.field("side", SIDE_TYPE), side).append_column("depth", depth)
    for name, src in (("time_before", "t_before_ns"), ("time_after", "t_after_ns")):
        if name in cols:
            # int64 -> timestamp is a zero-copy cast: same buffer, new type.
            t = t.append_column(name, t.column(src).cast(UTC_NS))
    return t


def empty_table(cols: Sequence[str], symbol: str = "", collector: str = "") -> pa.Table:
    """A 0-row table with the columns and types a read of ``cols`` returns."""
    need = stored_columns(cols)
    t = MERGED_SCHEMA.empty_table().select(need)
    if "type" not in need:
        t = t.append_column("type", pa.array([], pa.int8()))
    if "price" not in need:
        t = t.append_column("price", pa.array([], pa.float64()))
    t = with_derived(t, cols)
    return _keys(t, Stream(symbol, collector)).select(["symbol", "collector", *cols])


def iter_stream(s: Stream, cols: Sequence[str], start_ns: int | None = None,
                end_ns: int | None = None, *, verify: bool = True,
                skip_damaged: bool = False, whole_parts: bool = False,
                batch_rows: int | None = None) -> Iterator[pa.Table]:
    """Chunks of whole snapshots of one stream, with ``symbol``, ``collector`` and ``cols``.

    A chunk is a Parquet row group (bounded memory), about ``batch_rows`` rows of
    one when given (tighter bound, for exports), or a whole part with
    ``whole_parts`` (faster, for callers that keep everything anyway).

    Damaged parts and journal batches raise :class:`TapeDamaged` (or, with
    ``skip_damaged``, are left out with a warning), as :func:`booktape.read_arrow`.
    """
    need = stored_columns(cols)
    done = -1  # highest seq emitted: a journal may repeat a part's rows for an instant
    for f in s.files:
        carry: pa.Table | None = None
        for t in _file_tables(f, need, start_ns, end_ns, verify, skip_damaged, whole_parts,
                              batch_rows):
            keep = _time_mask(t, start_ns, end_ns, done)
            if keep is not None:
                t = t.filter(pa.array(keep))
            if t.num_rows == 0:
                continue
            seq = t.column("seq").to_numpy()
            if carry is not None:
                held = carry.column("seq")[0].as_py()
                if seq[-1] == held:  # the whole row group continues the held snapshot
                    carry = pa.concat_tables([carry, t])
                    continue
                # The held-back snapshot's rest opens this row group: emit it
                # alone, so the big table is never copied to join them.
                k = int(np.searchsorted(seq, held, side="right")) if seq[0] == held else 0
                head = pa.concat_tables([carry, t.slice(0, k)]).combine_chunks()
                carry, t, seq = None, t.slice(k), seq[k:]
                done = int(head.column("seq")[0].as_py())
                yield _keys(with_derived(head, cols), s).select(["symbol", "collector", *cols])
                if t.num_rows == 0:
                    continue
            cut = int(np.searchsorted(seq, seq[-1], side="left"))
            if cut < t.num_rows:  # the last snapshot may continue in the next row group
                carry, t = t.slice(cut), t.slice(0, cut)
            if t.num_rows:
                done = int(seq[cut - 1])
                yield _keys(with_derived(t, cols), s).select(["symbol", "collector", *cols])
        if carry is not None:
            done = int(carry.column("seq")[0].as_py())
            carry = carry.combine_chunks()
            yield _keys(with_derived(carry, cols), s).select(["symbol", "collector", *cols])
