"""The append-only journal segment: a zstd-compressed Arrow IPC stream.

Batches are appended as they come and fsync'd on the writer's cadence. Every
batch carries an xxh3-64 checksum of its uncompressed IPC bytes, and its seq
range, in the batch's custom metadata (issue 11: zstd-compressed Arrow IPC has
no checksum of its own, and bit flips were sealed as good data). The file stays
a plain Arrow IPC stream any Arrow reader opens.

:func:`scan_journal` walks the stream message by message, so one damaged
batch costs only itself: every batch that verifies is kept, the damaged ones
are reported (:class:`BadBatch`), and a stream cut short by a crash (a torn
tail) is the normal, quiet case. Journals written before checksums existed
are read as before (each batch only has to decode).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import xxhash

from ..errors import JournalCorrupt

log = logging.getLogger(__name__)

# zstd-3 per batch of ~128 snapshots: 1.55 B/row at ~75 ns/row here, where
# zstd-1 was both slower and larger (3.4 B/row), lz4 2.3 B/row, none 55 B/row.
_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=3))

#: Schema metadata of a journal whose every batch must carry a checksum.
CHECKSUM_FLAG = b"booktape.batch_checksum"
CHECKSUM_KIND = b"xxh3_64"
#: Batch custom metadata: the checksum, and the seq range (for damage reports).
SUM_KEY = b"booktape.xxh3"
SEQ_KEY = b"booktape.seq"
_CONT = b"\xff\xff\xff\xff"
_EOS = _CONT + b"\x00\x00\x00\x00"


def batch_checksum(batch: pa.RecordBatch) -> str:
    """xxh3-64 of the batch's uncompressed IPC encoding (canonical for sliced arrays too)."""
    return xxhash.xxh3_64_hexdigest(memoryview(batch.serialize()))


def _seq_range(batch: pa.RecordBatch) -> str:
    if "seq" not in batch.schema.names or batch.num_rows == 0:
        return ""
    mm = pa.compute.min_max(batch.column("seq"))
    return f"{mm['min'].as_py()}..{mm['max'].as_py()}"


class Journal:
    """One open journal file.

    Appended batches are held until :meth:`sync` (the writer's fsync cadence,
    1 s by default) or until ``max_pending_rows`` accumulate, then written as
    one IPC batch: data is only durable at fsync anyway, and one batch per
    second compresses to ~1.5 B/row where a batch per 50 ms chunk took 3 B/row.
    """

    def __init__(self, path: Path, schema: pa.Schema, max_pending_rows: int = 1 << 18) -> None:
        self.path = path
        schema = schema.with_metadata({**(schema.metadata or {}), CHECKSUM_FLAG: CHECKSUM_KIND})
        self._f: BinaryIO = open(path, "wb")
        self._w = pa.ipc.new_stream(self._f, schema, options=_OPTIONS)
        self.bytes_written = 0
        self.max_pending_rows = max_pending_rows
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._dirty = False

    def append(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.Table):
            self._pending.extend(batch.to_batches())
        else:
            self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= self.max_pending_rows:
            self.flush()

    def flush(self) -> None:
        """Write pending batches to the OS as one checksummed batch (not yet durable)."""
        if self._pending:
            t = pa.Table.from_batches(self._pending).combine_chunks()
            for b in t.to_batches(max_chunksize=max(t.num_rows, 1)):
                self._w.write_batch(b, custom_metadata={SUM_KEY: batch_checksum(b),
                                                        SEQ_KEY: _seq_range(b)})
            self._pending.clear()
            self._pending_rows = 0
            self._dirty = True

    def sync(self) -> None:
        """Flush pending batches, then Python's and the OS's buffers to the device."""
        self.flush()
        if self._dirty:
            self._f.flush()
            os.fsync(self._f.fileno())
            self.bytes_written = self._f.tell()
            self._dirty = False

    def close(self) -> None:
        """End the stream cleanly and make it durable."""
        if not self._f.closed:
            self.flush()
            self._w.close()
            self._f.flush()
            os.fsync(self._f.fileno())
            self.bytes_written = self._f.tell()
            self._f.close()


@dataclass(frozen=True)
class BadBatch:
    """A stretch of a journal that failed its checksum or does not decode."""

    index: int  # how many good batches came before it
    offset: int  # byte offset of the damaged stretch in the file
    length: int  # its length in bytes
    seq: str  # the seq range it held ("a..b", from its neighbours when unreadable) or ""
    reason: str

    def __str__(self) -> str:
        seq = f", seq {self.seq}" if self.seq else ""
        return (f"batch {self.index + 1} (bytes {self.offset}..{self.offset + self.length}"
                f"{seq}): {self.reason}")


