"""``booktape export``: views, formats, standard output, and never clobbering a device (issue 14)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading

import pandas as pd
import pyarrow.parquet as pq
import pytest

import booktape

from .conftest import run_booktape


@pytest.fixture(scope="module")
def two_part_tape(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp") / "data"
    booktape.record(root, "RIU2", polls=3000, rotate_bytes="128KB",
                    source_options={"lockstep": True})
    assert len(list(root.rglob("part-*.parquet"))) >= 2
    return root


def test_export_quotes_csv_to_stdout_matches_quotes(two_part_tape):
    r = run_booktape("export", str(two_part_tape), "--view", "quotes", "--format", "csv",
                     "--out", "-")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(io.StringIO(r.stdout))
    q = booktape.quotes(two_part_tape)
    assert got.seq.tolist() == q.seq.tolist()
    assert (got.bid.to_numpy() == q.bid.to_numpy()).all()
    assert (got.ask.to_numpy() == q.ask.to_numpy()).all()
    assert (pd.to_datetime(got.time) == q.time).all()  # ISO times with their offset
    assert "wrote" in r.stderr and "wrote" not in r.stdout


def test_export_top5_parquet_and_levels_jsonl(two_part_tape, tmp_path):
    out = tmp_path / "top.parquet"
    r = run_booktape("export", str(two_part_tape), "--view", "top5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out).to_pandas()
    ref = booktape.top(two_part_tape, 5)
    assert list(t.columns) == list(ref.columns)
    assert (t.ask_price_4.fillna(-1) == ref.ask_price_4.fillna(-1)).all()
    assert str(t.time.dtype) == "datetime64[ns, UTC]"
    jl = tmp_path / "levels.jsonl"
    r = run_booktape("export", str(two_part_tape), "--view", "levels", "--out", str(jl),
                     "--tz", "Europe/Moscow")
    assert r.returncode == 0, r.stderr
    lines = jl.read_text().splitlines()
    assert len(lines) == len(booktape.read(two_part_tape))
    first = json.loads(lines[0])
    assert first["side"] in ("ask", "bid") and first["time_before"].endswith("+0300")
    assert not list(tmp_path.glob("*.tmp"))


def test_export_csv_dash_is_stdout_not_a_file_named_dash(two_part_tape, tmp_path):
    p = subprocess.run([sys.executable, "-m", "booktape", "export", str(two_part_tape),
                        "--csv", "-"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "-").exists()
    df = pd.read_csv(io.StringIO(p.stdout))
    assert list(df.columns)[1:] == ["type", "price", "volume", "volume_dbl", "time_after",
                                    "time_before", "name"]
    assert len(df) == len(booktape.read(two_part_tape))


@pytest.mark.skipif(sys.platform == "win32", reason="a symlink to /dev/null (POSIX)")
def test_export_writes_through_a_symlink_to_a_device_never_over_it(two_part_tape, tmp_path):
    link = tmp_path / "stdout-like"
    link.symlink_to("/dev/null")
    r = run_booktape("export", str(two_part_tape), "--csv", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(sys.platform == "win32", reason="a named pipe made by mkfifo (POSIX)")
def test_export_into_a_fifo_streams_and_leaves_it_a_fifo(two_part_tape, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run_booktape("export", str(two_part_tape), "--view", "quotes", "--out", str(fifo))
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert len(got[0].decode().splitlines()) == len(booktape.quotes(two_part_tape)) + 1


def test_export_to_a_closed_pipe_ends_quietly(two_part_tape):
    p = subprocess.Popen([sys.executable, "-m", "booktape", "export", str(two_part_tape),
                          "--view", "levels", "--out", "-"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.readline()
    p.stdout.close()  # like `| head -1`
    err = p.stderr.read().decode()
    assert p.wait(60) == 0
    assert err == ""


def test_failed_export_leaves_no_tmp_and_keeps_the_old_file(tmp_path):
    tape = tmp_path / "data"
    booktape.record(tape, "RIU2", polls=2000, rotate_bytes="128KB", source_options={"lockstep": True})
    parts = sorted(tape.rglob("part-*.parquet"))
    data = bytearray(parts[-1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    parts[-1].write_bytes(bytes(data))
    out = tmp_path / "q.csv"
    out.write_text("old\n")
    r = run_booktape("export", str(tape), "--view", "quotes", "--out", str(out))
    from booktape.errors import TapeDamaged

    assert r.returncode == TapeDamaged.exit_code != 0
    assert r.stderr.startswith("Error: checksum mismatch")
    assert "Traceback" not in r.stderr
    assert out.read_text() == "old\n"
    assert not list(tmp_path.glob("*.tmp"))
    # --skip-damaged: the view of every part that verifies, and the damaged one named.
    r = run_booktape("export", str(tape), "--view", "quotes", "--out", str(out), "--skip-damaged")
    assert r.returncode == 0, r.stderr
    assert parts[-1].name in r.stderr
    got = pd.read_csv(out)
    good = sum(pq.ParquetFile(p).metadata.num_rows for p in parts[:-1])
    assert 0 < len(got) and got.seq.is_monotonic_increasing
    assert len(booktape.read(tape, skip_damaged=True)) >= good
    assert len(got) == len(booktape.quotes(tape, skip_damaged=True))


@pytest.mark.parametrize("args, msg", [
    (["--out", "nodir/x.csv"], "nodir does not exist"),
    (["--csv", "nodir/x.csv"], "nodir does not exist"),
    (["--out", "."], "is a directory"),
    (["--view", "top0", "--out", "x.csv"], "unknown --view 'top0'"),
    (["--view", "bids", "--out", "x.csv"], "unknown --view 'bids'"),
    (["--csv", "x.csv", "--view", "quotes"], "--view and --format go with --out"),
    ([], "give one of --out FILE"),
])
def test_export_bad_arguments_are_one_line_errors(two_part_tape, tmp_path, args, msg):
    p = subprocess.run([sys.executable, "-m", "booktape", "export", str(two_part_tape), *args],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.startswith("Error: ") and msg in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(not os.path.islink("/dev/stdout"), reason="needs the /dev/stdout symlink")
def test_export_csv_to_dev_stdout_streams_and_keeps_the_link(two_part_tape, tmp_path):
    p = subprocess.run([sys.executable, "-m", "booktape", "export", str(two_part_tape),
                        "--csv", "/dev/stdout"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert os.path.islink("/dev/stdout") and not os.path.exists("/dev/stdout.tmp")
    assert len(pd.read_csv(io.StringIO(p.stdout))) == len(booktape.read(two_part_tape))
    assert "wrote" in p.stderr and "wrote" not in p.stdout
