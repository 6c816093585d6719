"""Stream a tape's snapshots into compact per-collector arrays (one row per snapshot).

The analysis never holds level rows: each sealed part is scanned by DuckDB with
``level <= 0`` pushed into the Parquet reader (a full day's 300 M level rows
become 10 M snapshot rows, ~30 bytes each), journals through
:func:`~booktape.tape.journal.read_journal`. Rows keep their *storage order*
(parts by number, rows as written), so disorder and duplicates stay visible;
the reader's own dedupe (:func:`booktape.read_arrow`) is deliberately not used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..interrupts import watch_interrupts
from ..tape.journal import scan_journal
from ..tape.layout import part_number
from ..tape.tape import Tape, TapeFile

log = logging.getLogger(__name__)

SNAP_COLS = ["seq", "t_before_ns", "t_after_ns", "unchanged", "blind_ns"]


@dataclass
class FileInfo:
    """One scanned file: a sealed part, an open journal, or a notebook CSV."""

    name: str
    path: str
    kind: str  # "part", "journal" or "csv"
    rows: int = 0  # level rows
    snapshots: int = 0
    error: str = ""  # why it could not be read (then it contributes no rows)
    torn: bool = False
    damaged: str = ""  # a journal's batches that failed their checksum (left out)
    skipped: bool = False  # left out on purpose: damaged, and the caller said skip


@dataclass
class Stream:
    """The snapshots of one symbol and collector, in storage order."""

    symbol: str
    collector: str
    source: str  # "tape" or "csv"
    seq: np.ndarray  # int64
    t_before: np.ndarray  # int64 ns
    t_after: np.ndarray  # int64 ns
    unchanged: np.ndarray  # uint32
    file_idx: np.ndarray  # int32 index into files
    files: list[FileInfo] = field(default_factory=list)
    has_seq: bool = True  # False for CSVs: seq is the row's position, not a recorded number
    blind: np.ndarray | None = None  # int64 ns, -1 where unknown (tapes before blind_ns; CSVs)

    @property
    def size(self) -> int:
        return int(self.seq.size)


def _duck() -> Any:
    import duckdb

    con = duckdb.connect(config={"threads": 2, "memory_limit": "512MB",
                                 "preserve_insertion_order": True})
    return con


def _where(start_ns: int | None, end_ns: int | None) -> str:
    w = "level <= 0"
    if start_ns is not None:
        w += f" AND t_before_ns >= {int(start_ns)}"
    if end_ns is not None:
        w += f" AND t_before_ns < {int(end_ns)}"
    return w


def _scan_part(con, f: TapeFile, where: str) -> tuple[pa.Table, int]:  # type: ignore[no-untyped-def]
    pf = pq.ParquetFile(str(f.path))
    rows = pf.metadata.num_rows
    have = set(pf.schema_arrow.names)
    # A part sealed before blind_ns existed: its bound is unknown (-1), never guessed.
    cols = [c if c in have else f"CAST(-1 AS BIGINT) AS {c}" for c in SNAP_COLS]
    rel = con.read_parquet(str(f.path)).filter(where).project(", ".join(cols))
    return rel.to_arrow_table(), rows


def _scan_journal(f: TapeFile, start_ns: int | None, end_ns: int | None,
                  info: FileInfo) -> tuple[pa.Table, int, bool]:
    scan = scan_journal(f.path)
    info.damaged = scan.describe() if scan.damaged else ""
    t, torn = scan.table, scan.torn
    rows = t.num_rows
    m = pc.less_equal(t.column("level"), 0)
    if start_ns is not None:
        m = pc.and_(m, pc.greater_equal(t.column("t_before_ns"), start_ns))
    if end_ns is not None:
        m = pc.and_(m, pc.less(t.column("t_before_ns"), end_ns))
    if "blind_ns" not in t.column_names:
        t = t.append_column("blind_ns", pa.array(np.full(t.num_rows, -1, np.int64)))
    return t.filter(m).select(SNAP_COLS), rows, torn


def _sort_key(f: TapeFile) -> tuple[str, str, str, int, int]:
    # Sealed parts and journals share one number sequence per directory.
    return (f.symbol, f.collector, f.date, part_number(f.path.name) or 0, 0 if f.sealed else 1)


def scan_tape(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
              start_ns: int | None = None, end_ns: int | None = None, *,
              exclude: frozenset[str] = frozenset()) -> list[Stream]:
    """One :class:`Stream` per symbol and collector of a booktape tape.

    ``exclude``: paths of damaged files to leave out (listed with ``skipped``).
    """
    files = sorted(Tape.of(data).files(symbol, collector, start_ns, end_ns), key=_sort_key)
    groups: dict[tuple[str, str], list[TapeFile]] = {}
    for f in files:
        groups.setdefault((f.symbol, f.collector), []).append(f)
    con = _duck() if any(f.sealed for f in files) else None
    where = _where(start_ns, end_ns)
    out = []
    try:
        with watch_interrupts() as interrupted:
            for (sym, col), fs in sorted(groups.items()):
                out.append(_scan_group(con, sym, col, fs, where, start_ns, end_ns, exclude,
                                       interrupted))
    finally:
        if con is not None:
            con.close()
    pa.default_memory_pool().release_unused()  # give the scan's buffers back before analysis
    return out


def _scan_group(con: Any, sym: str, col: str, fs: list[TapeFile], where: str,
                start_ns: int | None, end_ns: int | None, exclude: frozenset[str],
                interrupted: Callable[[], bool]) -> Stream:
    tables: list[dict[str, np.ndarray]] = []
    infos: list[FileInfo] = []
    for f in fs:
        info = FileInfo(f.path.name, str(f.path), "part" if f.sealed else "journal")
        try:
            if str(f.path) in exclude:
                info.skipped = True
                raise ValueError("left out: damaged")
            if f.sealed:
                t, info.rows = _scan_part(con, f, where)
            else:
                t, info.rows, info.torn = _scan_journal(f, start_ns, end_ns, info)
        except Exception as e:  # a corrupt file must not hide the rest of the tape
            if interrupted():
                # DuckDB turned the user's Ctrl-C into an error of its own: it is the
                # interrupt, not a damaged file to note and skip (issue 14).
                raise KeyboardInterrupt from None
            if not info.skipped:
                log.warning("cannot read %s: %s", f.path, e)
            info.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            t = pa.table({c: pa.array([], pa.int64()) for c in SNAP_COLS})
        info.snapshots = t.num_rows
        infos.append(info)
        tables.append(_columns(t))
        del t
    return _stream(sym, col, "tape", tables, infos, has_seq=True)


def _columns(t: pa.Table) -> dict[str, np.ndarray]:
    """Numpy copies of a snapshot table's columns, so the Arrow buffers can be freed."""
    out: dict[str, np.ndarray] = {}
    for name in SNAP_COLS:
        c = t.column(name)
        if c.null_count:
            c = pc.fill_null(c, -1)
        a = c.combine_chunks().to_numpy(zero_copy_only=False) if t.num_rows \
            else np.zeros(0, np.int64)
        if a.dtype == np.uint64:
            a = a.view(np.int64)  # seq < 2**63; a view, not a copy
        out[name] = a
    return out


def _stream(sym: str, col: str, source: str, tables: list[dict[str, np.ndarray]],
            infos: list[FileInfo], has_seq: bool) -> Stream:
    sizes = [t["seq"].size for t in tables]
    fidx = np.repeat(np.arange(len(tables), dtype=np.int32), sizes)

    def cat(name: str, dtype: type) -> np.ndarray:
        # Column by column, freeing each file's piece as it is copied: peak memory is
        # the snapshot arrays plus one column, never two copies of everything.
        out: np.ndarray = np.empty(sum(sizes), dtype)
        i = 0
        for t in tables:
            a = t.pop(name)
            out[i:i + a.size] = a
            i += a.size
        return out

    return Stream(sym, col, source, cat("seq", np.int64), cat("t_before_ns", np.int64),
                  cat("t_after_ns", np.int64), cat("unchanged", np.uint32), fidx, infos, has_seq,
                  cat("blind_ns", np.int64) if all("blind_ns" in t for t in tables) else None)
