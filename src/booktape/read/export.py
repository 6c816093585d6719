"""``booktape export``: a view of a tape as CSV, Parquet or JSON lines, streamed.

Views (:mod:`booktape.read.views`): ``levels`` (every level row with the
readers' columns), ``quotes`` (best bid/ask per state), ``topN`` (``top5``,
``top10``...: the best N levels a side per state, wide).

The notebook's CSV (``--csv``) keeps old analysis code working: an unnamed
level index, ``type, price, volume, volume_dbl, time_after, time_before,
name`` (``name`` = collector), times as ``YYYY-MM-DD HH:MM:SS.ffffff`` like
``str(datetime.now())``.

Everything is written chunk by chunk, so a day-long tape never has to fit in
memory, and through :func:`~booktape.read.output.open_target`, so ``-`` is
standard output and a device is never replaced by a file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ..errors import BadArgument, TapeNotFound
from ..tape.tape import Tape
from ..units import parse_time
from .filters import check_filters
from .output import check_target, open_target
from .reader import read_arrow, warn_problems
from .stream import DEFAULT_COLUMNS, empty_table, iter_stream, streams
from .views import STATE_COLS, iter_levels, iter_quotes, iter_top, quote_table, top_table

#: Level rows read and formatted at a time: an export's memory is set by this, not by the
#: day's length or the parts' million-row row groups (issues 12, 14).
EXPORT_ROWS = 1 << 16
#: Rows per row group of an exported Parquet file: each small batch a row group of its
#: own would make a quotes file of thousands of tiny groups.
GROUP_ROWS = 1 << 17
CSV_COLUMNS = ["type", "price", "volume", "volume_dbl", "time_after", "time_before", "name"]
FORMATS = ("csv", "parquet", "jsonl")
VIEW_HELP = "levels, quotes or topN (top5, top10, ...)"


def _check_tz(tz: str) -> str:
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(tz)
    except Exception:
        raise BadArgument(f"unknown --tz {tz!r}; use an IANA name like UTC or Europe/Moscow") from None
    return tz


def _view(view: str) -> tuple[str, int]:
    m = re.fullmatch(r"top(\d+)", view)
    if m and 1 <= int(m.group(1)) <= 1000:
        return "top", int(m.group(1))
    if view in ("levels", "quotes"):
        return view, 0
    raise BadArgument(f"unknown --view {view!r}; use {VIEW_HELP}")


def _chunks(tape: Tape, view: str, n: int, symbol: str | None, collector: str | None,
            start: object, end: object, skip: bool,
            rows: int) -> tuple[Iterator[pa.Table], pa.Schema]:
    if view == "levels":
        return (iter_levels(tape, symbol, collector, start, end, skip_damaged=skip,
                            batch_rows=rows), empty_table(DEFAULT_COLUMNS).schema)
    empty = empty_table(STATE_COLS)
    if view == "quotes":
        return (iter_quotes(tape, symbol, collector, start, end, skip_damaged=skip,
                            batch_rows=rows), quote_table("", "", empty).schema)
    return (iter_top(tape, n, symbol, collector, start, end, skip_damaged=skip, batch_rows=rows),
            top_table("", "", empty, n).schema)


def _gather(chunks: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """The chunks joined into tables of at least ``rows`` rows (the last one fewer)."""
    held: list[pa.Table] = []
    n = 0
    for t in chunks:
        held.append(t)
        n += t.num_rows
        if n >= rows:
            yield pa.concat_tables(held)
            held, n = [], 0
    if held:
        yield pa.concat_tables(held)


ISO_LOCAL = "%Y-%m-%dT%H:%M:%S%z"


def iso_local(col: pa.ChunkedArray, tz: str) -> pa.ChunkedArray | pa.Array:
    """``col``'s timestamps as ISO text in ``tz``, nanoseconds included (Arrow's ``%S``)."""
    local = col.cast(pa.timestamp("ns", tz=tz))
    try:
        return pc.strftime(local, ISO_LOCAL)
    except pa.ArrowInvalid as e:
        # pyarrow on Windows wants the IANA database as text files in ~/Downloads/tzdata
        # (pyarrow.util.download_tzdata_on_windows); pandas converts with zoneinfo and
        # the tzdata package it depends on, so export works there without a download.
        if "imezone database" not in str(e):
            raise
        return iso_local_pandas(local, tz)


def iso_local_pandas(col: pa.ChunkedArray | pa.Array, tz: str) -> pa.Array:
    """What ``pc.strftime(col, ISO_LOCAL)`` gives, computed by pandas (the same text)."""
    nulls = pc.is_null(col).to_numpy(zero_copy_only=False)
    # Nulls filled before to_numpy: with them it would give floats, losing nanoseconds.
    ns = pc.fill_null(pc.cast(col.cast(pa.timestamp("ns")), pa.int64()), 0)
    ns = ns.to_numpy(zero_copy_only=False).astype(np.int64)
    when = pd.to_datetime(ns, unit="ns", utc=True).tz_convert(tz)
    frac = pd.Series(ns % 1_000_000_000).map("{:09d}".format).to_numpy(dtype=object)
    text = (when.strftime("%Y-%m-%dT%H:%M:%S.").to_numpy(dtype=object) + frac
            + when.strftime("%z").to_numpy(dtype=object))
    return pa.array(text, pa.string(), mask=nulls)


def _texts(t: pa.Table, tz: str) -> pa.Table:
    """Timestamps as ISO text in ``tz``; dictionaries as plain strings (CSV/JSON)."""
    for i, f in enumerate(t.schema):
        if pa.types.is_timestamp(f.type):
            t = t.set_column(i, f.name, iso_local(t.column(i), tz))
        elif pa.types.is_dictionary(f.type):
            t = t.set_column(i, f.name, t.column(i).cast(pa.string()))
    return t


def export_view(data: str | Path | Tape, out: str | Path | BinaryIO, view: str = "levels",
                fmt: str = "csv", symbol: str | None = None, collector: str | None = None,
                start: object = None, end: object = None, tz: str = "UTC", *,
                strict: bool = False, skip_damaged: bool = False,
                batch_rows: int = EXPORT_ROWS) -> int:
    """Write a view of tape ``data`` to ``out``; returns the number of rows written.

    Args:
        data: the tape directory.
        out: a file path, or an open binary stream (``-`` in the CLI).
        view: ``levels``, ``quotes`` or ``topN``.
        fmt: ``csv``, ``parquet`` or ``jsonl``.
        symbol, collector, start, end: as :func:`booktape.read`.
        tz: time zone of the times in CSV and JSON lines (Parquet keeps UTC
            timestamps, which carry their zone).
        strict, skip_damaged: as :func:`booktape.read_arrow`; nothing is left at
            ``out`` (nor its ``.tmp``) when the export fails.
        batch_rows: level rows read and written at a time (bounds memory; the
            output is the same whatever it is).

    Raises:
        BadArgument: unknown view, format or zone, or an output path that
            cannot be written (checked before any work).
    """
    kind, n = _view(view)
    if fmt not in FORMATS:
        raise BadArgument(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    _check_tz(tz)
    if isinstance(out, (str, Path)):
        check_target(out, "--out")
    start_ns, end_ns = parse_time(start, "--start"), parse_time(end, "--end")
    tape = Tape.of(data)
    check_filters(tape.root, symbol, collector, start_ns, end_ns)
    if not tape.files():
        raise TapeNotFound(f"no tape at {data}: no sealed parts or journals found")
    warn_problems(tape, symbol, collector, strict)
    chunks, schema = _chunks(tape, kind, n, symbol, collector, start, end, skip_damaged,
                             batch_rows)
    rows = 0
    with open_target(out) as fh:
        if fmt == "parquet":
            with pq.ParquetWriter(fh, schema, compression="zstd") as pw:
                for t in _gather(chunks, GROUP_ROWS):
                    pw.write_table(t.cast(schema))
                    rows += t.num_rows
        elif fmt == "csv":
            text_schema = _texts(schema.empty_table(), tz).schema
            with pcsv.CSVWriter(fh, text_schema) as w:
                for t in chunks:
                    w.write_table(_texts(t, tz))
                    rows += t.num_rows
        else:
            for t in chunks:
                df = _texts(t, tz).to_pandas()
                fh.write(df.to_json(orient="records", lines=True, double_precision=15).encode())
                rows += t.num_rows
    return rows


def export_csv(data: str | Path | Tape, out: str | Path | BinaryIO, symbol: str | None = None,
               collector: str | None = None, start: object = None, end: object = None,
               tz: str = "UTC", *, strict: bool = False, skip_damaged: bool = False,
               batch_rows: int = EXPORT_ROWS) -> int:
    """Write the notebook-format CSV; returns the number of level rows written.

    ``strict`` and ``skip_damaged`` as in :func:`~booktape.read.reader.read_arrow`;
    ``batch_rows`` level rows are read and formatted at a time (same output whatever it is).
    Nothing is left at ``out`` (nor its ``.tmp``) when the export fails.
    """
    _check_tz(tz)
    if isinstance(out, (str, Path)):
        check_target(out, "--csv")
    start_ns, end_ns = parse_time(start, "--start"), parse_time(end, "--end")
    tape = Tape.of(data)
    check_filters(tape.root, symbol, collector, start_ns, end_ns)
    keys = [(s.symbol, s.collector) for s in streams(tape, symbol, collector, start_ns, end_ns)]
    if not keys:
        read_arrow(tape, symbol, collector)  # raises TapeNotFound for a path with no tape
    warn_problems(tape, symbol, collector, strict)
    n = 0
    cols = ["level", "type", "price", "volume", "volume_dbl", "t_after_ns", "t_before_ns"]
    with open_target(out, "--csv") as fh:
        # pandas formats into the wrapper a few thousand rows at a time: ``to_csv()`` to a
        # string and ``.encode()`` held two copies of a whole batch (~40 MiB of the
        # export's peak at 64 Ki rows; issue 10's lowest-versions run found the margin).
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        try:
            header = True
            for sym, col in keys:
                for t in _levels(tape, sym, col, start_ns, end_ns, cols, skip_damaged, batch_rows):
                    t = t.filter(pc.greater_equal(t.column("level"), 0))  # drop empty-book markers
                    df = pd.DataFrame({
                        "": t.column("level").to_numpy(),
                        "type": t.column("type").to_numpy(),
                        "price": t.column("price").to_numpy(),
                        "volume": t.column("volume").to_numpy(),
                        "volume_dbl": t.column("volume_dbl").to_numpy(),
                        "time_after": _fmt(t.column("t_after_ns").to_numpy(), tz),
                        "time_before": _fmt(t.column("t_before_ns").to_numpy(), tz),
                        "name": col,
                    })
                    df.to_csv(text, index=False, header=header, lineterminator="\n")
                    header = False
                    n += len(df)
            if header:
                pd.DataFrame(columns=["", *CSV_COLUMNS]).to_csv(text, index=False,
                                                                lineterminator="\n")
        finally:
            text.detach()  # flushes; the target stays open for open_target to finish
    return n


def _levels(tape: Tape, symbol: str, collector: str, start_ns: int | None, end_ns: int | None,
            cols: list[str], skip_damaged: bool, rows: int) -> Iterator[pa.Table]:
    for s in streams(tape, symbol, collector, start_ns, end_ns):
        yield from iter_stream(s, cols, start_ns, end_ns, skip_damaged=skip_damaged,
                               batch_rows=rows)


def _fmt(ns: np.ndarray, tz: str) -> pd.Series:
    ts = pd.to_datetime(ns, unit="ns", utc=True).tz_convert(tz).tz_localize(None)
    return pd.Series(ts.strftime("%Y-%m-%d %H:%M:%S.%f"))
