"""Tables never cut a number (issue 14: `1,1…` in the record summary on a 100-column
terminal, `1,039,5…` in the bench table piped)."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import booktape
from booktape.bench.rank import aggregate
from booktape.cli import _render, _render_bench
from booktape.units import human_ns


def _capture(monkeypatch: pytest.MonkeyPatch, module: object, width: int) -> io.StringIO:
    buf = io.StringIO()
    monkeypatch.setattr(module, "console", Console(file=buf, width=width, color_system=None))
    return buf


def test_record_summary_on_a_100_column_terminal_shows_every_number_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = booktape.record(tmp_path / "data", ["RIU2", "SiZ2"], polls=3000, topology="sequential")
    buf = _capture(monkeypatch, _render, 100)
    _render.render_summary(s)
    out = buf.getvalue()
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()[1:]) <= 100
    for y in s.symbols:
        row = next(line for line in out.splitlines() if line.strip("│┃ ").startswith(y.symbol)
                   and "ok" in line)
        for want in (f"{y.snapshots:,}", f"{y.seq_first}..{y.seq_last}", f"{y.rows:,}"):
            assert want in row, (want, row)
        for d in (y.poll_duration_ns, y.state_gap_ns):
            for k in ("p50", "p99", "p99.9", "max"):
                # A symbol whose book never changed in the run (a fast machine polls
                # 3,000 times within one sim tick) has no gap between states: NaN, shown as "—".
                if not math.isnan(d[k]):
                    assert human_ns(d[k]) in out


def _bench_doc() -> dict[str, object]:
    runs = [{"topology": t, "threshold": 16 << 20, "latency_ns": 80_000, "repeat": 0, "index": i,
             "hist": [], "error": None,
             "metrics": {"polls_s": 1_039_512.25, "gap_p50_us": 0.9, "gap_p999_us": 12_345.6,
                         "gap_range_us": 1_234_567.0, "seals": 2.0, "seal_gap_p999_us": 99_999.0,
                         "durable_p99_ms": 123.4, "cpu_s": 1234.5, "rss_mb": 10_240.0,
                         "lost": 0.0, "bytes_per_row": 12.3, "p999_vs_notebook": math.nan}}
            for i, t in enumerate(("sequential", "fanout-queue", "ring"))]
    return {"rows": aggregate(runs), "recommendations": [], "notes": []}


def test_bench_table_piped_shows_every_number_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = _capture(monkeypatch, _render_bench, _render.PIPED_WIDTH)
    _render_bench.render_bench(_bench_doc(), "out")
    out = buf.getvalue()
    assert "…" not in out
    for want in ("1,039,512", "1,234,567", "99,999", "12,346", "fanout-queue"):
        assert want in out


def test_bench_table_on_a_narrow_terminal_wraps_rather_than_cuts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    buf = _capture(monkeypatch, _render_bench, 80)
    _render_bench.render_bench(_bench_doc(), "out")
    assert "…" not in buf.getvalue()


def test_piped_console_is_wide_unless_columns_is_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    code = "from booktape.cli._render import console; print(console.width)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert int(p.stdout) == 240
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(env, COLUMNS="100"))
    assert int(p.stdout) == 100
