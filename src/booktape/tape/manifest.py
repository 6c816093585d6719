"""The manifest: one JSON line per sealed part, in the part's own directory.

A part exists for readers once its line is here; the line carries what ``ls``,
``verify`` and ``merge`` need (rows, seq and time ranges, checksum) so they
never scan row data to answer.

Every line is checked against :class:`PartEntry`'s fields and types: a damaged
line is a :class:`ManifestProblem` naming the file and line, never an exception
(issue 11), and the parts it no longer lists are still found on disk.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._fs import append_line_durably
from .layout import MANIFEST, PART_RE

if TYPE_CHECKING:
    import threading

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PartEntry:
    """What the manifest knows of one sealed part."""

    part: str
    rows: int
    snapshots: int
    seq_min: int
    seq_max: int
    t_min_ns: int
    t_max_ns: int
    bytes: int
    sha256: str
    sealed_at_ns: int
    session: str = ""
    torn_tail: bool = False
    duplicates_dropped: int = 0
    schema_version: str = "1"


@dataclass(frozen=True)
class ManifestProblem:
    """One line (or the whole file) of a manifest that cannot be trusted."""

    file: Path
    line: int  # 1-based; 0 for the file as a whole
    message: str
    torn_tail: bool = False  # the last line cut short by a crash while sealing: benign

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else str(self.file)
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Manifest:
    """The valid entries of one partition's manifest and what was wrong with the rest."""

    dir: Path
    entries: list[PartEntry] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)

    @property
    def listed(self) -> set[str]:
        return {e.part for e in self.entries}


# Hand-written rather than jsonschema: the dataclass *is* the schema, and these
# ten lines keep a dependency out of the tape's lowest layer.
_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool}
_FIELDS = [(f.name, _TYPES[str(f.type)], f.default is MISSING) for f in fields(PartEntry)]


def entry_from_dict(d: Any) -> PartEntry:
    """A :class:`PartEntry` from one decoded line; ``ValueError`` names what is wrong."""
    if not isinstance(d, dict):
        raise ValueError(f"is {type(d).__name__} {str(d)[:40]!r}, not a JSON object")
    kw: dict[str, Any] = {}
    for name, typ, required in _FIELDS:
        if name not in d:
            if required:
                raise ValueError(f"has no {name!r}")
            continue
        v = d[name]
        # bool is an int in Python; a count of True is not a count.
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise ValueError(f"has {name}={str(v)[:40]!r}, expected {typ.__name__}")
        if isinstance(v, int) and v < 0:
            raise ValueError(f"has {name}={v}, expected >= 0")
        kw[name] = v
    e = PartEntry(**kw)
    if not PART_RE.match(e.part):
        raise ValueError(f"has part={e.part[:60]!r}, not a part-NNNNNN.parquet name")
    if not _HEX64.match(e.sha256):
        raise ValueError(f"has sha256={e.sha256[:70]!r}, not 64 hex digits")
    if e.seq_min > e.seq_max or e.t_min_ns > e.t_max_ns:
        raise ValueError("has a range whose minimum is above its maximum")
    return e


def load_manifest(dir_: Path) -> Manifest:
    """Every line of one partition's manifest, checked; never raises on damage."""
    p = dir_ / MANIFEST
    m = Manifest(dir_)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return m
    except OSError as e:  # a directory in its place, no permission...
        m.problems.append(ManifestProblem(p, 0, f"cannot be read ({e.strerror or e})"))
        return m
    lines = raw.split(b"\n")
    last = len(lines) - 1 if lines[-1] else len(lines) - 2  # index of the last non-empty
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entry = entry_from_dict(json.loads(line.decode("utf-8")))
            if entry.part in seen:
                raise ValueError(f"lists {entry.part} a second time")
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as ex:
            # Only a last line without its newline is a seal cut short by a crash.
            torn = i == last and not raw.endswith(b"\n") and not isinstance(ex, UnicodeDecodeError)
            msg = "is a torn last line (a crash while sealing)" if torn else \
                f"is damaged: {ex}" if not isinstance(ex, UnicodeDecodeError) else \
                "is damaged: not UTF-8 text"
            m.problems.append(ManifestProblem(p, i + 1, msg, torn_tail=torn))
            continue
        seen.add(entry.part)
        m.entries.append(entry)
    return m


def read_manifest(dir_: Path) -> list[PartEntry]:
    """The valid entries of one partition directory (see :func:`load_manifest` for the rest)."""
    return load_manifest(dir_).entries


def entry_line(entry: PartEntry) -> str:
    return json.dumps(asdict(entry), separators=(",", ":"))


def add_entry(dir_: Path, entry: PartEntry) -> None:
    p = dir_ / MANIFEST
    # A torn last line (crash mid-append) must not swallow the next entry.
    if p.is_file() and p.stat().st_size:
        with open(p, "rb") as f:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                append_line_durably(p, "")
    append_line_durably(p, entry_line(entry))


def sha256_file(path: Path, stop: threading.Event | None = None) -> str:
    """The file's sha256 (hex). ``stop`` set ends it early: the digest is then of a prefix,
    for a caller that is giving up (Ctrl-C while a multi-GB part is hashed, issue 14)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if stop is not None and stop.is_set():
                break
            h.update(block)
    return h.hexdigest()


def last_seq(root: Path, symbol: str, collector: str) -> int:
    """The highest sealed seq of a symbol's collector, or -1 if none.

    Parts a damaged manifest no longer lists count too (:meth:`Tape.last_seq`):
    a seq is never handed out twice.
    """
    from .tape import Tape

    return Tape(root).last_seq(symbol, collector)
