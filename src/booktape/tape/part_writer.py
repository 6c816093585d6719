"""Write one sealed part batch by batch, for writers whose part does not fit in memory.

:func:`.seal.seal_table` seals a table it holds whole (a journal, bounded by the
rotation size). A derived tape written over a full day (``booktape merge``)
streams instead: batches go to ``_part-N.parquet.tmp`` through one
``ParquetWriter`` as they come, and :meth:`PartWriter.close` finishes with the
same durable steps as sealing — fsync, checksum, rename, directory fsync,
manifest line — so readers, ``verify`` and ``recover`` see an ordinary part.
The batches must arrive sorted by ``seq, level`` with whole snapshots.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import BooktapeError
from ..schema import META_PREFIX, SCHEMA_VERSION, with_metadata
from ._fs import replace_durably
from .layout import part_name
from .manifest import PartEntry, add_entry, sha256_file
from .seal import PARQUET_OPTIONS

ROW_GROUP_ROWS = 1 << 20  # as PARQUET_OPTIONS: sealed parts and streamed parts alike


class PartWriter:
    """One part being written; ``close`` seals it, ``abort`` removes the temporary file."""

    def __init__(self, dir_: Path, number: int, schema: pa.Schema, meta: dict[str, str]) -> None:
        self.dir = dir_
        self.number = number
        self.final = dir_ / part_name(number)
        if self.final.exists():
            raise BooktapeError(f"{self.final} is already sealed")
        self.tmp = dir_ / f"_{part_name(number)}.tmp"
        self.meta = dict(meta)
        self.schema = with_metadata(schema, self.meta)
        self._fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        opts = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
        self._pq = pq.ParquetWriter(self._fh, self.schema, **opts)
        self.rows = 0
        self.snapshots = 0
        self.seq_min = self.seq_max = -1
        self.t_min = self.t_max = 0

    def write(self, table: pa.Table) -> None:
        """Append whole snapshots, in seq order after those already written."""
        if table.num_rows == 0:
            return
        seq = table.column("seq")
        lo, hi = int(pc.min(seq).as_py()), int(pc.max(seq).as_py())
        if lo <= self.seq_max:
            raise BooktapeError(f"{self.final}: seq {lo} written after {self.seq_max}")
        t0 = int(pc.min(table.column("t_before_ns")).as_py())
        t1 = int(pc.max(table.column("t_after_ns")).as_py())
        self.t_min = t0 if self.rows == 0 else min(self.t_min, t0)
        self.t_max = t1 if self.rows == 0 else max(self.t_max, t1)
        if self.rows == 0:
            self.seq_min = lo
        self.seq_max = hi
        self.snapshots += len(pc.unique(seq))
        self.rows += table.num_rows
        self._pq.write_table(table.cast(self.schema), row_group_size=ROW_GROUP_ROWS)

    def close(self, now_ns: int) -> PartEntry | None:
        """Seal: footer with the ranges in the key-value metadata, fsync, rename, manifest."""
        if self.rows == 0:
            self.abort()
            return None
        ranges = dict(seq_min=self.seq_min, seq_max=self.seq_max, t_min_ns=self.t_min,
                      t_max_ns=self.t_max, rows=self.rows, snapshots=self.snapshots)
        self._pq.add_key_value_metadata({META_PREFIX + k: str(v) for k, v in ranges.items()})
        self._pq.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        digest = sha256_file(self.tmp)
        replace_durably(self.tmp, self.final)
        entry = PartEntry(
            part=self.final.name, rows=self.rows, snapshots=self.snapshots,
            seq_min=self.seq_min, seq_max=self.seq_max, t_min_ns=self.t_min, t_max_ns=self.t_max,
            bytes=self.final.stat().st_size, sha256=digest, sealed_at_ns=now_ns,
            session=self.meta.get("session", ""), schema_version=SCHEMA_VERSION)
        add_entry(self.dir, entry)
        return entry

    def abort(self) -> None:
        """Drop the unfinished part (nothing was entered in the manifest)."""
        try:
            self._pq.close()
        finally:
            self._fh.close()
            self.tmp.unlink(missing_ok=True)
