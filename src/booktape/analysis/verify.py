"""``booktape verify``: every part against its manifest, and seq continuity across parts.

Per sealed part: the file exists, its SHA-256, row count and schema match the
manifest line, its snapshots' seq run +1 without a hole or a repeat, and their
count, seq range and time range are the manifest's. Per collector: parts follow
each other in seq with no gap or overlap, journals continue them. Journals are checked batch by batch against their
checksums. Also named: journals left unsealed (torn or not), quarantined
journals (damaged batches set aside by ``recover``), parts on disk that no
manifest lists, leftover ``*.tmp`` files and damaged manifest lines. Every
problem names its file. ``repair=True`` first rebuilds damaged manifests
from the parts (:mod:`booktape.tape.repair`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ..errors import TapeNotFound
from ..read.filters import check_filters
from ..schema import BOOK_SCHEMA, LEGACY_BOOK_SCHEMA, MERGED_SCHEMA
from ..tape.foreign import describe as describe_unlisted
from ..tape.layout import JOURNAL_RE, PART_RE, QUARANTINE_RE
from ..tape.repair import Repair, repair_manifests
from ..tape.tape import Tape
from ._scan import Stream, scan_tape
from .report import Problem, scan_and_hash

# A recorded part, one recorded before blind_ns existed, or a merged part (its provenance
# columns seen_by/first_by/src_seq follow the book's): each is a schema booktape writes.
_KNOWN_SCHEMAS = [[(x.name, x.type) for x in sch]
                  for sch in (BOOK_SCHEMA, LEGACY_BOOK_SCHEMA, MERGED_SCHEMA)]


@dataclass
class VerifyResult:
    """What ``verify`` checked and every problem it found (``ok`` when none)."""

    data: str
    parts: int = 0
    journals: int = 0
    rows: int = 0
    snapshots: int = 0
    problems: list[Problem] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)  # what ``repair=True`` did

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def verify(data: str | Path | Tape, symbol: str | None = None,
           collector: str | None = None, *, repair: bool = False) -> VerifyResult:
    """Check the integrity of tape ``data`` (see the module docstring).

    Args:
        repair: first rebuild manifests with damaged lines or missing parts from
            the parts themselves (each part checked against its own metadata).

    Raises:
        TapeNotFound: ``data`` is not a tape directory or holds no parts or journals.
    """
    tape = Tape.of(data)
    root = tape.root
    check_filters(root, symbol, collector)
    repairs: list[Repair] = []
    if repair:
        repairs = repair_manifests(tape, time.time_ns(), symbol, collector)
    files = tape.files(symbol, collector)
    dirs = tape.partitions(symbol, collector)
    if not files and not dirs:
        raise TapeNotFound(f"no tape at {root}: no sealed parts or journals found")
    res = VerifyResult(str(root), repairs=[r.describe() for r in repairs])
    sealed = [f for f in files if f.sealed and f.listed and f.path.exists()]
    streams, digests = scan_and_hash(sealed, lambda: scan_tape(tape, symbol, collector))
    for d in dirs:
        _check_dir(tape, d, res)
    entries = {str(f.path): f for f in files}
    for s in streams:
        _check_stream(s, entries, digests, res)
    return res


def _problem(res: VerifyResult, kind: str, sym: str, col: str, msg: str, file: str) -> None:
    res.problems.append(Problem(kind, "error", sym, col, msg, file))


def _check_dir(tape: Tape, d: Path, res: VerifyResult) -> None:
    keys = dict(p.name.split("=", 1) for p in (d.parent.parent, d.parent, d) if "=" in p.name)
    sym, col = keys.get("symbol", ""), keys.get("collector", "")
    m = tape.manifest(d)
    for pr in m.problems:
        _problem(res, "manifest", sym, col, f"{pr} (`booktape verify --repair` rebuilds it "
                 "from the parts)", str(pr.file))
    listed = m.listed
    live = tape.busy(col)
    names = sorted(p.name for p in d.iterdir())
    for n in names:
        p = d / n
        if PART_RE.match(n) and n not in listed:
            # Only a booktape part is recoverable or repairable; a foreign file is named
            # for what it is (issue 14).
            _problem(res, "orphan", sym, col, describe_unlisted(p).what, str(p))
        elif n.endswith(".tmp"):
            _problem(res, "tmp", sym, col, f"{n} is a leftover temporary file of an "
                     "interrupted seal", str(p))
        elif JOURNAL_RE.match(n) and not live:
            _problem(res, "open-journal", sym, col, f"{n} is a journal left unsealed "
                     "(run `booktape recover`)", str(p))
        elif QUARANTINE_RE.match(n):
            _problem(res, "quarantined", sym, col, f"{n}: {_quarantine_summary(p)}", str(p))


def _quarantine_summary(q: Path) -> str:
    try:
        doc = json.loads(q.with_name(q.name + ".json").read_text(encoding="utf-8"))
        bad = [f"batch {b['batch']} (seq {b['seq'] or '?'}): {b['reason']}"
               for b in doc.get("bad_batches", [])]
        if doc.get("schema_damaged"):
            bad.insert(0, f"schema {doc['schema_damaged']}")
        what = "; ".join(bad)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        what = "its report is missing or unreadable"
    return (f"a journal with damaged batches, set aside by `recover` after its good batches "
            f"were sealed — {what}")


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
            if info.damaged:
                _problem(res, "journal-batch", sym, col, f"{name} is damaged: {info.damaged} "
                         "(`booktape recover` seals the good batches and sets it aside)",
                         info.path)
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
            if f is not None and f.problem:
                continue  # an unlisted file that cannot be read: its "orphan" line says what it is
            if got is not None and got != e.sha256 and f is not None and f.listed:
                _problem(res, "checksum", sym, col, f"checksum mismatch in {name}: sha256 "
                         f"{got[:12]}… but the manifest says {e.sha256[:12]}…", info.path)
            try:
                meta = pq.ParquetFile(info.path).metadata
                schema = meta.schema.to_arrow_schema()
                if meta.num_rows != e.rows:
                    _problem(res, "rows", sym, col, f"{name} holds {meta.num_rows:,} rows, the "
                             f"manifest says {e.rows:,}", info.path)
                names = [(x.name, x.type) for x in schema]
                if names not in _KNOWN_SCHEMAS:
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
