"""``booktape analyze``, ``verify`` and ``heatmap`` through the real CLI (exit codes, outputs)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from booktape.cli import cli

from .analysis_tapes import clean_tape, corrupt_byte, middle_seq, parts, remove_seq


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_analyze_clean_tape_exits_0_and_writes_html_png_json(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    html, pngs = tmp_path / "r.html", tmp_path / "plots"
    r = run("analyze", str(tape), "--html", str(html), "--png", str(pngs))
    assert r.exit_code == 0, r.output
    assert "no problems found" in r.output and "Poll duration and gaps" in r.output
    assert "time order is kept" in r.output
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in pngs.iterdir()) == ["RIU2_zero_blind.png",
                                                     "RIU2_zero_latency.png",
                                                     "RIU2_zero_timeline.png"]
    j = json.loads(run("analyze", str(tape), "--json").output)
    assert j["ok"] is True and j["streams"][0]["states"] == sum(e.snapshots for e in parts(tape))


def test_cli_analyze_loss_exits_1_and_names_it(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    k = middle_seq(tape)
    remove_seq(tape, k)
    r = run("analyze", str(tape))
    assert r.exit_code == 1
    assert "missing" in r.output and str(k) in r.output


def test_cli_verify_exit_codes_and_file_names(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    r = run("verify", str(tape))
    assert r.exit_code == 0 and "no problems" in r.output
    corrupt_byte(tape, parts(tape)[0].part)
    r = run("verify", str(tape), "--json")
    assert r.exit_code == 1
    j = json.loads(r.output)
    assert j["problems"][0]["kind"] == "checksum" and parts(tape)[0].part in j["problems"][0]["file"]


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    r = run("analyze", str(tmp_path / "nope"))
    assert r.exit_code == 2 and r.output.startswith("Error: no tape at")
    r = run("verify", str(tmp_path / "nope"))
    assert r.exit_code == 2
    tape = clean_tape(tmp_path / "data")
    r = run("analyze", str(tape), "--start", "yesterday-ish")
    assert r.exit_code == 2 and "Error: invalid --start" in r.output


def test_cli_heatmap_writes_png(tmp_path: Path) -> None:
    tape = clean_tape(tmp_path / "data")
    out = tmp_path / "h.png"
    r = run("heatmap", str(tape), "--symbol", "RIU2", "--png", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:4] == b"\x89PNG"
