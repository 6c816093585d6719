"""Real tapes for the analysis tests, and injectors of known defects.

One tape is recorded by the real CLI once per test process (a few seconds),
then copied for each test; every injector rewrites parts *and* their manifest
lines consistently, so only the defect itself is left for the checks to find.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from booktape.tape.layout import MANIFEST
from booktape.tape.manifest import PartEntry, read_manifest, sha256_file
from booktape.tape.seal import PARQUET_OPTIONS


@functools.lru_cache(maxsize=1)
def _recorded() -> Path:
    top = tempfile.mkdtemp(prefix="booktape-analysis-")
    # Cached for the test process, so no fixture owns it: removed at its exit (each
    # full run left one in /tmp).
    atexit.register(shutil.rmtree, top, True)
    root = Path(top) / "data"
    subprocess.run([sys.executable, "-m", "booktape", "record", "--out", str(root),
                    "--polls", "600", "--interval", "5ms", "--sync-every", "10s", "--quiet",
                    "--json"], check=True, capture_output=True, timeout=120)
    close_machine_stalls(root)
    split_parts(root, 3)
    return root


def close_machine_stalls(tape: Path, limit_ns: int = 20_000_000) -> None:
    """Take out pauses a loaded test machine put into the recording.

    On a busy 2-core CI box the recorder is sometimes descheduled for 50-150 ms:
    a real stall, which ``analyze`` rightly reports. The clean fixture must have
    none, so any gap over ``limit_ns`` is shortened to the median gap (later
    states move earlier); the books, seq and order stay as recorded.
    """
    d = coll_dir(tape)
    (e,) = read_manifest(d)
    t = pq.ParquetFile(d / e.part).read()
    seq = t.column("seq").to_numpy()
    tb, ta = t.column("t_before_ns").to_numpy(), t.column("t_after_ns").to_numpy()
    first = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    mid = tb[first] + (ta[first] - tb[first]) // 2
    gap = np.diff(mid)
    excess = np.where(gap > limit_ns, gap - int(np.median(gap)), 0)
    if not excess.any():
        return
    shift_snap = np.r_[0, np.cumsum(excess)]
    shift = np.repeat(shift_snap, np.diff(np.r_[first, seq.size]))
    i_b, i_a = t.schema.get_field_index("t_before_ns"), t.schema.get_field_index("t_after_ns")
    t = t.set_column(i_b, "t_before_ns", pa.array(tb - shift))
    t = t.set_column(i_a, "t_after_ns", pa.array(ta - shift))
    # The state after a shortened gap carried that pause in its blind_ns too (the
    # completeness bound, issue 13): shorten it by the same amount.
    i_bl = t.schema.get_field_index("blind_ns")
    blind_snap = t.column("blind_ns").to_numpy()[first]
    blind_snap = np.maximum(blind_snap - np.r_[0, excess], 0)
    blind = np.repeat(blind_snap, np.diff(np.r_[first, seq.size]))
    t = t.set_column(i_bl, t.schema.field(i_bl), pa.array(blind, t.schema.field(i_bl).type))
    pq.write_table(t, d / e.part, **PARQUET_OPTIONS)
    _write_manifest(d, [dataclasses.replace(
        e, t_min_ns=int((tb - shift).min()), t_max_ns=int((ta - shift).max()),
        bytes=(d / e.part).stat().st_size, sha256=sha256_file(d / e.part))])


def split_parts(tape: Path, n: int) -> None:
    """Split the one sealed part of a recording into ``n`` parts, as rotation would.

    The sequential topology seals and fsyncs in the polling thread, which stalls
    polls for ~100 ms on a busy disk (``analyze`` rightly reports that), so the
    clean fixture is recorded without rotation or fsync and split afterwards.
    """
    d = coll_dir(tape)
    (e,) = read_manifest(d)
    t = pq.ParquetFile(d / e.part).read()
    meta = t.schema.metadata
    seq = t.column("seq").to_numpy()
    cuts = [int(np.searchsorted(seq, e.seq_min + (e.seq_max - e.seq_min + 1) * i // n))
            for i in range(n + 1)]
    (d / e.part).unlink()
    entries = []
    for i in range(n):
        part = f"part-{i + 1:06d}.parquet"
        piece = t.slice(cuts[i], cuts[i + 1] - cuts[i]).replace_schema_metadata(meta)
        pq.write_table(piece, d / part, **PARQUET_OPTIONS)
        s = piece.column("seq")
        entries.append(dataclasses.replace(
            e, part=part, rows=piece.num_rows, snapshots=len(pc.unique(s)),
            seq_min=pc.min(s).as_py(), seq_max=pc.max(s).as_py(),
            t_min_ns=pc.min(piece.column("t_before_ns")).as_py(),
            t_max_ns=pc.max(piece.column("t_after_ns")).as_py(),
            bytes=(d / part).stat().st_size, sha256=sha256_file(d / part)))
    _write_manifest(d, entries)


def problem_kinds(result) -> set[str]:  # type: ignore[no-untyped-def]
    """The kinds of problem a report or a verify result names."""
    return {p.kind for p in result.problems}


def clean_tape(dest: Path) -> Path:
    """A copy of a real recording of 600 polls (one every 5 ms, three sealed parts) at ``dest``.

    A count of polls, not ``--duration``: on a loaded machine a slow start ate most of
    a 3 s window (50 states seen), too few for the defects the tests inject.
    """
    shutil.copytree(_recorded(), dest, ignore=shutil.ignore_patterns("_locks"))
    return dest


def coll_dir(tape: Path, collector: str = "zero") -> Path:
    return next(tape.glob(f"symbol=*/date=*/collector={collector}"))


def parts(tape: Path, collector: str = "zero") -> list[PartEntry]:
    return read_manifest(coll_dir(tape, collector))


def _write_manifest(d: Path, entries: list[PartEntry]) -> None:
    (d / MANIFEST).write_text("".join(json.dumps(dataclasses.asdict(e)) + "\n" for e in entries))


def rewrite_part(tape: Path, part: str, fn, collector: str = "zero") -> None:  # type: ignore[no-untyped-def]
    """Replace a part by ``fn(table)`` and make its manifest line agree with the new file."""
    d = coll_dir(tape, collector)
    path = d / part
    t = pq.ParquetFile(path).read()
    t = fn(t).replace_schema_metadata(t.schema.metadata)
    pq.write_table(t, path, **PARQUET_OPTIONS)
    seq = t.column("seq")
    entries = []
    for e in read_manifest(d):
        if e.part == part:
            e = dataclasses.replace(
                e, rows=t.num_rows, snapshots=len(pc.unique(seq)),
                seq_min=pc.min(seq).as_py(), seq_max=pc.max(seq).as_py(),
                t_min_ns=pc.min(t.column("t_before_ns")).as_py(),
                t_max_ns=pc.max(t.column("t_after_ns")).as_py(),
                bytes=path.stat().st_size, sha256=sha256_file(path))
        entries.append(e)
    _write_manifest(d, entries)


def part_with(tape: Path, seq: int, collector: str = "zero") -> str:
    return next(e.part for e in parts(tape, collector) if e.seq_min <= seq <= e.seq_max)


def middle_seq(tape: Path) -> int:
    """A seq inside the second part, away from its edges."""
    e = parts(tape)[1]
    return (e.seq_min + e.seq_max) // 2


def remove_seq(tape: Path, seq: int) -> None:
    rewrite_part(tape, part_with(tape, seq),
                 lambda t: t.filter(pc.not_equal(t.column("seq"), pa.scalar(seq, pa.uint64()))))


def duplicate_part(tape: Path, part: str) -> str:
    """Copy a sealed part under the next free number and list it in the manifest too."""
    d = coll_dir(tape)
    entries = read_manifest(d)
    n = max(int(e.part[5:11]) for e in entries) + 1
    new = f"part-{n:06d}.parquet"
    shutil.copy(d / part, d / new)
    src = next(e for e in entries if e.part == part)
    _write_manifest(d, [*entries, dataclasses.replace(src, part=new)])
    return new


def swap_rows(tape: Path, seq: int) -> None:
    """Store snapshot ``seq + 1`` before snapshot ``seq`` inside their part."""
    def fn(t: pa.Table) -> pa.Table:
        s = t.column("seq").to_numpy()
        a, b = np.flatnonzero(s == seq), np.flatnonzero(s == seq + 1)
        order = np.arange(t.num_rows)
        block = np.concatenate([b, a])
        order[a.min(): b.max() + 1] = block
        return t.take(pa.array(order))

    rewrite_part(tape, part_with(tape, seq), fn)


def stall(tape: Path, seq: int, ns: int) -> None:
    """Every state from ``seq`` on happens ``ns`` later (the recorder froze before it)."""
    for e in parts(tape):
        if e.seq_max < seq:
            continue

        def fn(t: pa.Table) -> pa.Table:
            late = pc.greater_equal(t.column("seq"), pa.scalar(seq, pa.uint64()))
            for c in ("t_before_ns", "t_after_ns"):
                i = t.schema.get_field_index(c)
                v = pc.if_else(late, pc.add(t.column(c), ns), t.column(c))
                t = t.set_column(i, c, v)
            return t

        rewrite_part(tape, e.part, fn)


def corrupt_byte(tape: Path, part: str) -> Path:
    """Flip one byte inside page data (which a page CRC covers), never in a page header.

    The middle byte of the file can land in a page header's statistics, which no
    checksum covers and no read uses: a flip there is harmless and undetectable by
    design. The last byte of the largest column chunk is the last page's data.
    """
    p = coll_dir(tape) / part
    rg = pq.ParquetFile(p).metadata.row_group(0)
    cols = [rg.column(i) for i in range(rg.num_columns)]
    c = max(cols, key=lambda c: c.total_compressed_size)
    start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
    b = bytearray(p.read_bytes())
    b[start + c.total_compressed_size - 2] ^= 0xFF
    p.write_bytes(bytes(b))
    return p


def missed_burst(tape: Path, states: int = 40) -> tuple[int, int]:
    """Make collector ``one``: a copy of ``zero`` that missed ``states`` states in a row.

    ``one``'s seq stays continuous (it never saw the burst); returns zero's seq range missed.
    """
    src = coll_dir(tape)
    dst = src.parent / "collector=one"
    shutil.copytree(src, dst)
    e = parts(tape, "one")[1]
    k = e.seq_min + 5
    lo, hi = k, k + states - 1

    def fn(t: pa.Table) -> pa.Table:
        s = t.column("seq").to_numpy()
        keep = (s < lo) | (s > hi)
        t = t.filter(pa.array(keep))
        s = t.column("seq").to_numpy()
        s = np.where(s > hi, s - states, s).astype(np.uint64)
        return t.set_column(0, "seq", pa.array(s))

    rewrite_part(tape, e.part, fn, "one")
    for later in parts(tape, "one")[2:]:
        rewrite_part(tape, later.part, lambda t: t.set_column(
            0, "seq", pc.subtract(t.column("seq"), pa.scalar(states, pa.uint64()))), "one")
    return lo, hi
