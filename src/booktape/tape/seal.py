"""Seal a journal into a compressed, checksummed Parquet part, atomically.

Order of operations (each step durable before the next), so a crash at any
point leaves a state :mod:`booktape.tape.recover` can finish:
``_part-N.parquet.tmp`` written + fsync → renamed to ``part-N.parquet`` + dir
fsync → manifest line appended + fsync → journal deleted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import BooktapeError
from ..schema import SCHEMA_VERSION, metadata_of, with_metadata
from ._fs import fsync_dir, replace_durably, unlink_sealed
from .journal import read_journal
from .layout import JOURNAL_RE, part_name
from .manifest import PartEntry, add_entry, read_manifest, sha256_file

log = logging.getLogger(__name__)

# Measured on 240k sim level rows (BENCHMARKS.md): plain encoding + zstd-6 is
# 0.68 B/row, because zstd's long matches find both the per-snapshot values
# repeated on each level and the ~40-level run that barely changes from one
# state to the next; dictionary encoding hides those repeats (1.14 B/row at
# zstd-3, 1.07 at zstd-9), and zstd-3 plain misses them (1.40 B/row).
PARQUET_OPTIONS = dict(
    compression="zstd",
    compression_level=6,
    use_dictionary=False,
    row_group_size=1 << 20,
    write_statistics=True,
)


def _strictly_sorted(cols: list[np.ndarray]) -> bool:
    """True when rows are in strictly increasing lexicographic order of ``cols``."""
    ties = np.ones(len(cols[0]) - 1, dtype=bool)
    for c in cols:
        d = np.diff(c.astype(np.int64) if c.dtype.kind == "u" else c)
        if (d[ties] < 0).any():
            return False
        ties &= d == 0
    return not ties.any()


def dedupe_sorted(table: pa.Table, keys: tuple[str, ...] = ("seq", "level")) -> tuple[pa.Table, int]:
    """Sort by ``keys`` and keep the first row of each key (at-least-once → exactly-once)."""
    if table.num_rows == 0:
        return table, 0
    if _strictly_sorted([table.column(k).to_numpy() for k in keys]):
        return table, 0  # the common case: one writer, in order, no resends
    idx = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys])
    t = table.take(idx)
    cols = [t.column(k).to_numpy() for k in keys]
    dup = np.ones(t.num_rows, dtype=bool)
    for c in cols:
        dup[1:] &= c[1:] == c[:-1]
    dup[0] = False
    n_dup = int(dup.sum())
    if n_dup:
        t = t.filter(pa.array(~dup))
    return t, n_dup


def seal_table(table: pa.Table, dir_: Path, number: int, meta: dict[str, str],
               now_ns: int, *, torn: bool = False,
               keys: tuple[str, ...] = ("seq", "level"),
               time_cols: tuple[str, str] = ("t_before_ns", "t_after_ns")) -> PartEntry | None:
    """Write ``table`` as part ``number`` of ``dir_`` and enter it in the manifest."""
    table, n_dup = dedupe_sorted(table, keys)
    if table.num_rows == 0:
        return None
    seq = table.column(keys[0])
    seq_min, seq_max = int(pc.min(seq).as_py()), int(pc.max(seq).as_py())
    snapshots = len(pc.unique(seq))
    t_min = int(pc.min(table.column(time_cols[0])).as_py())
    t_max = int(pc.max(table.column(time_cols[1])).as_py())
    for e in read_manifest(dir_):
        if e.part == part_name(number):
            raise BooktapeError(f"{dir_ / e.part} is already sealed")
        if keys[0] == "seq" and e.snapshots and not (seq_max < e.seq_min or seq_min > e.seq_max):
            raise BooktapeError(
                f"refusing to seal {dir_ / part_name(number)}: seq {seq_min}..{seq_max} "
                f"overlaps {e.part} ({e.seq_min}..{e.seq_max})"
            )
    meta = dict(meta)
    meta.update(seq_min=str(seq_min), seq_max=str(seq_max), t_min_ns=str(t_min),
                t_max_ns=str(t_max), rows=str(table.num_rows), snapshots=str(snapshots))
    table = table.replace_schema_metadata(with_metadata(table.schema, meta).metadata)
    final = dir_ / part_name(number)
    tmp = dir_ / f"_{part_name(number)}.tmp"
    with open(tmp, "wb") as f:
        pq.write_table(table, f, **PARQUET_OPTIONS)
        f.flush()
        os.fsync(f.fileno())
    digest = sha256_file(tmp)
    replace_durably(tmp, final)
    entry = PartEntry(
        part=final.name, rows=table.num_rows, snapshots=snapshots, seq_min=seq_min,
        seq_max=seq_max, t_min_ns=t_min, t_max_ns=t_max, bytes=final.stat().st_size,
        sha256=digest, sealed_at_ns=now_ns, session=meta.get("session", ""),
        torn_tail=torn, duplicates_dropped=n_dup, schema_version=SCHEMA_VERSION,
    )
    add_entry(dir_, entry)
    return entry


def seal_journal(journal: Path, now_ns: int, meta: dict[str, str] | None = None,
                 **kw: object) -> PartEntry | None:
    """Seal one journal file (complete or torn) and delete it; idempotent after a crash."""
    m = JOURNAL_RE.match(journal.name)
    if not m:
        raise BooktapeError(f"{journal} is not a journal file")
    number = int(m.group(1))
    dir_ = journal.parent
    final = dir_ / part_name(number)
    entries = {e.part: e for e in read_manifest(dir_)}
    if final.name in entries:
        # Crashed after the manifest commit but before deleting the journal.
        unlink_sealed(journal)
        fsync_dir(dir_)
        return entries[final.name]
    table, torn = read_journal(journal)
    file_meta = metadata_of(table.schema)
    file_meta.update(meta or {})
    entry = seal_table(table, dir_, number, file_meta, now_ns, torn=torn, **kw)  # type: ignore[arg-type]
    if final.exists() and entry is None:
        final.unlink()
    unlink_sealed(journal)
    fsync_dir(dir_)
    return entry
