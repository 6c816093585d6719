"""A helper alive but stuck after the last poll: the recorder stops anyway, data sealed.

Issue 12: the drain used to wait forever for a helper that neither exits nor
acknowledges (a full pipe, a stopped process). Its watchdog gives up on a
generation that shows no progress for ``BOOKTAPE_DRAIN_STALL_S``, says what it
waited for, kills the helpers and seals the backlog in the recorder itself.
Real processes: the CLI records, the saver is SIGSTOPped around the END.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import booktape

from .helpers import session_started_at

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="finds the saver by /proc/PID/comm")

DURATION_S = 10.0  # long enough for a saver to start, under load, well before the end
PATIENCE_S = 3


def _saver(rec: psutil.Process) -> psutil.Process | None:
    for c in rec.children():
        try:
            if Path(f"/proc/{c.pid}/comm").read_text().strip() == "booktape-saver":
                return c
        except OSError:
            continue
    return None



@pytest.mark.parametrize("topology", ["pipe", "ring"])
def test_a_saver_stopped_at_the_end_does_not_hang_the_recorder(tmp_path, topology):
    out = tmp_path / "data"
    env = dict(os.environ, COLUMNS="200", BOOKTAPE_DRAIN_STALL_S=str(PATIENCE_S))
    p = subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out", str(out),
                          "--topology", topology, "--duration", f"{DURATION_S}s",
                          "--sim-rate", "2000", "--rotate-every", "1s"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=True)
    stopped: psutil.Process | None = None
    try:
        rec = psutil.Process(p.pid)
        deadline = session_started_at(out, p) + DURATION_S
        # Under load a spawned saver can take seconds to import and name itself; it
        # is past its start-up once it journals (a saver stopped while starting
        # gets the watchdog's longer start-up allowance, DRAIN_START_S).
        while (stopped is None or not list(out.rglob("_part-*.arrows"))) \
                and p.poll() is None and time.monotonic() < deadline + 90:
            stopped = stopped or _saver(rec)
            time.sleep(0.01)
        assert stopped is not None, ("no saver found", p.communicate())
        # Stopped just before the deadline (or at once if it started late): the END
        # goes into its channel and is never read.
        time.sleep(max(0.0, deadline - 0.3 - time.monotonic()))
        while True:
            try:
                stopped.send_signal(signal.SIGSTOP)
                break
            except psutil.NoSuchProcess:  # replaced (a restart): stop the new one
                stopped = None
                while stopped is None and p.poll() is None:
                    stopped = _saver(rec)
                    time.sleep(0.01)
                if stopped is None:
                    out, err = p.communicate()
                    pytest.fail(f"the recording ended before its saver could be stopped: "
                                f"{err[-2000:]}")
        t_stop_wall = time.time_ns()
        deadline_wall = t_stop_wall - (time.monotonic() - deadline) * 1e9
        try:
            stdout, stderr = p.communicate(timeout=DURATION_S + PATIENCE_S + 60)
        except subprocess.TimeoutExpired:
            pytest.fail("the recorder hung behind its stopped saver")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        if stopped is not None and stopped.is_running():
            stopped.send_signal(signal.SIGKILL)
    # It stops with a one-line error naming the helper and what it waited for.
    assert p.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert "booktape-saver" in stderr and "made no progress" in stderr, stderr[-2000:]
    assert "waiting to acknowledge chunk" in stderr or "waiting to accept" in stderr, stderr
    assert "sealed by the recorder itself" in stderr
    # Everything is sealed: no journal left, seq contiguous from 0 up to states polled
    # after the saver stopped (they were sealed by the recorder).
    assert not list(out.rglob("_part-*.arrows")), list(out.rglob("_part-*.arrows"))
    tbl = booktape.read_arrow(out, "RIU2", "zero", columns=["seq", "t_after_ns"],
                              snapshots_only=True)
    seq = sorted(set(tbl.column("seq").to_pylist()))
    assert seq and seq == list(range(len(seq)))
    # (A saver that started late under load is stopped after the polling ended.)
    assert max(tbl.column("t_after_ns").to_pylist()) > min(t_stop_wall, deadline_wall) - 5e8
    verify = subprocess.run([sys.executable, "-m", "booktape", "verify", str(out)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    said = "".join(f.read_text() for f in (out / "_events").rglob("*.jsonl"))
    assert "no progress while draining" in said


def test_a_running_seal_beats_and_an_idle_sealer_does_not(tmp_path):
    """A long seal shows no other progress: its heartbeat keeps the watchdog off it."""
    from booktape.clock import SystemClock
    from booktape.events import EventLog
    from booktape.transport.sealer import BackgroundSealer

    beats: list[float] = []
    sealer = BackgroundSealer(SystemClock(), EventLog(tmp_path / "events.jsonl"), "zero",
                              beat=lambda: beats.append(time.monotonic()))
    time.sleep(1.5)
    assert beats == []
    with sealer.busy():
        time.sleep(2.6)
    during = len(beats)
    time.sleep(1.5)
    sealer.close()
    assert during >= 2 and len(beats) == during
