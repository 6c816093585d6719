"""What ``booktape ls`` shows: every part and open journal, from manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from ..errors import TapeNotFound
from ..events import read_events
from ..tape.journal import read_journal
from ..tape.layout import SERVER_TIME_DIR, TICKS_DIR
from .filters import check_filters
from .reader import tape_files


def list_tape(data: str | Path, symbol: str | None = None,
              collector: str | None = None) -> list[dict[str, Any]]:
    """One dict per sealed part (from its manifest line) or open journal (read now)."""
    check_filters(data, symbol, collector)
    files = [("book", f) for f in tape_files(data, symbol, collector)]
    if not files and not tape_files(data):
        raise TapeNotFound(f"no tape at {data}: no sealed parts or journals found")
    # The --ticks side streams are tapes of their own under the book tape (issue 14:
    # `ls` did not show them).
    for sub in (TICKS_DIR, SERVER_TIME_DIR):
        if (Path(data) / sub).is_dir():
            files += [(sub.strip("_"), f) for f in tape_files(Path(data) / sub, symbol, collector)]
    rows = []
    for stream, f in files:
        r: dict[str, Any] = {"stream": stream, "symbol": f.symbol, "date": f.date,
                             "collector": f.collector, "part": f.path.name, "sealed": f.sealed,
                             "path": str(f.path)}
        if f.entry is not None:
            e = f.entry
            r.update(rows=e.rows, snapshots=e.snapshots, seq_min=e.seq_min, seq_max=e.seq_max,
                     t_min_ns=e.t_min_ns, t_max_ns=e.t_max_ns, bytes=e.bytes)
        else:
            t, torn = read_journal(f.path)
            n = t.num_rows
            lo, hi = ("time_ns", "time_ns") if "time_ns" in t.column_names else (
                "t_before_ns", "t_after_ns")
            r.update(rows=n, snapshots=len(pc.unique(t.column("seq"))) if n else 0,
                     seq_min=pc.min(t.column("seq")).as_py() if n else None,
                     seq_max=pc.max(t.column("seq")).as_py() if n else None,
                     t_min_ns=pc.min(t.column(lo)).as_py() if n else None,
                     t_max_ns=pc.max(t.column(hi)).as_py() if n else None,
                     bytes=f.path.stat().st_size, torn_tail=torn)
        rows.append(r)
    return rows


def event_counts(data: str | Path, collector: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in read_events(Path(data), collector):
        out[e["kind"]] = out.get(e["kind"], 0) + 1
    return out
