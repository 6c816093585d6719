"""What each command does with a damaged tape (issue 11): one line, the right exit code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import booktape
from booktape.tape.layout import partition_dirs

from .test_crash import tiny_disk  # noqa: F401 - a fixture


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("d") / "data"
    booktape.record(root, "RIU2", polls=1500, rotate_bytes="200KB", topology="sequential",
                    source_options={"lockstep": True})
    return root


@pytest.fixture
def tape(recorded: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(recorded, dst)
    return dst


def flip_part(tape: Path, i: int = 1) -> Path:
    parts = sorted(tape.glob("symbol=*/date=*/collector=*/part-*.parquet"))
    b = bytearray(parts[i].read_bytes())
    b[len(b) // 2] ^= 0x20
    parts[i].write_bytes(bytes(b))
    return parts[i]


def no_traceback(p: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr


def test_analyze_refuses_a_damaged_part_unless_skip_damaged(tape, cli):
    part = flip_part(tape)
    p = cli("analyze", str(tape))
    no_traceback(p)
    assert p.returncode == 1
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: checksum mismatch in") and part.name in last
    p = cli("analyze", str(tape), "--skip-damaged", "--json")
    no_traceback(p)
    assert "skipped: checksum mismatch" in p.stdout and part.name in p.stdout


def test_export_failure_leaves_no_tmp_file(tape, tmp_path, cli):
    flip_part(tape)
    out = tmp_path / "out.csv"
    p = cli("export", str(tape), "--csv", str(out))
    no_traceback(p)
    assert p.returncode == 1 and not out.exists()
    assert not (tmp_path / "out.csv.tmp").exists()
    p = cli("export", str(tape), "--csv", str(out), "--skip-damaged")
    assert p.returncode == 0 and out.exists() and "skipped:" in p.stderr


def test_ls_and_analyze_read_around_garbage_in_an_events_file(tape, cli):
    [ev] = list(tape.glob("_events/collector=zero/events-*.jsonl"))
    lines = ev.read_bytes().splitlines(keepends=True)
    ev.write_bytes(lines[0] + b"\xff\xfe garbage \x00\n" + b"".join(lines[1:]))
    for cmd in ("ls", "analyze"):
        p = cli(cmd, str(tape))
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert f"{ev} line 2 is damaged" in p.stderr
    p = cli("ls", str(tape))
    assert "session_start 1" in p.stdout


def test_ls_verify_read_with_an_emptied_manifest_warn_and_keep_the_parts(tape, cli):
    full = booktape.read(tape)
    d = partition_dirs(tape)[0]
    (d / "_manifest.jsonl").write_bytes(b"")
    p = cli("ls", str(tape))
    no_traceback(p)
    assert "in no manifest line" in p.stderr and "unlisted" in p.stdout
    assert booktape.read(tape).equals(full)
    p = cli("export", str(tape), "--csv", str(tape.parent / "x.csv"), "--strict")
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-1].startswith("Error: ")
    p = cli("verify", str(tape), "--repair")
    no_traceback(p)
    assert p.returncode == 0 and "relisted" in p.stdout
    p = cli("ls", str(tape))
    assert "in no manifest line" not in p.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs")
def test_sequential_on_a_full_disk_is_one_line(tiny_disk):  # noqa: F811
    p = subprocess.run([sys.executable, "-m", "booktape", "record", "--out",
                        str(tiny_disk / "data"), "--sim-lockstep", "--duration", "60s",
                        "--quiet", "--topology", "sequential"],
                       capture_output=True, text=True, timeout=120)
    no_traceback(p)
    assert p.returncode == 1
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot write the tape under") and "No space left" in last


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs")
def test_recover_on_a_full_disk_is_one_line_and_keeps_the_journal(tiny_disk, cli):  # noqa: F811
    from .test_journal import three_batch_journal

    j, _ = three_batch_journal(tiny_disk / "data")
    filler = tiny_disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    p = cli("recover", str(tiny_disk / "data"))
    no_traceback(p)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("Error: cannot write the tape under")
    assert j.exists() and not list(j.parent.glob("*.tmp"))
    filler.unlink()
    p = cli("recover", str(tiny_disk / "data"))
    assert p.returncode == 0 and not j.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX resource tracker")
def test_killing_the_resource_tracker_leaves_no_traceback(tmp_path):
    import time

    import psutil

    p = subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out",
                          str(tmp_path / "data"), "--sim-lockstep", "--duration", "8s",
                          "--quiet", "--topology", "ring"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    for _ in range(300):
        time.sleep(0.1)
        kids = psutil.Process(p.pid).children(recursive=True)
        tracker = [k for k in kids if "resource_tracker" in " ".join(k.cmdline())]
        if tracker and len(kids) >= 2:  # the tracker and a helper are up
            time.sleep(1.0)
            tracker[0].kill()
            killed = True
            break
    _, err = p.communicate(timeout=120)
    assert killed and p.returncode == 0, err
    assert "Traceback" not in err and "KeyError" not in err, err
    seq = np.unique(booktape.read(tmp_path / "data")["seq"].to_numpy())
    assert seq.size > 0 and np.array_equal(seq, np.arange(seq.size))
