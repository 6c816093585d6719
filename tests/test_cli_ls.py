"""``booktape ls`` lists the ``--ticks`` side streams beside the book (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_booktape


def test_cli_ls_lists_ticks_and_server_time_parts(tmp_path: Path) -> None:
    tape = tmp_path / "data"
    p = run_booktape("record", "--source", "mt5", "--mt5-module", "booktape.emulator",
                     "--symbol", "RIU2", "--duration", "4s", "--ticks", "--out", str(tape),
                     "--quiet")
    assert p.returncode == 0, p.stderr
    p = run_booktape("ls", str(tape), "--json", check=True)
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    by = {r["stream"]: r for r in rows}
    assert set(by) == {"book", "ticks", "server_time"}
    for stream, sub in (("ticks", "_ticks"), ("server_time", "_server_time")):
        r = by[stream]
        assert r["sealed"] and r["rows"] > 0 and r["path"].startswith(str(tape / sub))
        assert r["t_min_ns"] <= r["t_max_ns"]
    p = run_booktape("ls", str(tape), check=True)
    table = [x for x in p.stdout.splitlines() if "RIU2" in x]
    assert [x.split("│")[1].strip() for x in table] == ["book", "ticks", "server_time"]
