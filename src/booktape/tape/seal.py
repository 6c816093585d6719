"""Seal a journal into a compressed, checksummed Parquet part, atomically.

Order of operations (each step durable before the next), so a crash at any
point leaves a state :mod:`booktape.tape.recover` can finish:
``_part-N.parquet.tmp`` written + fsync → renamed to ``part-N.parquet`` + dir
fsync → manifest line appended + fsync → journal deleted.

A journal with damaged batches (issue 11) is sealed from the batches that
verify, and is then kept beside its part as ``_part-N.arrows.quarantined``
with a JSON report of what failed (which batch, bytes and seq range) — never
deleted. Its report is written first, so a crash mid-seal still quarantines.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import BooktapeError
from ..schema import SCHEMA_VERSION, metadata_of, with_metadata
from ._fs import fsync_dir, replace_durably, unlink_sealed
from .journal import BadBatch, JournalScan, scan_journal
from .layout import JOURNAL_RE, parse_partition, part_name, quarantine_name
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
    # Page CRCs let a part that no manifest line lists any more still prove
    # its pages intact when it is read (issue 11).
    write_page_checksum=True,
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
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, **PARQUET_OPTIONS)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a part behind
        raise
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


@dataclass(frozen=True)
class Quarantine:
    """A damaged journal kept aside after its good batches were sealed."""

    path: Path  # the journal, renamed ``_part-N.arrows.quarantined``
    report: Path  # ``....quarantined.json``
    bad: tuple[BadBatch, ...]
    schema_damaged: str = ""

    def describe(self) -> str:
        parts = [f"schema {self.schema_damaged}"] if self.schema_damaged else []
        return "; ".join(parts + [str(b) for b in self.bad])


@dataclass(frozen=True)
class Sealed:
    """What sealing one journal did."""

    journal: Path
    entry: PartEntry | None  # None: nothing to seal (empty, or every batch damaged)
    quarantine: Quarantine | None = None


def _quarantine_paths(journal: Path) -> tuple[Path, Path]:
    q = journal.parent / quarantine_name(journal.name)
    return q, q.with_name(q.name + ".json")


def _write_report(scan: JournalScan, report: Path) -> None:
    doc = {"journal": scan.path.name, "schema_damaged": scan.schema_damaged,
           "good_batches": scan.batches, "good_rows": scan.table.num_rows,
           "bad_batches": [{"batch": b.index + 1, "offset": b.offset, "length": b.length,
                            "seq": b.seq, "reason": b.reason} for b in scan.bad]}
    tmp = report.with_name(report.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    replace_durably(tmp, report)


def _set_aside(journal: Path) -> Path:
    q, _ = _quarantine_paths(journal)
    replace_durably(journal, q)
    return q


def seal_journal(journal: Path, now_ns: int, meta: dict[str, str] | None = None,
                 **kw: object) -> PartEntry | None:
    """Seal one journal file (complete or torn) and delete it; idempotent after a crash."""
    return seal_journal_report(journal, now_ns, meta, **kw).entry


def seal_journal_report(journal: Path, now_ns: int, meta: dict[str, str] | None = None,
                        **kw: object) -> Sealed:
    """Seal one journal from every batch that verifies; quarantine it if any did not."""
    m = JOURNAL_RE.match(journal.name)
    if not m:
        raise BooktapeError(f"{journal} is not a journal file")
    number = int(m.group(1))
    dir_ = journal.parent
    final = dir_ / part_name(number)
    q, report = _quarantine_paths(journal)
    entries = {e.part: e for e in read_manifest(dir_)}
    if final.name in entries:
        # Crashed after the manifest commit but before deleting (or setting aside) the journal.
        if report.exists():
            return Sealed(journal, entries[final.name], Quarantine(_set_aside(journal), report, ()))
        unlink_sealed(journal)
        fsync_dir(dir_)
        return Sealed(journal, entries[final.name])
    scan = scan_journal(journal)
    if scan.damaged:
        _write_report(scan, report)
    file_meta = metadata_of(scan.table.schema)
    # The path is the truth for the partition keys, even when the schema message is damaged.
    for k, v in parse_partition(dir_).items():
        file_meta[k] = v
    file_meta.update(meta or {})
    entry = seal_table(scan.table, dir_, number, file_meta, now_ns, torn=scan.torn,
                       **kw)  # type: ignore[arg-type]
    if final.exists() and entry is None:
        final.unlink()
    if scan.damaged:
        quarantine = Quarantine(_set_aside(journal), report, tuple(scan.bad), scan.schema_damaged)
        log.warning("sealed %s from its good batches; damaged ones kept in %s: %s",
                    journal, quarantine.path, quarantine.describe())
        return Sealed(journal, entry, quarantine)
    unlink_sealed(journal)
    fsync_dir(dir_)
    return Sealed(journal, entry)
