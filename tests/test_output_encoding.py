"""Every command's output through a narrow code page (issue 10).

A scheduled task or ``booktape ... > log.txt`` on Windows writes in the ANSI
code page (cp1252; cp1251 on Russian systems). Each command runs as a real
process with its stdout and stderr piped in that encoding: it must not crash,
and the log must stay readable (ASCII look-alikes, not a stream of ``?``).
UTF-8 output keeps the symbols.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import booktape

from .merge_tapes import record_pair

ENCODINGS = ["cp1252", "cp1251"]


def run_in(encoding: str, *args: str, timeout: float = 180) -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONIOENCODING=encoding, COLUMNS="200")
    p = subprocess.run([sys.executable, "-m", "booktape", *args], capture_output=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(encoding), p.stderr.decode(encoding)


def assert_readable(rc: int, out: str, err: str, expect_rc: int = 0) -> None:
    assert "Traceback" not in err and "UnicodeEncodeError" not in err, err
    assert rc == expect_rc, (rc, out, err)
    text = out + err
    assert text.strip()
    # A character the code page lacks becomes a look-alike; only a handful of "?" at most.
    assert text.count("?") <= 3, text


@pytest.fixture(scope="module")
def tapes(tmp_path_factory) -> Path:
    return record_pair(tmp_path_factory.getbasetemp())


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_record_summary_in_a_narrow_code_page_is_ascii_look_alikes(tmp_path, encoding):
    rc, out, err = run_in(encoding, "record", "--out", str(tmp_path / "d"), "--polls", "1000",
                          "--sim-lockstep", "--quiet")
    assert_readable(rc, out, err)
    assert "no loss" in out and "(t_after - t_before)" in out
    assert "changed states stored" in out and "Capture summary" in out


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("command", [
    ["ls", "{tape}"], ["analyze", "{tape}"], ["verify", "{tape}"],
    ["merge", "{tape}", "--collectors", "zero,one", "--out", "{tmp}/m"],
])
def test_tape_commands_in_a_narrow_code_page_do_not_crash(tapes, tmp_path, encoding, command):
    args = [a.format(tape=tapes, tmp=tmp_path) for a in command]
    rc, out, err = run_in(encoding, *args)
    assert_readable(rc, out, err)
    if command[0] in ("ls", "merge"):
        assert " -> " in out  # the time range / "zero, one -> out" arrow


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_snapshot_and_bench_in_a_narrow_code_page_do_not_crash(tmp_path, encoding):
    assert_readable(*run_in(encoding, "snapshot", "RIU2"))
    rc, out, err = run_in(encoding, "bench", "--topologies", "sequential", "--thresholds", "64KB",
                          "--latency", "80us", "--duration", "0.3s", "--repeat", "1",
                          "--out", str(tmp_path / "b"))
    assert_readable(rc, out, err)


def test_an_error_in_cp1251_names_a_cyrillic_path(tmp_path):
    missing = tmp_path / "Данные" / "стакан RTS"
    rc, out, err = run_in("cp1251", "verify", str(missing))
    assert_readable(rc, out, err, expect_rc=2)
    assert err.startswith("Error: ") and "Данные" in err and len(err.strip().splitlines()) == 1


def test_utf8_output_keeps_the_symbols(tmp_path):
    booktape.record(tmp_path / "d", "RIU2", polls=2000, source_options={"lockstep": True})
    rc, out, err = run_in("utf-8", "ls", str(tmp_path / "d"))
    assert rc == 0 and " → " in out, out + err
