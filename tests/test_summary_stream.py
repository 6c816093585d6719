"""The capture summary streams the tape: same answers as reading it whole, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import booktape
from booktape.read.summary import percentiles, summarize


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("sum") / "data"
    s = booktape.record(out, ["RIU2", "SiZ2"], duration="3s", rotate_every="500ms",
                        topology="sequential", source_options={"rate": 3000})
    return out, s


def test_summary_matches_the_whole_tape_read_at_once(recorded):
    out, s = recorded
    assert s.parts_sealed >= 6  # several parts per symbol: the stream crosses files
    for y in s.symbols:
        t = booktape.read_arrow(out, y.symbol, "zero", snapshots_only=True,
                                columns=["seq", "t_before_ns", "t_after_ns"])
        seq = t.column("seq").to_numpy().astype(np.int64)
        tb = t.column("t_before_ns").to_numpy()
        ta = t.column("t_after_ns").to_numpy()
        assert y.snapshots == len(np.unique(seq)) == y.expected and y.missing == 0
        assert y.rows == booktape.read_arrow(out, y.symbol, "zero", columns=["seq"]).num_rows
        dur = (ta - tb).astype(np.float64)
        gap = np.diff(tb + (ta - tb) // 2).astype(np.float64)
        for got, x in ((y.poll_duration_ns, dur), (y.state_gap_ns, gap)):
            want = percentiles(x)
            assert got["count"] == want["count"]
            assert got["max"] == want["max"] and got["min"] == want["min"]
            assert got["mean"] == pytest.approx(want["mean"], rel=1e-9)
            for p in (50, 90, 99):
                # The summary keeps one (seq, t_before, t_after, blind) per state, not
                # the level rows: its percentiles are the exact ones.
                assert got[f"p{p}"] == pytest.approx(want[f"p{p}"], rel=1e-9), p


def test_summary_memory_does_not_grow_with_the_tape(recorded):
    """Peak Arrow memory while summarising stays far below the tape's decoded size."""
    out, s = recorded
    code = (
        "import json, sys, pyarrow as pa; from booktape.read.summary import summarize; "
        f"summarize(__import__('pathlib').Path({str(out)!r}), 'zero', {s.session!r}); "
        "print(pa.default_memory_pool().max_memory())")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak = int(p.stdout.split()[-1])
    decoded = sum(booktape.read_arrow(out, y.symbol, "zero").nbytes for y in s.symbols)
    assert peak < decoded / 3, (peak, decoded)
    assert json.dumps(summarize(out, "zero", s.session).as_dict(), default=str)


def test_summary_reads_an_open_journal_too(tmp_path):
    """A session summarised while a journal is still open (e.g. read back after a crash)."""
    import shutil

    out = tmp_path / "data"
    s = booktape.record(out, "RIU2", duration="1s", topology="sequential")
    # Turn the sealed part back into a journal-only tape: the same rows, unsealed.
    d = next(out.glob("symbol=RIU2/date=*/collector=zero"))
    import pyarrow as pa

    from booktape.schema import BOOK_SCHEMA

    # The stored columns only (readers add derived ones: side, depth, UTC times).
    t = booktape.read_arrow(out, "RIU2", "zero", columns=BOOK_SCHEMA.names).select(
        BOOK_SCHEMA.names).cast(BOOK_SCHEMA)

    with pa.OSFile(str(d / "_part-000009.arrows"), "wb") as f, pa.ipc.new_stream(f, t.schema) as w:
        w.write_table(t)
    shutil.move(str(d / "_manifest.jsonl"), str(tmp_path / "manifest.bak"))
    for p in d.glob("part-*.parquet"):
        p.unlink()
    got = summarize(out, "zero", s.session)
    assert got.symbols[0].snapshots == s.symbols[0].snapshots and got.ok
