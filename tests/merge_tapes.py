"""Tapes for the merge tests: two collectors recorded side by side by two real
processes polling one shared simulated market, and surgery on a copy of them
(drop a burst of states, corrupt a volume, shift a clock)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from booktape.schema import metadata_of
from booktape.tape.layout import MANIFEST, partition_dirs
from booktape.tape.manifest import read_manifest
from booktape.tape.seal import seal_table

# A calm market (20 changes/s, bursts 8x) so some books live long enough that a
# corrupted one outlasts the poll jitter of two recorders sharing two cores.
SIM = {"rate": 20.0, "seed": 5}
_RECORD = (
    "import booktape, sys; booktape.record(sys.argv[1], 'RIU2', collector=sys.argv[2], "
    "duration='4s', interval='2ms', source_options=dict(anchor_ns=int(sys.argv[3]), "
    "rate=float(sys.argv[4]), seed=int(sys.argv[5])))"
)
_cache: dict[str, Path] = {}


def _states(tape: Path, collector: str) -> int:
    return sum(e.snapshots for d in partition_dirs(tape, "RIU2", collector)
               for e in read_manifest(d))


def record_pair(base: Path) -> Path:
    """``zero`` and ``one`` recording the same market at once, in two processes (cached).

    On a machine loaded by other work a recorder can start seconds late; such a
    take (too few states in common) is recorded again, once.
    """
    if "pair" not in _cache:
        for attempt in range(2):
            tape = base / f"pair{attempt}"
            anchor = time.time_ns()
            procs = [subprocess.Popen([sys.executable, "-c", _RECORD, str(tape), c, str(anchor),
                                       str(SIM["rate"]), str(SIM["seed"])],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for c in ("zero", "one")]
            for p in procs:
                _, err = p.communicate(timeout=60)
                assert p.returncode == 0, err.decode()
            if min(_states(tape, "zero"), _states(tape, "one")) >= 30:
                break
        _cache["pair"] = tape
    return _cache["pair"]


def rewrite(src: Path, dst: Path, collector: str, fn: Callable[[pa.Table], pa.Table]) -> Path:
    """Copy tape ``src`` to ``dst`` with ``collector``'s rows replaced by ``fn(rows)``,
    re-sealed as a proper part (manifest, checksum, metadata)."""
    shutil.copytree(src, dst)
    for d in partition_dirs(dst, None, collector):
        entries = read_manifest(d)
        tables = [pq.ParquetFile(d / e.part).read() for e in entries]
        meta = metadata_of(tables[0].schema)
        for e in entries:
            (d / e.part).unlink()
        (d / MANIFEST).unlink()
        t = fn(pa.concat_tables(tables)).cast(tables[0].schema)
        seal_table(t, d, 1, meta, time.time_ns())
    return dst


def drop_seqs(lo: int, hi: int) -> Callable[[pa.Table], pa.Table]:
    """Remove states ``lo..hi`` (inclusive): a burst the collector missed."""
    def fn(t: pa.Table) -> pa.Table:
        s = t.column("seq")
        return t.filter(pc.or_(pc.less(s, lo), pc.greater(s, hi)))
    return fn


def set_volume(seq: int, level: int, volume: int) -> Callable[[pa.Table], pa.Table]:
    """Change one level's volume in one state: a corrupted book."""
    def fn(t: pa.Table) -> pa.Table:
        hit = pc.and_(pc.equal(t.column("seq"), seq), pc.equal(t.column("level"), level))
        v = pc.if_else(hit, pa.scalar(volume, pa.int64()), t.column("volume"))
        return t.set_column(t.schema.get_field_index("volume"), "volume", v)
    return fn


def shift_clock(ns: int) -> Callable[[pa.Table], pa.Table]:
    """Add ``ns`` to every timestamp: a collector on a machine whose clock is off."""
    def fn(t: pa.Table) -> pa.Table:
        for c in ("t_before_ns", "t_after_ns"):
            t = t.set_column(t.schema.get_field_index(c), c,
                             pc.add(t.column(c), pa.scalar(ns, pa.int64())))
        return t
    return fn
