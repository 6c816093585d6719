"""Read a tape (sealed parts and unsealed journals alike) into Arrow or pandas.

Sealed parts are read only if their manifest lists them (a part renamed but
not yet committed is still covered by its journal), and their checksum is
checked unless ``verify=False``. Filters on symbol/collector/date prune
directories before any file is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import BadArgument, ChecksumMismatch, TapeNotFound
from ..schema import BOOK_SCHEMA, MERGED_SCHEMA
from ..tape.journal import read_journal
from ..tape.layout import JOURNAL_RE, parse_partition, part_name, partition_dirs, utc_date
from ..tape.manifest import PartEntry, read_manifest, sha256_file
from ..units import parse_time


@dataclass(frozen=True)
class TapeFile:
    """One readable file of a tape: a sealed part or an open journal."""

    path: Path
    symbol: str
    date: str
    collector: str
    entry: PartEntry | None  # None for a journal

    @property
    def sealed(self) -> bool:
        return self.entry is not None


def _root(data: str | Path) -> Path:
    root = Path(data)
    if not root.exists():
        raise TapeNotFound(f"no tape at {root}: the path does not exist")
    if not root.is_dir():
        raise TapeNotFound(f"no tape at {root}: it is a file, not a tape directory")
    return root


def tape_files(data: str | Path, symbol: str | None = None, collector: str | None = None,
               start_ns: int | None = None, end_ns: int | None = None) -> list[TapeFile]:
    """Every part and journal under a tape, pruned by the filters given."""
    root = _root(data)
    lo = utc_date(start_ns) if start_ns is not None else None
    hi = utc_date(end_ns) if end_ns is not None else None
    out = []
    for d in partition_dirs(root, symbol, collector):
        keys = parse_partition(d)
        date = keys.get("date", "")
        if (lo and date < lo) or (hi and date > hi):
            continue
        entries = read_manifest(d)
        sealed = {e.part for e in entries}
        for e in entries:
            if (start_ns is not None and e.t_max_ns < start_ns) or (
                end_ns is not None and e.t_min_ns >= end_ns
            ):
                continue
            out.append(TapeFile(d / e.part, keys["symbol"], date, keys["collector"], e))
        for j in sorted(d.iterdir()):
            m = JOURNAL_RE.match(j.name)
            # A journal whose part is in the manifest is sealed, only not deleted yet
            # (a seal in progress, or a reader held it open on Windows): its rows are the part's.
            if m and part_name(int(m.group(1))) not in sealed:
                out.append(TapeFile(j, keys["symbol"], date, keys["collector"], None))
    return out


def check_part(f: TapeFile) -> None:
    """Raise :class:`ChecksumMismatch` naming the file when its bytes changed."""
    assert f.entry is not None
    if not f.path.exists():
        raise ChecksumMismatch(f"sealed part {f.path} is listed in the manifest but missing")
    if sha256_file(f.path) != f.entry.sha256:
        raise ChecksumMismatch(
            f"checksum mismatch in {f.path}: the file changed after sealing "
            "(run `booktape verify` for details)"
        )


def _with_keys(t: pa.Table, f: TapeFile) -> pa.Table:
    n = t.num_rows
    for i, (name, value) in enumerate((("symbol", f.symbol), ("collector", f.collector))):
        col = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array([value]))
        t = t.add_column(i, name, col)
    return t


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


def read_arrow(data: str | Path, symbol: str | None = None, collector: str | None = None,
               start: object = None, end: object = None, *, columns: list[str] | None = None,
               snapshots_only: bool = False, verify: bool = True) -> pa.Table:
    """The tape's level rows as one Arrow table, sorted by symbol, collector, seq, level.

    Args:
        data: the tape directory (``--out`` of ``record``).
        symbol, collector: keep only these.
        start, end: keep snapshots with ``start <= t_before_ns < end`` (ISO text,
            datetime or int ns; naive times are UTC).
        columns: book columns to read (``symbol``/``collector`` are always added).
        snapshots_only: one row per snapshot (its first level) — for timing analysis.
        verify: check each sealed part's checksum against the manifest first.

    Raises:
        TapeNotFound: no tape at ``data``, or nothing matches the filters' symbol/collector.
        ChecksumMismatch: a sealed part was altered (named in the message).
    """
    start_ns = parse_time(start, "start")
    end_ns = parse_time(end, "end")
    files = tape_files(data, symbol, collector, start_ns, end_ns)
    if not files and not tape_files(data):
        raise TapeNotFound(f"no tape at {data}: no sealed parts or journals found")
    cols = columns or BOOK_SCHEMA.names
    # Merged tapes (`booktape merge`) carry MERGE_FIELDS too; ask for them by name.
    bad = [c for c in cols if c not in MERGED_SCHEMA.names]
    if bad:
        raise BadArgument(f"unknown column(s) {bad}; the tape has {BOOK_SCHEMA.names} "
                          f"(merged tapes also {MERGED_SCHEMA.names[len(BOOK_SCHEMA):]})")
    need = list(dict.fromkeys([*cols, "seq", "level", "t_before_ns"]))
    flt = None
    if start_ns is not None:
        flt = pc.field("t_before_ns") >= start_ns
    if end_ns is not None:
        e = pc.field("t_before_ns") < end_ns
        flt = e if flt is None else flt & e
    if snapshots_only:
        s = pc.field("level") <= 0
        flt = s if flt is None else flt & s
    tables = []
    for f in files:
        if f.sealed:
            if verify:
                check_part(f)
            d = ds.dataset(str(f.path), format="parquet")
            have = [c for c in need if c in d.schema.names]
            t = with_columns(d.to_table(columns=have, filter=flt), need)
        else:
            t, _ = read_journal(f.path)
            t = with_columns(t, need)
            if flt is not None:
                t = ds.dataset(t).to_table(filter=flt)
        tables.append(_with_keys(t.replace_schema_metadata(None), f))
    if not tables:
        empty = MERGED_SCHEMA.empty_table().select(need)
        f0 = TapeFile(Path(), symbol or "", "", collector or "", None)
        return _with_keys(empty, f0).select(["symbol", "collector", *cols])
    # A journal holds rows already in a sealed part only in the instant between a
    # seal's manifest commit and the journal's deletion; dedupe per collector.
    from ..tape.seal import dedupe_sorted

    groups: dict[tuple[str, str], list[pa.Table]] = {}
    for f, t in zip(files, tables):
        groups.setdefault((f.symbol, f.collector), []).append(t)
    out = []
    for key in sorted(groups):
        g = pa.concat_tables(groups[key])
        out.append(dedupe_sorted(g)[0])
    t = pa.concat_tables(out)
    return t.select(["symbol", "collector", *cols])


def read(data: str | Path, symbol: str | None = None, collector: str | None = None,
         start: object = None, end: object = None, **kw: Any) -> pd.DataFrame:
    """The tape as a pandas DataFrame (see :func:`read_arrow` for the arguments)."""
    t = read_arrow(data, symbol, collector, start, end, **kw)
    df = t.to_pandas()
    for c in ("symbol", "collector"):
        df[c] = df[c].astype(str)
    return df
