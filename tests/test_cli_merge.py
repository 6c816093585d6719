"""``booktape merge`` through the CLI: report, JSON, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

import booktape
from booktape.cli import cli
from booktape.read.states import STATE_COLUMNS, snapshot_states

from .merge_tapes import record_pair, rewrite, set_volume, shift_clock


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return record_pair(tmp_path_factory.getbasetemp())


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_merge_clean_pair_reports_and_writes_exit_0(pair, tmp_path):
    r = run("merge", pair, "--collectors", "zero,one", "--out", tmp_path / "m")
    assert r.exit_code == 0, r.output
    assert "seen by all: no conflicts" in r.output and "clock offset one − zero" in r.output
    assert "collector=merged" in r.output
    assert len(booktape.read(tmp_path / "m")) > 0
    j = run("merge", pair, "--collectors", "zero,one", "--out", tmp_path / "m2", "--json",
            "--dry-run")
    d = json.loads(j.output)
    assert j.exit_code == 0 and d["ok"] and d["parts"] == [] and not (tmp_path / "m2").exists()
    assert d["seen_by_all"] > 0 and [c["name"] for c in d["per_collector"]] == ["zero", "one"]


def test_cli_merge_conflict_exit_1_names_level(pair, tmp_path):
    t = booktape.read_arrow(pair, "RIU2", "one", columns=STATE_COLUMNS).select(STATE_COLUMNS)
    o = snapshot_states(t)
    i = int(np.argmax(np.diff(o.t_mid)))
    bad = rewrite(pair, tmp_path / "bad", "one", set_volume(int(o.seq[i]), 1, 777))
    r = run("merge", bad, "--collectors", "zero,one", "--out", tmp_path / "m")
    assert r.exit_code == 1, r.output
    assert "Conflicts" in r.output and "777" in r.output


def test_cli_merge_offset_auto_reports_and_applies_offset(pair, tmp_path):
    skew = rewrite(pair, tmp_path / "skew", "one", shift_clock(-3_000_000_000))
    r = run("merge", skew, "--collectors", "zero,one", "--out", tmp_path / "m", "--offset", "auto")
    assert r.exit_code == 0, r.output
    assert "clock offset one − zero: -" in r.output and "applied -" in r.output
    j = json.loads(run("merge", skew, "--collectors", "zero,one", "--out", tmp_path / "m2",
                       "--offset", "auto", "--json").output)
    [o] = j["offsets"]
    assert abs(o["offset_ns"] + 3_000_000_000) <= o["uncertainty_ns"] + o["jitter_ns"]
    assert o["applied_ns"] == o["offset_ns"]


@pytest.mark.parametrize("args, message", [
    (["--collectors", "zero"], "needs at least two"),
    (["--collectors", "zero,one", "--offset", "later"], "invalid --offset"),
    (["--collectors", "zero,nobody"], "collector 'nobody' has no"),
])
def test_cli_merge_bad_input_exit_2(pair, tmp_path, args, message):
    r = run("merge", pair, *args, "--out", tmp_path / "m")
    assert r.exit_code == 2 and r.output.startswith("Error: ") and message in r.output


def test_cli_merge_collectors_sharing_no_state_exit_2_one_line(pair, tmp_path):
    def other_market(t):
        return t.set_column(t.schema.get_field_index("price"), "price",
                            pc.add(t.column("price"), pa.scalar(5000.0)))
    tape = rewrite(pair, tmp_path / "other", "one", other_market)
    r = run("merge", tape, "--collectors", "zero,one", "--out", tmp_path / "m")
    # After the first pass's progress bar (stderr), one line.
    last = r.output.strip().splitlines()[-1]
    assert r.exit_code == 2 and last.startswith("Error: collectors 'zero' and 'one' share no")
    assert "Traceback" not in r.output


def test_cli_merge_progress_on_stderr_report_on_stdout(pair, tmp_path):
    p = subprocess.run([sys.executable, "-m", "booktape", "merge", str(pair), "--collectors",
                        "zero,one", "--out", str(tmp_path / "m")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    n = sum(len(snapshot_states(booktape.read_arrow(pair, "RIU2", c, columns=STATE_COLUMNS)
                                .select(STATE_COLUMNS))) for c in ("zero", "one"))
    for phase in ("reading", "merging"):
        assert re.search(rf"{phase} .* {n}/{n} states", p.stderr), p.stderr
    assert "booktape merge RIU2" in p.stdout
    j = subprocess.run([sys.executable, "-m", "booktape", "merge", str(pair), "--collectors",
                        "zero,one", "--out", str(tmp_path / "m2"), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert json.loads(j.stdout)["ok"] and j.stderr == ""


def test_cli_merge_existing_output_refused_at_once_and_replaced_with_force(pair, tmp_path):
    out = tmp_path / "m"
    assert run("merge", pair, "--collectors", "zero,one", "--out", out).exit_code == 0
    first = sorted(p.name for p in out.rglob("part-*.parquet"))
    rows = len(booktape.read(out))
    r = run("merge", pair, "--collectors", "zero,one", "--out", out, "--offset", "auto")
    assert r.exit_code == 2 and r.output.startswith("Error: ") and "give --force" in r.output
    r = run("merge", pair, "--collectors", "zero,one", "--out", out, "--offset", "auto", "--force")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.rglob("part-*.parquet")) == first
    assert len(booktape.read(out)) == rows  # replaced, not appended to