@dataclass
class JournalScan:
    """What a journal holds: every batch that verified, and what did not."""

    path: Path
    table: pa.Table
    torn: bool = False  # the stream ends in a batch cut short (a crash): benign
    bad: list[BadBatch] = field(default_factory=list)
    checked: bool = False  # its batches carry checksums (journals since issue 11)
    batches: int = 0  # batches that verified
    schema_damaged: str = ""  # why the journal's own schema could not be used

    @property
    def damaged(self) -> bool:
        return bool(self.bad or self.schema_damaged)

    def describe(self) -> str:
        parts = [f"schema: {self.schema_damaged}"] if self.schema_damaged else []
        parts += [str(b) for b in self.bad]
        return "; ".join(parts)


def _read_message(buf: pa.Buffer, off: int) -> tuple[pa.ipc.Message | None, int]:
    """The message at ``off`` and the offset after it (None at an end-of-stream marker)."""
    r = pa.BufferReader(buf)
    r.seek(off)
    if buf.size - off >= 8 and buf[off:off + 8].to_pybytes() == _EOS:
        return None, off + 8
    msg = pa.ipc.read_message(r)
    return msg, r.tell()


def _decode(schema_msg: bytes, raw: bytes, checked: bool,
            schema: pa.Schema) -> tuple[pa.RecordBatch, str]:
    """One batch message decoded, validated and checked; ``ValueError`` says why not."""
    try:
        rd = pa.ipc.open_stream(pa.py_buffer(schema_msg + raw + _EOS))
        batch, meta = rd.read_next_batch_with_custom_metadata()
        batch.validate(full=True)
    except Exception as e:  # noqa: BLE001 - any decode failure is damage to report
        raise ValueError(f"does not decode ({type(e).__name__}: {str(e)[:120]})") from None
    if not batch.schema.equals(schema):
        raise ValueError("does not match the journal's schema")
    meta = meta or {}
    want = meta.get(SUM_KEY)
    seq = _seq_range(batch)
    if want is None and checked:
        raise ValueError("carries no checksum")
    # Verified whenever present: a flip in the schema's flag must not switch checks off.
    if want is not None and want.decode("ascii", "replace") != batch_checksum(batch):
        raise ValueError("fails its checksum")
    return batch, seq


def expected_schema(path: Path) -> pa.Schema:
    """The schema a journal at ``path`` was written with: book, trades or server time."""
    from ..schema import BOOK_SCHEMA
    from .layout import SERVER_TIME_DIR, TICKS_DIR

    parts = set(path.parts)
    if TICKS_DIR in parts or SERVER_TIME_DIR in parts:
        from .side_streams import SERVER_TIME_SCHEMA, TRADES_SCHEMA

        return TRADES_SCHEMA if TICKS_DIR in parts else SERVER_TIME_SCHEMA
    return BOOK_SCHEMA


def _same_fields(a: pa.Schema, b: pa.Schema) -> bool:
    return [(f.name, f.type, f.nullable) for f in a] == [(f.name, f.type, f.nullable) for f in b]


