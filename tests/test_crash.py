"""A real recorder process killed (SIGKILL; TerminateProcess on Windows) or stopped with SIGTERM.

The kill-and-recover tests run on Windows too (``make test-windows``): ``Popen.kill`` is
TerminateProcess there, a kill with no clean-up at all, like SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

import booktape
from booktape.clock import SystemClock
from booktape.tape.layout import partition_dirs
from booktape.tape.manifest import read_manifest

from .conftest import run_booktape

posix_signals = pytest.mark.skipif(os.name == "nt", reason="POSIX signals (Windows: "
                                   "test_windows.py's console-event test)")


def start_recorder(tape, *extra):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen(
        [sys.executable, "-m", "booktape", "record", "--out", str(tape), "--duration", "120s",
         "--quiet", "--sync-every", "200ms", "--sim-rate", "1000", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_journal(tape, timeout=240 if os.name == "nt" else 30):
    # Wine on a loaded 2-core machine takes a minute or more to start a recorder and helpers.
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows")):
            return
        time.sleep(0.05)
    raise AssertionError("recorder wrote no journal")


def kill_with_helpers(p: subprocess.Popen[str]) -> None:
    """Kill the recorder alone, then wait for its helpers to notice and exit: a saver may
    still seal a journal meanwhile (Windows), and the test must see the tape it leaves."""
    helpers = psutil.Process(p.pid).children(recursive=True)
    p.kill()
    p.wait(10)
    psutil.wait_procs(helpers, timeout=60)


def test_sigkill_then_recover_keeps_everything_fsynced(tape):
    p = start_recorder(tape, "--rotate-bytes", "512KB")
    try:
        wait_for_journal(tape)
        time.sleep(2.5)
        killed_at = SystemClock().now_ns()
        kill_with_helpers(p)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == (-signal.SIGKILL if os.name != "nt" else 1)
    # Usually an open journal is left; with 512 KB segments rotating every
    # ~0.25 s the kill can also land between a seal and the next segment.
    journals = list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows"))
    r = run_booktape("recover", str(tape), check=True)
    for j in journals:
        assert j.name in r.stdout  # sealed, or removed if it was still empty
    assert not list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows"))
    df = booktape.read(tape)
    seq = df["seq"].unique()
    assert np.array_equal(seq, np.arange(len(seq)))  # nothing lost before the tail
    # Synced every 200 ms, chunks every 50 ms: what was polled more than ~0.5 s
    # before the kill is on disk.
    assert df["t_after_ns"].max() >= killed_at - 600_000_000
    assert len(read_manifest(partition_dirs(tape)[0])) >= 2


def test_next_record_recovers_a_killed_collector_and_continues_seq(tape):
    p = start_recorder(tape)
    try:
        wait_for_journal(tape)
        time.sleep(1.0)
        kill_with_helpers(p)
    finally:
        if p.poll() is None:
            p.kill()
    s = booktape.record(tape, "RIU2", polls=2000, source_options={"lockstep": True})
    assert s.recovered_journals == 1
    seq = booktape.read(tape)["seq"].unique()
    assert np.array_equal(seq, np.arange(len(seq)))
    assert s.symbols[0].seq_first > 0


@posix_signals
def test_sigterm_drains_seals_and_exits_0(tape):
    p = start_recorder(tape)
    wait_for_journal(tape)
    time.sleep(1.0)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert time.monotonic() - t0 < 5
    assert "no loss" in out
    assert not list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows"))
    assert list(tape.glob("symbol=*/date=*/collector=*/part-*.parquet"))


@posix_signals
def test_sigint_twice_exits_at_once_and_leaves_recoverable_journals(tape):
    # Slow polls (300 ms) keep the recorder busy after the first Ctrl-C, so the
    # second one lands before a graceful stop could finish.
    p = start_recorder(tape, "--sim-latency", "300ms")
    wait_for_journal(tape)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)  # two signals in one instant coalesce into one
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 130, out + err
    time.sleep(0.5)  # the resource tracker would have complained by now
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"booktape-{p.pid}-")]
    assert "leaked shared_memory" not in err, err  # (its semaphores the tracker still reaps)
    run_booktape("recover", str(tape), check=True)
    seq = booktape.read(tape)["seq"].unique()
    assert len(seq) > 0 and np.array_equal(seq, np.arange(len(seq)))


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 3 MB file system (tmpfs); needs root, as on this project's CI machine."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tmpfs")
def test_a_full_disk_stops_the_recording_with_one_clear_error(tiny_disk):
    # The saver cannot write: it exits with one line (no traceback), is
    # restarted, keeps failing, and the recorder stops with one error that
    # says what is safe and what was lost; no helper or shared memory is left.
    p = subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out",
                          str(tiny_disk / "data"), "--sim-lockstep", "--duration", "60s", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: cannot write the tape under") and "No space left" in last
    assert "could not be stored" in last
    assert "booktape-saver: cannot write the tape: [Errno 28]" in err
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"booktape-{p.pid}-")]
