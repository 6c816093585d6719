"""Every path of the tape layout, computed by pure functions.

``DATA/symbol=S/date=YYYY-MM-DD/collector=C/part-NNNNNN.parquet`` — sealed parts
``DATA/symbol=S/date=D/collector=C/_part-NNNNNN.arrows`` — the open journal
``DATA/symbol=S/date=D/collector=C/_manifest.jsonl`` — one line per sealed part
``DATA/_events/collector=C/events-<session>.jsonl`` — event rows
``DATA/_locks/collector=C.lock`` — held by the live recorder of a collector
``.../collector=C/_part-NNNNNN.arrows.quarantined`` (+ ``.json`` report) — a damaged journal

Names starting with ``_`` are skipped by pyarrow, Spark and Polars dataset
discovery, so the dataset of parts reads in place with no booktape code.
The date is the UTC date of the segment's first snapshot; writers rotate at
UTC midnight so a part never spans two dates.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from ..errors import BadArgument

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-+]{0,63}$")
PART_RE = re.compile(r"^part-(\d{6,})\.parquet$")
JOURNAL_RE = re.compile(r"^_part-(\d{6,})\.arrows$")
#: A journal with damaged batches, kept aside once its good ones were sealed (issue 11).
QUARANTINE_RE = re.compile(r"^_part-(\d{6,})\.arrows\.quarantined$")
MANIFEST = "_manifest.jsonl"


def check_name(kind: str, value: str) -> str:
    """A symbol or collector name that is safe as one path component."""
    if not value or not _NAME_RE.match(value) or value in (".", ".."):
        raise BadArgument(
            f"invalid {kind} {value!r}: use 1-64 letters, digits, '.', '_', '-', '+', "
            "starting with a letter or digit"
        )
    return value


def utc_date(t_ns: int) -> str:
    return dt.datetime.fromtimestamp(t_ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d")


def next_midnight_ns(t_ns: int) -> int:
    d = dt.datetime.fromtimestamp(t_ns / 1e9, tz=dt.UTC).date()
    nxt = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int(nxt.timestamp()) * 1_000_000_000


def partition_dir(root: Path, symbol: str, date: str, collector: str) -> Path:
    return root / f"symbol={symbol}" / f"date={date}" / f"collector={collector}"


def part_name(number: int) -> str:
    return f"part-{number:06d}.parquet"


def journal_name(number: int) -> str:
    return f"_part-{number:06d}.arrows"


def quarantine_name(journal: str) -> str:
    return journal + ".quarantined"


def part_number(name: str) -> int | None:
    m = PART_RE.match(name) or JOURNAL_RE.match(name) or QUARANTINE_RE.match(name)
    return int(m.group(1)) if m else None


def parse_partition(dir_: Path) -> dict[str, str]:
    """``.../symbol=S/date=D/collector=C`` → ``{"symbol": S, "date": D, "collector": C}``."""
    out = {}
    for p in (dir_, dir_.parent, dir_.parent.parent):
        k, sep, v = p.name.partition("=")
        if sep:
            out[k] = v
    return out


def partition_dirs(root: Path, symbol: str | None = None,
                   collector: str | None = None) -> list[Path]:
    """All ``collector=`` directories under a tape, optionally filtered."""
    pat = f"symbol={symbol or '*'}/date=*/collector={collector or '*'}"
    return sorted(p for p in root.glob(pat) if p.is_dir())


#: Side streams recorded with ``--ticks``, each a tape of its own under the book tape.
TICKS_DIR = "_ticks"
SERVER_TIME_DIR = "_server_time"


def events_path(root: Path, collector: str, session: str) -> Path:
    return root / "_events" / f"collector={collector}" / f"events-{session}.jsonl"


def lock_path(root: Path, collector: str) -> Path:
    return root / "_locks" / f"collector={collector}.lock"