def scan_journal(path: Path, schema: pa.Schema | None = None) -> JournalScan:
    """Every batch of a journal that verifies, and a report of the rest.

    Args:
        path: the journal file.
        schema: the schema the journal must have (default: the one its
            place in the tape says, :func:`expected_schema`); a journal whose
            own schema differs (a damaged schema message) is read with this one.

    Raises:
        JournalCorrupt: the file cannot be opened at all.
    """
    try:
        buf = pa.py_buffer(path.read_bytes())
    except OSError as e:
        raise JournalCorrupt(f"cannot open journal {path}: {e.strerror or e}") from e
    fallback = schema or expected_schema(path)
    out = JournalScan(path, fallback.empty_table())
    size = buf.size
    if size == 0:
        return out
    try:
        msg, off = _read_message(buf, 0)
        if msg is None or msg.type != "schema":
            raise ValueError("the first message is not a schema")
        sch = pa.ipc.read_schema(msg)
        for k, v in (sch.metadata or {}).items():
            k.decode("utf-8"), v.decode("utf-8")
        if not _same_fields(sch, fallback):
            raise ValueError("its fields are not the expected ones")
        schema_msg = buf[0:off].to_pybytes()
    except (pa.ArrowInvalid, OSError, EOFError, ValueError) as e:
        if _truncated(buf, 0):
            out.torn = True  # killed before the schema reached the disk: nothing recorded
            return out
        out.schema_damaged = f"unreadable ({str(e)[:80]}); read with the expected schema"
        sch = fallback
        schema_msg = sch.serialize().to_pybytes()
        off = _resync(buf, 1)
    out.checked = (sch.metadata or {}).get(CHECKSUM_FLAG) == CHECKSUM_KIND or (
        bool(out.schema_damaged))
    batches: list[pa.RecordBatch] = []
    seqs: list[str] = []
    bad_at: list[tuple[int, int, str]] = []  # (start, end, reason) of damaged stretches
    while off < size:
        try:
            msg, end = _read_message(buf, off)
        except (pa.ArrowInvalid, OSError, EOFError) as e:
            if _truncated(buf, off) and _resync(buf, off + 1) >= size:
                out.torn = True
                log.warning("journal %s: torn tail cut after %d batches (%s)", path,
                            len(batches), str(e)[:100])
                break
            nxt = _resync(buf, off + 1)
            bad_at.append((off, nxt, "its framing is damaged"))
            off = nxt
            continue
        if msg is None:  # end of stream
            break
        raw = buf[off:end].to_pybytes()
        try:
            if msg.type != "record batch":
                raise ValueError(f"is a {msg.type} message, not a record batch")
            b, seq = _decode(schema_msg, raw, out.checked, sch)
        except ValueError as e:
            bad_at.append((off, end, str(e)))
            seqs.append("?")
            off = end
            continue
        batches.append(b)
        seqs.append(seq)
        bad_at.append((off, -1, ""))  # a good batch: a marker for neighbour seq ranges
        off = end
    out.bad = _bad_batches(bad_at, batches)
    out.batches = len(batches)
    sch_plain = sch if not out.schema_damaged else fallback
    out.table = pa.Table.from_batches(batches, schema=sch_plain)
    if out.damaged:
        log.warning("journal %s is damaged: %s", path, out.describe())
    return out


def _bad_batches(marks: list[tuple[int, int, str]], good: list[pa.RecordBatch]) -> list[BadBatch]:
    """Damaged stretches with the seq range their good neighbours leave for them."""
    out = []
    gi = 0  # good batches seen so far
    for i, (a, b, why) in enumerate(marks):
        if b == -1:
            gi += 1
            continue
        lo = _last_seq(good[gi - 1]) + 1 if gi > 0 else None
        hi = _first_seq(good[gi]) - 1 if gi < len(good) else None
        if i + 1 < len(marks) and marks[i + 1][1] != -1:
            hi = None  # another damaged stretch follows: the range is shared
        seq = f"{lo if lo is not None else '?'}..{hi if hi is not None else '?'}"
        out.append(BadBatch(gi, a, b - a, "" if seq == "?..?" else seq, why))
    return out


def _first_seq(b: pa.RecordBatch) -> int:
    return int(pa.compute.min(b.column("seq")).as_py()) if "seq" in b.schema.names else 0


def _last_seq(b: pa.RecordBatch) -> int:
    return int(pa.compute.max(b.column("seq")).as_py()) if "seq" in b.schema.names else -1


def _truncated(buf: pa.Buffer, off: int) -> bool:
    """True when the message at ``off`` claims more bytes than the file has (a torn write)."""
    rest = int(buf.size) - off
    if rest < 8:
        return True
    head = buf[off:off + 8].to_pybytes()
    if head[:4] != _CONT:
        return False
    meta_len = int.from_bytes(head[4:8], "little", signed=True)
    if meta_len < 0:
        return False
    if 8 + meta_len > rest:
        return True
    try:
        pa.ipc.read_message(pa.BufferReader(buf[off:off + 8 + meta_len]))
    except (pa.ArrowInvalid, OSError, EOFError) as e:
        # Metadata complete; its body runs past the end of the file.
        return "body" in str(e).lower() or "expected to" in str(e).lower()
    return False


def _resync(buf: pa.Buffer, start: int) -> int:
    """The offset of the next message that parses after ``start``, or the end of the file."""
    data = buf.to_pybytes()
    pos = start
    while True:
        pos = data.find(_CONT, pos)
        if pos < 0:
            return int(buf.size)
        try:
            msg, _ = _read_message(buf, pos)
            if msg is not None and msg.type == "record batch":
                return int(pos)
        except (pa.ArrowInvalid, OSError, EOFError, ValueError):
            pass
        pos += 1


def read_journal(path: Path, schema: pa.Schema | None = None) -> tuple[pa.Table, bool]:
    """Every batch of a journal, and whether a torn tail was cut off.

    Raises:
        JournalCorrupt: a batch fails its checksum or does not decode (named in
            the message); :func:`scan_journal` keeps the good batches instead.
    """
    s = scan_journal(path, schema)
    if s.damaged:
        raise JournalCorrupt(f"journal {path} is damaged: {s.describe()}")
    return s.table, s.torn
