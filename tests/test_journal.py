"""Journal batch checksums, damage reports and quarantine (issue 11), on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import booktape
from booktape.clock import ManualClock
from booktape.errors import JournalCorrupt
from booktape.schema import BOOK_SCHEMA
from booktape.tape.journal import (
    CHECKSUM_FLAG,
    SUM_KEY,
    batch_checksum,
    read_journal,
    scan_journal,
)
from booktape.tape.manifest import read_manifest
from booktape.tape.recover import recover
from booktape.tape.writer import TapeWriter
from tests.test_tape import DAY0, make_batch


def three_batch_journal(root: Path) -> tuple[Path, list[pa.RecordBatch]]:
    """A journal of three fsync'd batches (seq 0..29, 30..59, 60..89), left open."""
    clock = ManualClock(DAY0)
    w = TapeWriter(root, "zero", clock)
    batches = []
    for i in range(3):
        b = make_batch(i * 30, 30, clock.t + i * 10**8)
        batches.append(b)
        w.append("RIU2", b)
        w.sync()
    j = w.open_segments["RIU2"]
    w._segs["RIU2"].journal._f.close()  # as if killed: no end-of-stream marker
    return j, batches


def batch_offsets(path: Path) -> list[tuple[int, int]]:
    """(start, end) of each record-batch message in the file."""
    buf = pa.py_buffer(path.read_bytes())
    r = pa.BufferReader(buf)
    out = []
    while r.tell() < buf.size:
        start = r.tell()
        try:
            m = pa.ipc.read_message(r)
        except Exception:  # noqa: BLE001 - end of stream
            break
        if m.type == "record batch":
            out.append((start, r.tell()))
    return out


def flip(path: Path, pos: int) -> None:
    d = bytearray(path.read_bytes())
    d[pos] ^= 0x04
    path.write_bytes(bytes(d))


def test_journal_batches_carry_a_checksum_and_seq_range(tmp_path):
    j, batches = three_batch_journal(tmp_path)
    rd = pa.ipc.open_stream(pa.OSFile(str(j)))
    assert rd.schema.metadata[CHECKSUM_FLAG] == b"xxh3_64"
    for b in batches:
        got, meta = rd.read_next_batch_with_custom_metadata()
        assert meta[SUM_KEY].decode() == batch_checksum(got) == batch_checksum(b)
    s = scan_journal(j)
    assert s.checked and not s.damaged and s.batches == 3
    assert s.table.equals(pa.Table.from_batches(batches).replace_schema_metadata(
        s.table.schema.metadata))


def test_flip_in_a_middle_batch_body_is_reported_and_the_others_kept(tmp_path):
    j, batches = three_batch_journal(tmp_path)
    a, b = batch_offsets(j)[1]
    flip(j, b - 40)  # inside the compressed body of batch 2
    s = scan_journal(j)
    assert [x.index for x in s.bad] == [1] and s.bad[0].seq == "30..59"
    assert not s.torn
    assert sorted(set(s.table.column("seq").to_pylist())) == list(range(30)) + list(range(60, 90))
    with pytest.raises(JournalCorrupt, match="batch 2 .*seq 30..59"):
        read_journal(j)


def test_flip_in_the_first_batch_keeps_the_second_and_quarantines(tmp_path):
    j, batches = three_batch_journal(tmp_path)
    a, b = batch_offsets(j)[0]
    flip(j, (a + b) // 2)
    [r] = recover(tmp_path, DAY0)
    assert r.entry is not None and r.entry.seq_min == 30 and r.entry.seq_max == 89
    q = r.quarantine
    assert q is not None and q.path.exists() and not j.exists()  # kept aside, never deleted
    report = json.loads(q.report.read_text())
    assert report["bad_batches"][0]["batch"] == 1 and report["bad_batches"][0]["seq"] == "?..29"
    part = pq.read_table(j.parent / r.entry.part)
    want = pa.Table.from_batches(batches[1:])
    for c in BOOK_SCHEMA.names:
        assert part.column(c).to_pylist() == want.column(c).to_pylist(), c


def test_torn_tail_stays_quiet_and_is_not_quarantined(tmp_path):
    j, batches = three_batch_journal(tmp_path)
    a, b = batch_offsets(j)[2]
    with open(j, "r+b") as f:
        f.truncate((a + b) // 2)
    s = scan_journal(j)
    assert s.torn and not s.damaged and s.batches == 2
    [r] = recover(tmp_path, DAY0)
    assert r.quarantine is None and r.entry is not None and r.entry.torn_tail
    assert r.entry.seq_max == 59 and not j.exists()


def test_every_batch_damaged_keeps_the_journal(tmp_path):
    j, _ = three_batch_journal(tmp_path)
    for _a, b in batch_offsets(j):
        flip(j, b - 30)
    [r] = recover(tmp_path, DAY0)
    assert r.entry is None and r.quarantine is not None and r.quarantine.path.exists()
    assert len(r.quarantine.bad) == 3


def test_old_journal_without_checksums_still_recovers(tmp_path):
    d = tmp_path / "symbol=RIU2" / "date=2025-11-26" / "collector=zero"
    d.mkdir(parents=True)
    j = d / "_part-000001.arrows"
    b = make_batch(0, 20, DAY0)
    with pa.OSFile(str(j), "wb") as f, pa.ipc.new_stream(
            f, BOOK_SCHEMA, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_batch(b)
    s = scan_journal(j)
    assert not s.checked and not s.damaged and s.table.num_rows == b.num_rows
    [r] = recover(tmp_path, DAY0)
    assert r.entry is not None and r.entry.rows == b.num_rows and r.quarantine is None


def test_flip_in_the_schema_metadata_is_damage_not_a_traceback(tmp_path):
    j, batches = three_batch_journal(tmp_path)
    data = j.read_bytes()
    pos = data.index(b"RIU2")  # the symbol in the schema's key-value metadata
    flip(j, pos)
    d = bytearray(j.read_bytes())
    d[pos] = 0xFF  # not UTF-8
    j.write_bytes(bytes(d))
    [r] = recover(tmp_path, DAY0)
    assert r.entry is not None and r.entry.rows == sum(b.num_rows for b in batches)
    assert r.quarantine is not None and r.quarantine.schema_damaged
    md = pq.read_schema(j.parent / r.entry.part).metadata
    assert md[b"booktape.symbol"] == b"RIU2"  # from the path


def test_cli_recover_reports_quarantine_and_exits_1(tmp_path, cli):
    j, _ = three_batch_journal(tmp_path)
    a, b = batch_offsets(j)[1]
    flip(j, b - 40)
    p = cli("recover", str(tmp_path))
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert "quarantined" in p.stdout and "seq 30..59" in p.stdout
    assert p.stderr.strip().splitlines()[-1].startswith("Error: 1 journal(s) had damaged batches")
    assert len(read_manifest(j.parent)) == 1


def test_read_refuses_a_damaged_journal_batch_unless_skip_damaged(tmp_path, caplog):
    j, _ = three_batch_journal(tmp_path)
    a, b = batch_offsets(j)[1]
    flip(j, b - 40)
    with pytest.raises(booktape.BooktapeError, match="seq 30..59") as ei:
        booktape.read(tmp_path)
    assert ei.value.exit_code == 1
    df = booktape.read(tmp_path, skip_damaged=True)
    assert sorted(set(df["seq"])) == list(range(30)) + list(range(60, 90))
    assert "skipped: journal" in caplog.text
