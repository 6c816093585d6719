"""What ``booktape ls`` shows: every part and open journal, from manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from ..errors import TapeNotFound
from ..events import read_events
from ..tape.journal import scan_journal
from ..tape.tape import Tape
from .reader import warn_problems


def list_tape(data: str | Path | Tape, symbol: str | None = None,
              collector: str | None = None) -> list[dict[str, Any]]:
    """One dict per sealed part (from its manifest line) or open journal (read now).

    A part no manifest lists is shown from its own metadata (``listed: False``),
    a journal with damaged batches with what its good batches hold and a
    ``damaged`` note; damaged manifest lines are logged as warnings.
    """
    tape = Tape.of(data)
    files = tape.files(symbol, collector)
    if not files and not tape.files():
        raise TapeNotFound(f"no tape at {data}: no sealed parts or journals found")
    warn_problems(tape, symbol, collector, strict=False)
    rows = []
    for f in files:
        r: dict[str, Any] = {"symbol": f.symbol, "date": f.date, "collector": f.collector,
                             "part": f.path.name, "sealed": f.sealed, "path": str(f.path)}
        if not f.listed:
            r["listed"] = False
        if f.problem:
            r["damaged"] = f.problem
        if f.entry is not None:
            e = f.entry
            r.update(rows=e.rows, snapshots=e.snapshots, seq_min=e.seq_min, seq_max=e.seq_max,
                     t_min_ns=e.t_min_ns, t_max_ns=e.t_max_ns, bytes=e.bytes)
        else:
            scan = scan_journal(f.path)
            t, torn = scan.table, scan.torn
            if scan.damaged:
                r["damaged"] = scan.describe()
            n = t.num_rows
            r.update(rows=n, snapshots=len(pc.unique(t.column("seq"))) if n else 0,
                     seq_min=pc.min(t.column("seq")).as_py() if n else None,
                     seq_max=pc.max(t.column("seq")).as_py() if n else None,
                     t_min_ns=pc.min(t.column("t_before_ns")).as_py() if n else None,
                     t_max_ns=pc.max(t.column("t_after_ns")).as_py() if n else None,
                     bytes=f.path.stat().st_size, torn_tail=torn)
        rows.append(r)
    return rows


def event_counts(data: str | Path | Tape, collector: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in read_events(Tape.of(data).root, collector):
        out[e["kind"]] = out.get(e["kind"], 0) + 1
    return out
