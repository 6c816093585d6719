"""Read a tape (sealed parts and unsealed journals alike) into Arrow or pandas.

Sealed parts are read only if their manifest lists them (a part renamed but
not yet committed is still covered by its journal), and their checksum is
checked unless ``verify=False``. Filters on symbol/collector/date prune
directories before any file is opened.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ChecksumMismatch, TapeDamaged, TapeNotFound
from ..schema import MERGED_SCHEMA, SNAPSHOT_COLUMNS
from ..tape.manifest import sha256_file
from ..tape.tape import Tape, TapeFile
from ..units import parse_time
from .filters import check_filters

log = logging.getLogger(__name__)

# Sealed parts already verified by this process, keyed by what would change if
# the file did: verifying once per part per process (issue 14: re-hashing every
# part on every read was a quarter of a day's read time).
_verified: set[tuple[str, int, int, str]] = set()


def tape_files(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
               start_ns: int | None = None, end_ns: int | None = None) -> list[TapeFile]:
    """Every part and journal under a tape, pruned by the filters given (see :class:`Tape`)."""
    return Tape.of(data).files(symbol, collector, start_ns, end_ns)


def damaged(msg: str, skip_damaged: bool) -> None:
    """Refuse damaged data (:class:`TapeDamaged`), or say what is skipped and go on."""
    if not skip_damaged:
        raise TapeDamaged(f"{msg} (--skip-damaged reads the rest; `booktape verify` for details)")
    log.warning("skipped: %s", msg)


def warn_problems(tape: Tape, symbol: str | None, collector: str | None, strict: bool) -> None:
    """Damaged manifest lines and unlisted parts: a warning each, an error with ``strict``."""
    for p in tape.problems(symbol, collector):
        if strict:
            raise TapeDamaged(f"{p} (--strict refuses a tape whose manifests are damaged)")
        if str(p) not in tape.warned:  # once per tape object, however many reads
            tape.warned.add(str(p))
            log.warning("warning: %s", p)


def check_part(f: TapeFile) -> None:
    """Raise :class:`ChecksumMismatch` naming the file when its bytes changed.

    A part no manifest lists has no checksum to compare; its Parquet page
    checksums (if written) and footer are checked when it is read.
    """
    assert f.entry is not None
    if f.problem:
        raise ChecksumMismatch(f"part {f.path} is in no manifest and unreadable: {f.problem}")
    if not f.listed:
        return
    try:
        st = os.stat(f.path)
    except FileNotFoundError:
        raise ChecksumMismatch(f"sealed part {f.path} is listed in the manifest but missing") from None
    key = (str(f.path.resolve()), st.st_size, st.st_mtime_ns, f.entry.sha256)
    if key in _verified:
        return
    if sha256_file(f.path) != f.entry.sha256:
        raise ChecksumMismatch(
            f"checksum mismatch in {f.path}: the file changed after sealing "
            "(run `booktape verify` for details)"
        )
    _verified.add(key)


def with_columns(t: pa.Table, names: list[str]) -> pa.Table:
    """``t``'s columns ``names``; a column its file predates (``blind_ns``) is all null.

    Tapes recorded before ``blind_ns`` existed say nothing about the bound:
    null means unknown, never a guessed value.
    """
    for name in names:
        if name not in t.column_names:
            field = MERGED_SCHEMA.field(name)
            t = t.append_column(field, pa.nulls(t.num_rows, field.type))
    return t.select(names)


def read_arrow(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
               start: object = None, end: object = None, *, columns: list[str] | None = None,
               snapshots_only: bool = False, verify: bool = True, strict: bool = False,
               skip_damaged: bool = False) -> pa.Table:
    """The tape's level rows as one Arrow table, sorted by symbol, collector, seq, level.

    Besides the stored columns, readers derive ``side`` (``ask``, ``bid``,
    ``ask_market``, ``bid_market``), ``depth`` (0 = the best price of its side;
    MT5 lists asks worst first) and ``time_before``/``time_after``
    (``timestamp[ns, UTC]`` beside the exact int64 ``t_*_ns``).

    Args:
        data: the tape directory (``--out`` of ``record``).
        symbol, collector: keep only these.
        start, end: keep snapshots with ``start <= t_before_ns < end`` (ISO text,
            datetime or int ns; naive times are UTC).
        columns: columns to return (default: all stored and derived ones;
            ``symbol``/``collector`` always come first).
        snapshots_only: one row per snapshot, for timing analysis: its best ask
            (depth 0), or its best bid when it has no ask, or an empty book's
            marker row. Use :func:`booktape.quotes` for both sides.
        verify: check each sealed part's checksum against the manifest first
            (once per part per process: a part whose size and modification
            time are unchanged is not hashed again).
        strict: a damaged manifest line, or a part no manifest lists, is an
            error (by default: a warning, and the part is read).
        skip_damaged: leave out parts and journal batches that fail their
            checksum (logged as a warning each) instead of refusing the read.

    Raises:
        TapeNotFound: no tape at ``data``.
        TapeDamaged: a part or journal batch fails its checksum (named in the message;
            :class:`ChecksumMismatch` for a part), or ``strict`` and a manifest is damaged.
    """
    # Imported here: stream.py builds on this module's tape_files and check_part.
    from .stream import check_columns, empty_table, iter_stream, streams

    start_ns = parse_time(start, "start")
    end_ns = parse_time(end, "end")
    cols = check_columns(columns)
    tape = Tape.of(data)
    check_filters(tape.root, symbol, collector, start_ns, end_ns)
    found = streams(tape, symbol, collector, start_ns, end_ns)
    if not found and not tape.files():
        raise TapeNotFound(f"no tape at {tape.root}: no sealed parts or journals found")
    if verify:
        warn_problems(tape, symbol, collector, strict)
    by_level = snapshots_only and any(c not in SNAPSHOT_COLUMNS for c in cols)
    want = list(dict.fromkeys([*cols, "side", "depth"])) if by_level else cols
    if snapshots_only and not by_level:
        want = list(dict.fromkeys([*cols, "level"]))
    chunks = []
    for s in found:
        for t in iter_stream(s, want, start_ns, end_ns, verify=verify,
                             skip_damaged=skip_damaged, whole_parts=True):
            if snapshots_only:
                t = t.filter(pa.array(_best_row(t) if by_level else
                                      t.column("level").to_numpy() <= 0))
            chunks.append(t.select(["symbol", "collector", *cols]))
    if not chunks:
        return empty_table(cols, symbol or "", collector or "")
    return pa.concat_tables(chunks)


def _best_row(t: pa.Table) -> np.ndarray:
    """Mask of one row per snapshot: best ask, else best bid, else the marker row."""
    seq = t.column("seq").to_numpy()
    depth = t.column("depth").to_numpy()
    side = t.column("side").combine_chunks()
    code = side.indices.to_numpy(zero_copy_only=False)
    null = np.asarray(side.is_null())
    rank = np.where(null, 2, np.where(depth == 0, np.where(code == 0, 0, 1), 9))
    rank[(depth == 0) & ~null & (code > 1)] = 9  # market orders have no best price
    cand = np.flatnonzero(rank < 9)
    order = cand[np.lexsort((rank[cand], seq[cand]))]
    first = np.r_[True, seq[order][1:] != seq[order][:-1]]
    keep = np.zeros(t.num_rows, dtype=bool)
    keep[order[first]] = True
    return keep


def read(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
         start: object = None, end: object = None, **kw: Any) -> pd.DataFrame:
    """The tape as a pandas DataFrame (see :func:`read_arrow` for the arguments).

    ``symbol``, ``collector`` and ``side`` are categoricals; ``time_before`` and
    ``time_after`` are ``datetime64[ns, UTC]``, e.g. in exchange time::

        df = booktape.read("data", "RIU2")
        df["time_msk"] = df["time_after"].dt.tz_convert("Europe/Moscow")
    """
    t = read_arrow(data, symbol, collector, start, end, **kw)
    # self_destruct frees each Arrow column as it is converted: peak memory is
    # about one copy of the data, not two (issue 14). With split blocks there is
    # nothing to consolidate, and threads only contended (0.30 s vs 0.37-2.1 s
    # for 4 M rows on the shared 2-core box).
    return t.to_pandas(split_blocks=True, self_destruct=True, use_threads=False)
