"""``booktape.read.batches``: a collector's rows streamed in snapshot-aligned batches (issue 12)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import booktape
from booktape.errors import ChecksumMismatch
from booktape.read.batches import iter_batches
from booktape.schema import BOOK_SCHEMA
from booktape.tape.journal import Journal
from booktape.tape.layout import journal_name
from booktape.tape.manifest import read_manifest

from .analysis_tapes import clean_tape, coll_dir

COLS = BOOK_SCHEMA.names


def _whole(tape: Path, **kw: object) -> pa.Table:
    return booktape.read_arrow(tape, "RIU2", "zero", **kw).select(COLS)


def same(a: pa.Table, b: pa.Table) -> bool:
    """Same rows and values (field nullability aside: readers differ in it)."""
    return a.cast(b.schema).equals(b)


@pytest.mark.parametrize("batch_rows", [1, 37, 1 << 18])
def test_batches_whole_snapshots_same_rows_as_read_arrow(tmp_path: Path, batch_rows: int) -> None:
    tape = clean_tape(tmp_path / "data")
    assert len(read_manifest(coll_dir(tape))) >= 2
    batches = list(iter_batches(tape, "RIU2", "zero", batch_rows=batch_rows))
    last = -1
    for b in batches:
        seq = b.column("seq").to_numpy()
        assert seq[0] > last and np.all(np.diff(seq.astype(np.int64)) >= 0)
        last = int(seq[-1])
    # No snapshot is split between batches; together they are exactly read_arrow's rows.
    firsts = [int(b.column("seq")[0].as_py()) for b in batches[1:]]
    lasts = [int(b.column("seq")[-1].as_py()) for b in batches[:-1]]
    assert all(f > la for f, la in zip(firsts, lasts))
    assert same(pa.concat_tables(batches), _whole(tape))
    if batch_rows == 1:
        assert len(batches) == _whole(tape).column("seq").unique().__len__()


def test_batches_time_window_and_columns_as_read_arrow(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    tb = _whole(tape).column("t_before_ns").to_numpy()
    lo, hi = int(np.quantile(tb, 0.3)), int(np.quantile(tb, 0.6))
    got = pa.concat_tables(iter_batches(tape, "RIU2", "zero", lo, hi, columns=["seq", "price"],
                                        batch_rows=100))
    want = booktape.read_arrow(tape, "RIU2", "zero", lo, hi, columns=["seq", "price"])
    assert got.column_names == ["seq", "price"] and same(got, want.select(["seq", "price"]))


def test_batches_journal_repeating_a_sealed_part_read_once(tmp_path: Path) -> None:
    # The instant between a seal's manifest commit and the journal's deletion.
    tape = clean_tape(tmp_path / "data")
    want = _whole(tape)
    d = coll_dir(tape)
    first = read_manifest(d)[0]
    j = Journal(d / journal_name(int(first.part[5:11])), BOOK_SCHEMA)
    # ParquetFile, not read_table: pyarrow 18 adds the Hive directories' partition columns.
    j.append(pq.ParquetFile(d / first.part).read().cast(BOOK_SCHEMA))
    j.close()
    got = pa.concat_tables(iter_batches(tape, "RIU2", "zero", batch_rows=64))
    assert same(got, want)


def test_batches_altered_part_raises_checksum_mismatch_naming_it(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    part = coll_dir(tape) / read_manifest(coll_dir(tape))[-1].part
    shutil.copy(part, tmp_path / "keep")
    with open(part, "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ChecksumMismatch, match=part.name):
        list(iter_batches(tape, "RIU2", "zero"))
