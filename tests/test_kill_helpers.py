"""Every helper of every topology SIGKILLed at a random moment: the recorder never hangs.

Issue 12: a recorder stuck at exit (CPython gh-75158, ``Condition.notify`` in
``Event.set()`` waiting for a killed waiter) means tomorrow's recording never
starts. Each case runs the real CLI, finds the victim by the name its helper
gives itself (``/proc/PID/comm``), SIGKILLs it at a random moment (seeded;
the seed is in the test id) and then checks: the recorder exits 0 before its
deadline + 30 s, says what happened, and every state it stored is on disk
with contiguous seq.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import psutil
import pytest

import booktape

from .helpers import session_started_at

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="finds helpers by /proc/PID/comm")

DURATION_S = 3.0
HANG_LIMIT_S = 30.0  # the bar: alive 30 s past the deadline is a hang

# (topology, victim, when): "mid" is a random moment while polling, "end" lands
# within the drain and seal after the deadline, "start" while helpers import.
CASES = [
    ("ring", "saver", "mid"), ("ring", "saver", "end"), ("ring", "status", "mid"),
    ("ring", "tracker", "mid"), ("ring", "tracker", "end"), ("ring", "saver", "start"),
    ("pipe", "saver", "mid"), ("pipe", "saver", "end"), ("pipe", "status", "end"),
    ("pipe", "tracker", "mid"),
    ("queue", "saver", "mid"), ("queue", "saver", "end"), ("queue", "status", "mid"),
    ("queue", "tracker", "mid"),
    ("fanout-pipe", "packer", "mid"), ("fanout-pipe", "packer", "end"),
    ("fanout-pipe", "saver", "mid"),
    ("fanout-queue", "packer", "mid"), ("fanout-queue", "saver", "end"),
    ("fanout-queue", "status", "mid"),
    ("sequential", "status", "mid"), ("sequential", "status", "end"),
    ("pipe", "all", "mid"), ("ring", "all", "end"),
    ("ring", "health", "mid"), ("fanout-pipe", "health", "mid"), ("sequential", "health", "end"),
]

COMM = {"saver": "booktape-saver", "packer": "booktape-packer", "status": "booktape-status",
        "health": "booktape-health"}


def _victims(rec: psutil.Process, victim: str) -> list[psutil.Process]:
    out = []
    for c in rec.children(recursive=False):
        try:
            comm = Path(f"/proc/{c.pid}/comm").read_text().strip()
            cmd = " ".join(c.cmdline())
        except (OSError, psutil.Error):
            continue
        if victim == "all" or COMM.get(victim) == comm or (
                victim == "tracker" and "resource_tracker" in cmd):
            out.append(c)
    return out


def _kill_when_found(rec: psutil.Process, victim: str, at: float, give_up: float) -> int:
    """SIGKILL the victim(s) at ``at`` (monotonic); returns how many were killed."""
    while time.monotonic() < at:
        time.sleep(0.01)
    while time.monotonic() < give_up:
        got = _victims(rec, victim)
        # Right after start-up the helper may still be "python" (not yet named).
        if got:
            for c in got:
                try:
                    c.send_signal(signal.SIGKILL)
                except psutil.Error:
                    pass
            return len(got)
        time.sleep(0.02)
    return 0



@pytest.mark.parametrize("topology,victim,when", CASES,
                         ids=[f"{t}-{v}-{w}" for t, v, w in CASES])
def test_killing_a_helper_never_hangs_nor_loses(tmp_path, topology, victim, when):
    seed = zlib.crc32(f"{topology}-{victim}-{when}".encode()) & 0xFFFF
    # The health helper starts with the recording, but its imports
    # can take seconds under load before it names itself and can be found.
    duration = DURATION_S + (5 if victim == "health" else 0)
    rnd = random.Random(seed)
    out = tmp_path / "data"
    env = dict(os.environ, COLUMNS="200")
    args = [sys.executable, "-m", "booktape", "record", "--out", str(out), "--topology",
            topology, "--duration", f"{duration}s", "--sim-rate", "2000",
            "--rotate-every", "1s"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=env, start_new_session=True)
    try:
        rec = psutil.Process(p.pid)
        # The recorder's deadline is its session_start + the duration (wall clock):
        # under load the helpers may take seconds to start, so time the kill from it.
        t_start = session_started_at(out, p)
        deadline = t_start + duration
        while time.monotonic() < deadline and not _victims(rec, victim):
            time.sleep(0.02)
        now = time.monotonic()
        at = {"start": now, "mid": rnd.uniform(min(now + 0.1, deadline - 0.3), deadline - 0.3),
              "end": deadline + rnd.uniform(-0.05, 0.3)}[when]
        killed = _kill_when_found(rec, victim, at, at + 20)
        try:
            stdout, stderr = p.communicate(timeout=duration + HANG_LIMIT_S + 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"recorder hung: alive {HANG_LIMIT_S} s past its deadline "
                        f"(seed {seed}, {victim} killed)")
        took = time.monotonic() - t_start
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert took < duration + HANG_LIMIT_S
    # At "end" the kill races the recorder's own clean exit: on a quick machine the victim
    # may have finished already (nothing to kill, nothing to say); no hang and no loss
    # are still required below.
    assert killed or when == "end", f"no {victim} found to kill"
    assert p.returncode == 0, stdout + stderr
    # Nothing lost: the stored states are all on disk, seq contiguous from 0.
    tbl = booktape.read_arrow(out, "RIU2", "zero", columns=["seq"], snapshots_only=True)
    seq = sorted(set(tbl.column("seq").to_pylist()))
    assert seq == list(range(len(seq))) and seq
    stop = [json.loads(line) for f in (out / "_events").rglob("*.jsonl")
            for line in f.read_text().splitlines() if '"session_stop"' in line]
    assert stop and stop[0]["detail"]["stored"] == len(seq)
    # It says what happened.
    said = stdout + stderr + "".join(f.read_text() for f in (out / "_events").rglob("*.jsonl"))
    # Killed during the final drain, a helper may die after its work is done: only a
    # kill while polling is sure to need (and report) a restart.
    if killed and victim in ("saver", "packer", "all") and topology != "sequential" \
            and when != "end":
        assert '"restart"' in said or "restarts" in said, said[-2000:]
    if killed and victim == "health" and when == "mid":
        assert '"process":"booktape-health"' in said and "booktape-health died" in stderr
    if killed and victim == "status":
        assert "status line's process died" in stderr, stderr[-2000:]
    if killed and victim == "tracker" and when != "end":
        assert "resource tracker" in stderr or "resource_tracker: process died" in stderr, stderr[-2000:]


def test_helpers_of_a_recorder_killed_while_they_start_do_not_outlive_it(tmp_path):
    """Killed while its helpers still import: they must not live on as orphans (seen under load)."""
    p = subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out",
                          str(tmp_path / "data"), "--duration", "60s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec = psutil.Process(p.pid)
    kids: list[psutil.Process] = []
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up and len(kids) < 2:
        kids = [c for c in rec.children() if "spawn_main" in " ".join(c.cmdline())]
        time.sleep(0.005)
    assert kids, "the recorder started no helper"
    p.kill()  # most likely before any helper reached become_helper()
    p.wait()
    gone, alive = psutil.wait_procs(kids, timeout=30)
    assert not alive, [(k.pid, k.name()) for k in alive]
