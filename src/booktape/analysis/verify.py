"""``booktape verify``: every part against its manifest, and seq continuity across parts.

Per sealed part: the file exists, its SHA-256, row count and schema match the
manifest line, its snapshots' seq run +1 without a hole or a repeat, and their
count, seq range and time range are the manifest's. Per collector: parts follow
each other in seq with no gap or overlap, journals continue them. Also named:
journals left unsealed (torn or not), parts on disk that no manifest lists,
leftover ``*.tmp`` files and unreadable manifest lines. Every problem names its file.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ..errors import TapeNotFound
from ..read.reader import tape_files
from ..schema import BOOK_SCHEMA, LEGACY_BOOK_SCHEMA
from ..tape.layout import MANIFEST, PART_RE, lock_path, partition_dirs
from ..tape.lock import CollectorLock
from ._scan import Stream, scan_tape
from .report import Problem, _hash_parts


@dataclass
class VerifyResult:
    """What ``verify`` checked and every problem it found (``ok`` when none)."""

    data: str
    parts: int = 0
    journals: int = 0
    rows: int = 0
    snapshots: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def verify(data: str | Path, symbol: str | None = None,
           collector: str | None = None) -> VerifyResult:
    """Check the integrity of tape ``data`` (see the module docstring).

    Raises:
        TapeNotFound: ``data`` is not a tape directory or holds no parts or journals.
    """
    root = Path(data)
    files = tape_files(root, symbol, collector)
    dirs = partition_dirs(root, symbol, collector)
    if not files and not dirs:
        raise TapeNotFound(f"no tape at {root}: no sealed parts or journals found")
    res = VerifyResult(str(root))
    sealed = [f for f in files if f.sealed and f.path.exists()]
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(_hash_parts, sealed)
        streams = scan_tape(root, symbol, collector)
        digests = fut.result()
    for d in dirs:
        _check_dir(d, res)
    entries = {str(f.path): f for f in files}
    for s in streams:
        _check_stream(s, entries, digests, res)
    return res


def _problem(res: VerifyResult, kind: str, sym: str, col: str, msg: str, file: str) -> None:
    res.problems.append(Problem(kind, "error", sym, col, msg, file))


def _check_dir(d: Path, res: VerifyResult) -> None:
    keys = dict(p.name.split("=", 1) for p in (d.parent.parent, d.parent, d) if "=" in p.name)
    sym, col = keys.get("symbol", ""), keys.get("collector", "")
    listed: set[str] = set()
    mf = d / MANIFEST
    if mf.exists():
        lines = mf.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            try:
                listed.add(json.loads(line)["part"])
            except (json.JSONDecodeError, KeyError, TypeError):
                what = "a torn last line (a crash while sealing)" if i == len(lines) - 1 \
                    else "an unreadable line"
                _problem(res, "manifest", sym, col, f"{mf} line {i + 1} is {what}", str(mf))
    live = CollectorLock(lock_path(d.parent.parent.parent, col)).is_held_elsewhere()
    for p in sorted(d.iterdir()):
        if PART_RE.match(p.name) and p.name not in listed:
            _problem(res, "orphan", sym, col, f"{p.name} is on disk but not in the manifest "
                     "(a seal interrupted before its manifest line: run `booktape recover`)",
                     str(p))
        elif p.name.endswith(".tmp"):
            _problem(res, "tmp", sym, col, f"{p.name} is a leftover temporary file of an "
                     "interrupted seal", str(p))
        elif p.name.startswith("_part-") and p.name.endswith(".arrows") and not live:
            _problem(res, "open-journal", sym, col, f"{p.name} is a journal left unsealed "
                     "(run `booktape recover`)", str(p))


def _check_stream(s: Stream, entries: dict[str, Any], digests: dict[str, str],
                  res: VerifyResult) -> None:
    sym, col = s.symbol, s.collector
    bounds: Any = np.flatnonzero(np.r_[True, s.file_idx[1:] != s.file_idx[:-1]]) if s.size else []
    slices = {int(s.file_idx[a]): (int(a), int(b)) for a, b in
              zip(bounds, list(bounds[1:]) + [s.size])}
    ranges: list[tuple[int, int, str]] = []
    for i, info in enumerate(s.files):
        f = entries.get(info.path)
        e = f.entry if f is not None else None
        name = info.name
        if info.kind == "journal":
            res.journals += 1
            if info.torn:
                _problem(res, "torn-journal", sym, col, f"{name} ends in a torn batch "
                         "(a crash; `booktape recover` keeps every complete batch)", info.path)
        else:
            res.parts += 1
        res.rows += info.rows
        if e is not None:
            if not Path(info.path).exists():
                _problem(res, "missing-file", sym, col, f"{name} is in the manifest but missing",
                         info.path)
                continue
            got = digests.get(info.path)
            if got is not None and got != e.sha256:
                _problem(res, "checksum", sym, col, f"checksum mismatch in {name}: sha256 "
                         f"{got[:12]}… but the manifest says {e.sha256[:12]}…", info.path)
            try:
                meta = pq.ParquetFile(info.path).metadata
                schema = meta.schema.to_arrow_schema()
                if meta.num_rows != e.rows:
                    _problem(res, "rows", sym, col, f"{name} holds {meta.num_rows:,} rows, the "
                             f"manifest says {e.rows:,}", info.path)
                names = [(x.name, x.type) for x in schema]
                if names not in ([(x.name, x.type) for x in BOOK_SCHEMA],
                                 [(x.name, x.type) for x in LEGACY_BOOK_SCHEMA]):
                    _problem(res, "schema", sym, col, f"{name} has schema "
                             f"{[f'{x.name}:{x.type}' for x in schema]}, expected the tape's "
                             f"{[f'{x.name}:{x.type}' for x in BOOK_SCHEMA]}", info.path)
            except Exception as ex:  # noqa: BLE001 - a damaged footer is a finding, not a crash
                _problem(res, "unreadable", sym, col, f"{name} cannot be read: {ex}", info.path)
                continue
        if info.error:
            _problem(res, "unreadable", sym, col, f"{name} cannot be read: {info.error}",
                     info.path)
            continue
        if i not in slices:
            continue
        a, b = slices[i]
        seq = s.seq[a:b]
        res.snapshots += b - a
        d = np.diff(seq)
        for kind, mask, what in (("seq-order", d < 0, "goes back"),
                                 ("seq-duplicate", d == 0, "repeats"),
                                 ("seq-gap", d > 1, "skips")):
            bad = np.flatnonzero(mask)
            if bad.size:
                j = int(bad[0])
                _problem(res, kind, sym, col, f"seq {what} {bad.size:,} time(s) inside {name}; "
                         f"first {seq[j]} → {seq[j + 1]}", info.path)
        lo, hi = int(seq.min()), int(seq.max())
        ranges.append((lo, hi, name))
        if e is not None:
            t_lo, t_hi = int(s.t_before[a:b].min()), int(s.t_after[a:b].max())
            for what, got_v, want in (("snapshots", b - a, e.snapshots),
                                      ("first seq", lo, e.seq_min), ("last seq", hi, e.seq_max),
                                      ("first time", t_lo, e.t_min_ns),
                                      ("last time", t_hi, e.t_max_ns)):
                if got_v != want:
                    _problem(res, "manifest-mismatch", sym, col, f"{name}: {what} is {got_v}, "
                             f"the manifest says {want}", info.path)
    ranges.sort()
    for (_lo0, hi0, n0), (lo1, hi1, n1) in zip(ranges, ranges[1:]):
        if lo1 > hi0 + 1:
            _problem(res, "seq-gap", sym, col, f"seq {hi0 + 1}..{lo1 - 1} missing between "
                     f"{n0} and {n1} ({lo1 - hi0 - 1:,} states)", n1)
        elif lo1 <= hi0:
            _problem(res, "seq-duplicate", sym, col, f"{n1} repeats seq {lo1}..{min(hi0, hi1)} "
                     f"of {n0}", n1)
