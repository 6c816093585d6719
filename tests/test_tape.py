"""The tape writer, sealing, manifest and recovery, on real files."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from booktape.capture.frame import ChunkBuilder, decode
from booktape.clock import ManualClock
from booktape.errors import BooktapeError
from booktape.schema import BOOK_SCHEMA, metadata_of
from booktape.sources.simulated import SimConfig, SimMarket
from booktape.tape.journal import read_journal
from booktape.tape.layout import partition_dirs
from booktape.tape.manifest import read_manifest, sha256_file
from booktape.tape.recover import recover
from booktape.tape.seal import dedupe_sorted
from booktape.tape.writer import TapeWriter, WriterConfig

DAY0 = 1_764_115_200_000_000_000  # 2025-11-26T00:00:00Z


def make_batch(first_seq: int, n: int, t0: int, step: int = 1_000_000, seed: int = 1) -> pa.RecordBatch:
    m = SimMarket(SimConfig(lockstep=True, unchanged_prob=0, seed=seed))
    b = ChunkBuilder()
    for i in range(n):
        t = t0 + i * step
        b.add(0, first_seq + i, t, t + 5000, 0, 7000, m.market_book_get("RIU2"))
    return decode(b.take())[0]


def sealed_rows(root):
    rows = []
    for d in partition_dirs(root):
        for e in read_manifest(d):
            rows.append(pq.ParquetFile(d / e.part).read())
    return pa.concat_tables(rows) if rows else None


def test_writer_seals_part_with_manifest_checksum_and_metadata(tmp_path):
    clock = ManualClock(DAY0 + 3600 * 10**9)
    w = TapeWriter(tmp_path, "zero", clock, meta={"session": "s1", "source": "sim"})
    batch = make_batch(0, 50, clock.t)
    w.append("RIU2", batch)
    [entry] = w.close()
    d = tmp_path / "symbol=RIU2" / "date=2025-11-26" / "collector=zero"
    part = d / "part-000001.parquet"
    assert part.exists() and not list(d.glob("_part-*.arrows"))
    assert entry.sha256 == sha256_file(part)
    assert (entry.rows, entry.snapshots, entry.seq_min, entry.seq_max) == (batch.num_rows, 50, 0, 49)
    t = pq.ParquetFile(part).read()
    assert t.schema.remove_metadata() == BOOK_SCHEMA.remove_metadata()
    md = metadata_of(t.schema)
    assert md["symbol"] == "RIU2" and md["collector"] == "zero" and md["seq_max"] == "49"
    assert md["schema_version"] == "1" and md["session"] == "s1"
    assert t.equals(pa.Table.from_batches([batch]).replace_schema_metadata(t.schema.metadata))
    line = json.loads((d / "_manifest.jsonl").read_text().splitlines()[0])
    assert line["part"] == "part-000001.parquet" and line["sha256"] == entry.sha256


def test_writer_rotates_by_size_without_losing_or_duplicating_rows(tmp_path):
    clock = ManualClock(DAY0 + 3600 * 10**9)
    w = TapeWriter(tmp_path, "zero", clock, config=WriterConfig(rotate_bytes=100_000))
    seq = 0
    for _ in range(20):
        w.append("RIU2", make_batch(seq, 30, clock.t + seq * 1_000_000, seed=seq))
        seq += 30
    w.close()
    entries = read_manifest(partition_dirs(tmp_path)[0])
    assert len(entries) >= 4
    ranges = [(e.seq_min, e.seq_max) for e in entries]
    assert ranges[0][0] == 0 and ranges[-1][1] == seq - 1
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))
    seqs = np.unique(sealed_rows(tmp_path).column("seq").to_numpy())
    assert np.array_equal(seqs, np.arange(seq))


def test_writer_rotates_by_age_on_tick(tmp_path):
    clock = ManualClock(DAY0 + 3600 * 10**9)
    w = TapeWriter(tmp_path, "zero", clock, config=WriterConfig(rotate_every_ns=60 * 10**9))
    for i in range(5):
        w.append("RIU2", make_batch(i * 10, 10, clock.t))
        clock.advance(30 * 10**9)
        w.tick()
    w.close()
    entries = read_manifest(partition_dirs(tmp_path)[0])
    assert len(entries) == 3  # 60 s segments over 150 s
    assert [e.seq_min for e in entries] == [0, 20, 40]


def test_writer_splits_at_utc_midnight_so_parts_never_span_two_dates(tmp_path):
    clock = ManualClock(DAY0 + 86_400 * 10**9 - 10**9)
    w = TapeWriter(tmp_path, "zero", clock)
    w.append("RIU2", make_batch(0, 20, clock.t, step=100_000_000))  # 2 s across midnight
    w.close()
    dirs = partition_dirs(tmp_path)
    assert [d.parent.name for d in dirs] == ["date=2025-11-26", "date=2025-11-27"]
    a, b = (read_manifest(d)[0] for d in dirs)
    assert a.seq_max + 1 == b.seq_min and a.seq_min == 0 and b.seq_max == 19


def test_seal_dedupes_resent_batches_by_seq(tmp_path):
    clock = ManualClock(DAY0)
    w = TapeWriter(tmp_path, "zero", clock)
    b = make_batch(0, 10, clock.t)
    w.append("RIU2", b)
    w.append("RIU2", b.slice(b.num_rows // 2))  # at-least-once resend
    [e] = w.close()
    assert e.rows == b.num_rows and e.duplicates_dropped == b.num_rows - b.num_rows // 2


def test_dedupe_sorted_orders_out_of_order_batches():
    b1, b2 = make_batch(10, 5, DAY0), make_batch(0, 10, DAY0)
    t, dup = dedupe_sorted(pa.Table.from_batches([b1, b2]))
    assert dup == 0 and t.num_rows == b1.num_rows + b2.num_rows
    seq = t.column("seq").to_numpy()
    assert np.all(np.diff(seq.astype(np.int64)) >= 0)


def test_seal_refuses_overlapping_seq_ranges(tmp_path):
    clock = ManualClock(DAY0)
    w = TapeWriter(tmp_path, "zero", clock)
    w.append("RIU2", make_batch(0, 10, clock.t))
    w.close()
    w2 = TapeWriter(tmp_path, "zero", clock)
    w2.append("RIU2", make_batch(5, 10, clock.t))
    with pytest.raises(BooktapeError, match="overlaps"):
        w2.close()


def test_journal_torn_tail_is_cut_at_last_complete_batch(tmp_path):
    clock = ManualClock(DAY0)
    w = TapeWriter(tmp_path, "zero", clock)
    for i in range(5):
        w.append("RIU2", make_batch(i * 10, 10, clock.t + i))
        w.sync()  # one IPC batch per sync
    jpath = w.open_segments["RIU2"]
    size = jpath.stat().st_size
    full, torn = read_journal(jpath)
    assert not torn and full.num_rows > 0
    with open(jpath, "r+b") as f:  # tear the last batch in half
        f.truncate(size - 300)
    part, torn = read_journal(jpath)
    assert torn
    assert 0 < part.num_rows < full.num_rows
    assert part.equals(full.slice(0, part.num_rows))
    # The crashed writer holds nothing (Windows cannot delete a file this process has open).
    w._segs["RIU2"].journal._f.close()
    done = recover(tmp_path, clock.t)
    [r] = done
    entry = r.entry
    assert entry is not None and entry.torn_tail and entry.rows == part.num_rows
    assert not jpath.exists()


def test_recover_after_crash_between_rename_and_journal_delete_is_idempotent(tmp_path):
    clock = ManualClock(DAY0)
    w = TapeWriter(tmp_path, "zero", clock)
    w.append("RIU2", make_batch(0, 10, clock.t))
    w.sync()
    j = w.open_segments["RIU2"]
    saved = j.read_bytes()
    w.close()
    j.write_bytes(saved)  # as if the process died before unlinking the journal
    [r] = recover(tmp_path, clock.t)
    e = r.entry
    d = j.parent
    assert e is not None and len(read_manifest(d)) == 1 and not j.exists()


def test_empty_journal_from_a_crash_before_any_write_is_removed(tmp_path):
    d = tmp_path / "symbol=RIU2" / "date=2025-11-26" / "collector=zero"
    d.mkdir(parents=True)
    j = d / "_part-000001.arrows"
    j.write_bytes(b"")
    [r] = recover(tmp_path, DAY0)
    e = r.entry
    assert e is None and not j.exists()


def test_fsync_cadence_makes_journal_readable_while_open(tmp_path):
    clock = ManualClock(DAY0)
    w = TapeWriter(tmp_path, "zero", clock, config=WriterConfig(sync_every_ns=10**9))
    w.append("RIU2", make_batch(0, 10, clock.t))
    clock.advance(2 * 10**9)
    w.tick()
    t, torn = read_journal(w.open_segments["RIU2"])
    assert t.num_rows > 0 and not torn
    assert os.path.getsize(w.open_segments["RIU2"]) > 0
    w.close()
