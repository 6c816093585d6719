"""One measured run in a fresh process: ``python -m booktape.bench._child SPEC.json``.

The parent (:mod:`booktape.bench.run`) writes the spec, starts this module and
measures the process from outside (CPU, peak RSS); this side only records and
writes ``result.json``. Spawn-safe: everything runs under the ``__main__``
guard, so helper processes started with ``spawn`` re-import nothing here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    out, diag = Path(spec["out"]), Path(spec["diag"])
    diag.mkdir(parents=True, exist_ok=True)
    polls = spec.get("polls")
    if spec["topology"] == "notebook":
        from ..clock import SystemClock
        from ..sources import SourceSpec, make_source
        from .notebook import run_notebook

        src = make_source(SourceSpec(spec["source"], spec["source_options"]))
        src.open((spec["symbol"],))
        try:
            clock = SystemClock()
            dur = spec.get("duration_ns")
            deadline = time.perf_counter_ns() + dur if dur else None
            r = run_notebook(src.getter(spec["symbol"]), out, spec["threshold"],
                             deadline_ns=deadline, max_polls=polls, diag=diag,
                             offset_ns=clock.offset_ns)
        finally:
            src.close()
        return {"polls": r.polls, "expected": r.polls, "stored": r.polls, "dumps": r.dumps,
                "events": {"seal": r.dumps}}
    from ..record import record

    dur = spec.get("duration_ns")
    s = record(out, spec["symbol"], source=spec["source"], source_options=spec["source_options"],
               duration=f"{dur}ns" if dur else None, polls=polls, topology=spec["topology"],
               rotate_bytes=spec["threshold"], diag_dir=str(diag),
               collector=spec.get("collector", "zero"))
    sym = s.symbols[0] if s.symbols else None
    return {"polls": s.polls, "stored": s.stored, "expected": sym.expected if sym else 0,
            "seq_first": sym.seq_first if sym else 0, "session": s.session,
            "summary_lost": s.lost, "events": s.events, "parts": s.parts_sealed}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    res = run_spec(spec)
    Path(spec["result"]).write_text(json.dumps(res), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
