"""The tape is a plain Hive-partitioned Parquet dataset: other tools read it in place."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

import booktape
from booktape.schema import BOOK_SCHEMA, metadata_of
from booktape.tape.journal import read_journal

from .helpers import under_wine


@pytest.fixture(scope="module")
def two_collector_tape(tmp_path_factory):
    root = tmp_path_factory.mktemp("tape")
    for c in ("zero", "one"):
        booktape.record(root, ["RIU2", "SiZ2"], polls=4000, collector=c, rotate_bytes="128KB",
                        source_options={"lockstep": True})
    return root


def test_pyarrow_dataset_reads_parts_with_partition_keys(two_collector_tape):
    t = ds.dataset(two_collector_tape, format="parquet", partitioning="hive").to_table()
    ref = booktape.read_arrow(two_collector_tape)
    assert t.num_rows == ref.num_rows
    assert set(t.column("collector").to_pylist()) == {"zero", "one"}
    assert set(t.column("symbol").to_pylist()) == {"RIU2", "SiZ2"}


def test_duckdb_reads_parts_in_place(two_collector_tape):
    q = f"""select symbol, collector, count(distinct seq) n, min(seq) lo, max(seq) hi
            from read_parquet('{two_collector_tape}/symbol=*/date=*/collector=*/part-*.parquet',
                              hive_partitioning=true)
            group by all order by all"""
    rows = duckdb.sql(q).fetchall()
    assert len(rows) == 4
    for _sym, _col, n, lo, hi in rows:
        assert lo == 0 and hi == n - 1  # contiguous seq per symbol and collector


@pytest.mark.skipif(under_wine(), reason="polars' Windows build commits ~9 GB and takes a "
                    "minute to import under Wine 8 (the lane does not install it)")
def test_polars_scans_parts(two_collector_tape):
    import polars as pl

    df = pl.scan_parquet(f"{two_collector_tape}/**/part-*.parquet", hive_partitioning=True).filter(
        pl.col("collector") == "zero").collect()
    assert len(df) == len(booktape.read(two_collector_tape, collector="zero"))


def test_read_filters_symbol_collector_and_time(two_collector_tape):
    df = booktape.read(two_collector_tape, symbol="SiZ2", collector="one")
    assert set(df.symbol) == {"SiZ2"} and set(df.collector) == {"one"}
    mid = int(df.t_before_ns.median())
    late = booktape.read(two_collector_tape, symbol="SiZ2", collector="one", start=mid)
    assert 0 < len(late) < len(df) and late.t_before_ns.min() >= mid
    snaps = booktape.read_arrow(two_collector_tape, symbol="SiZ2", collector="one",
                                snapshots_only=True)
    assert snaps.num_rows == df.seq.nunique()


def test_journal_to_parquet_keeps_schema_and_metadata(tmp_path):
    from booktape.clock import ManualClock
    from booktape.tape.writer import TapeWriter

    from .test_tape import make_batch

    clock = ManualClock()
    w = TapeWriter(tmp_path, "zero", clock, meta={"source": "sim", "session": "abc"})
    w.append("RIU2", make_batch(0, 20, clock.t))
    w.sync()
    journal_table, _ = read_journal(w.open_segments["RIU2"])
    j_meta = metadata_of(journal_table.schema)
    w.close()
    part = pa.parquet.ParquetFile(next(tmp_path.rglob("part-*.parquet"))).read()
    p_meta = metadata_of(part.schema)
    assert part.schema.remove_metadata() == journal_table.schema.remove_metadata() \
        == BOOK_SCHEMA.remove_metadata()
    for k, v in j_meta.items():
        assert p_meta[k] == v
    assert p_meta["seq_min"] == "0" and p_meta["seq_max"] == "19"
