"""Read a tape (sealed parts and unsealed journals alike) into Arrow or pandas.

Sealed parts are read only if their manifest lists them (a part renamed but
not yet committed is still covered by its journal), and their checksum is
checked unless ``verify=False``. Filters on symbol/collector/date prune
directories before any file is opened.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import BadArgument, ChecksumMismatch, TapeDamaged, TapeNotFound
from ..schema import BOOK_SCHEMA, MERGED_SCHEMA
from ..tape.journal import scan_journal
from ..tape.manifest import sha256_file
from ..tape.tape import Tape, TapeFile
from ..units import parse_time

log = logging.getLogger(__name__)


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


def read_arrow(data: str | Path | Tape, symbol: str | None = None, collector: str | None = None,
               start: object = None, end: object = None, *, columns: list[str] | None = None,
               snapshots_only: bool = False, verify: bool = True, strict: bool = False,
               skip_damaged: bool = False) -> pa.Table:
    """The tape's level rows as one Arrow table, sorted by symbol, collector, seq, level.

    Args:
        data: the tape directory (``--out`` of ``record``).
        symbol, collector: keep only these.
        start, end: keep snapshots with ``start <= t_before_ns < end`` (ISO text,
            datetime or int ns; naive times are UTC).
        columns: book columns to read (``symbol``/``collector`` are always added).
        snapshots_only: one row per snapshot (its first level) — for timing analysis.
        verify: check each sealed part's checksum against the manifest first.
        strict: a damaged manifest line, or a part no manifest lists, is an
            error (by default: a warning, and the part is read).
        skip_damaged: leave out parts and journal batches that fail their
            checksum (logged as a warning each) instead of refusing the read.

    Raises:
        TapeNotFound: no tape at ``data``, or nothing matches the filters' symbol/collector.
        TapeDamaged: a part or journal batch fails its checksum (named in the message;
            :class:`ChecksumMismatch` for a part), or ``strict`` and a manifest is damaged.
    """
    start_ns = parse_time(start, "start")
    end_ns = parse_time(end, "end")
    tape = Tape.of(data)
    files = tape.files(symbol, collector, start_ns, end_ns)
    if not files and not tape.files():
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
    if verify:
        warn_problems(tape, symbol, collector, strict)
    read_files, tables = [], []
    for f in files:
        t = _read_file(f, need, flt, verify, skip_damaged)
        if t is not None:
            read_files.append(f)
            tables.append(_with_keys(t.replace_schema_metadata(None), f))
    if not tables:
        empty = MERGED_SCHEMA.empty_table().select(need)
        f0 = TapeFile(Path(), symbol or "", "", collector or "", None)
        return _with_keys(empty, f0).select(["symbol", "collector", *cols])
    # A journal holds rows already in a sealed part only in the instant between a
    # seal's manifest commit and the journal's deletion; dedupe per collector.
    from ..tape.seal import dedupe_sorted

    groups: dict[tuple[str, str], list[pa.Table]] = {}
    for f, t in zip(read_files, tables):
        groups.setdefault((f.symbol, f.collector), []).append(t)
    out = []
    for key in sorted(groups):
        g = pa.concat_tables(groups[key])
        out.append(dedupe_sorted(g)[0])
    t = pa.concat_tables(out)
    return t.select(["symbol", "collector", *cols])


def _read_file(f: TapeFile, need: list[str], flt: Any, verify: bool,
               skip_damaged: bool) -> pa.Table | None:
    """One part or journal's rows; None when it is damaged and ``skip_damaged``."""
    if not f.sealed:
        scan = scan_journal(f.path)
        if scan.damaged:
            # The batches that verify are still read: only the damaged ones are skipped.
            damaged(f"journal {f.path} is damaged: {scan.describe()}", skip_damaged)
        t = scan.table.select(need)
        return ds.dataset(t).to_table(filter=flt) if flt is not None else t
    try:
        if verify:
            check_part(f)
        # Unlisted parts have no manifest checksum: their page CRCs stand in.
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            page_checksum_verification=not f.listed))
        return ds.dataset(str(f.path), format=fmt).to_table(columns=need, filter=flt)
    except TapeDamaged as e:
        damaged(str(e), skip_damaged)
    except (pa.ArrowException, OSError) as e:
        damaged(f"part {f.path} cannot be read: {str(e).splitlines()[0][:200]}", skip_damaged)
    return None


def read(data: str | Path, symbol: str | None = None, collector: str | None = None,
         start: object = None, end: object = None, **kw: Any) -> pd.DataFrame:
    """The tape as a pandas DataFrame (see :func:`read_arrow` for the arguments)."""
    t = read_arrow(data, symbol, collector, start, end, **kw)
    df = t.to_pandas()
    for c in ("symbol", "collector"):
        df[c] = df[c].astype(str)
    return df
