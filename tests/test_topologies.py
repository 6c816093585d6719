"""Every transport topology: same rows as the sim served, no loss when helpers are SIGKILLed.

All under ``spawn`` (conftest). The kill tests run a real recorder process and
kill its helpers by pid at random moments, then prove from the sealed parts
that every seq is there exactly once and equals the sim's ground truth.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest

import booktape
from booktape.events import read_events
from booktape.sources.simulated import SimConfig, books_at
from booktape.tape.layout import partition_dirs
from booktape.tape.manifest import read_manifest
from booktape.transport import DEFAULT_TOPOLOGY, topology_names

from .helpers import books_by_seq, sim_truth

MULTI = ["pipe", "queue", "fanout-pipe", "fanout-queue", "ring"]
SYMBOLS = ("RIU2", "SiU2")


def shm_segments(pid: int | None = None) -> set[str]:
    """Ring segments created by ``pid`` (other test sessions may be recording meanwhile)."""
    d = Path("/dev/shm")
    prefix = f"booktape-{pid or os.getpid()}-"
    return {p.name for p in d.iterdir() if p.name.startswith(prefix)} if d.is_dir() else set()


def sealed(tape: Path, symbol: str) -> pd.DataFrame:
    """Every sealed row of a symbol, straight from the parts the manifests list."""
    tables = [pq.ParquetFile(d / e.part).read().to_pandas()
              for d in partition_dirs(tape, symbol) for e in read_manifest(d)]
    return pd.concat(tables).sort_values(["seq", "level"], kind="stable").reset_index(drop=True)


def assert_exactly_the_sim(tape: Path, log: Path) -> int:
    """Seq contiguous from 0, no duplicate (seq, level), books equal to the sim's log."""
    assert not list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows")), "unsealed journal"
    total = 0
    for sym in SYMBOLS:
        df = sealed(tape, sym)
        assert not df.duplicated(["seq", "level"]).any()
        seqs = df["seq"].unique()
        truth, unchanged = sim_truth(log, sym)
        assert np.array_equal(seqs, np.arange(len(truth))), f"{sym}: seq not 0..{len(truth) - 1}"
        assert books_by_seq(df) == truth
        assert df.groupby("seq")["unchanged"].first().tolist() == unchanged
        total += len(truth)
    return total


def test_topologies_registered_and_default_is_ring():
    assert set(MULTI + ["sequential"]) <= set(topology_names())
    assert DEFAULT_TOPOLOGY == "ring"


@pytest.mark.parametrize("topology", ["sequential", *MULTI])
def test_topology_lockstep_rows_equal_the_sim_log_with_rotation(topology, tmp_path):
    tape, log = tmp_path / "data", tmp_path / "sim.json"
    s = booktape.record(tape, list(SYMBOLS), polls=6000, rotate_bytes="192KB", topology=topology,
                        source_options={"lockstep": True, "seed": 11, "log_path": str(log)})
    assert s.ok and s.polls == 6000 and s.parts_sealed >= 4  # rotated by size, per symbol
    assert assert_exactly_the_sim(tape, log) == s.stored
    assert not shm_segments()
    assert not helper_pids(psutil.Process())


def test_topology_spills_past_the_memory_threshold_and_loses_nothing(tmp_path):
    # A 64 kB backlog with acknowledgements only every 300 ms: the acquirer
    # must spill to the overflow journal (and say so), never block or drop.
    tape, log = tmp_path / "data", tmp_path / "sim.json"
    s = booktape.record(tape, list(SYMBOLS), polls=6000, topology="ring", buffer_bytes=64_000,
                        sync_every="300ms",
                        source_options={"lockstep": True, "seed": 12, "log_path": str(log)})
    assert s.ok and s.events.get("spill", 0) >= 2  # a start and an end row
    spills = [e for e in read_events(tape) if e["kind"] == "spill"]
    assert spills[-1]["detail"]["phase"] == "end" and spills[-1]["count"] > 0
    assert assert_exactly_the_sim(tape, log) == s.stored
    assert not list(tape.glob("_spill/**/*.bin"))


def test_keep_unchanged_at_zero_latency_spills_rather_than_stalls(tmp_path):
    # Every poll packed as fast as the loop goes is more than the saver can
    # journal: the ring fills, the backlog fills, and the rest must go to the
    # overflow journal while polling goes on, losing nothing.
    tape, log = tmp_path / "data", tmp_path / "sim.json"
    n = 200_000
    s = booktape.record(tape, "RIU2", polls=n, keep_unchanged=True, buffer_bytes=1 << 20,
                        source_options={"log_path": str(log), "rate": 2000, "levels": 5})
    assert s.ok and s.lost == 0 and s.stored == s.polls == n
    spills = [e for e in read_events(tape) if e["kind"] == "spill"]
    assert [e["detail"]["phase"] for e in spills[:2]] == ["start", "end"]
    assert sum(e["count"] or 0 for e in spills if e["detail"]["phase"] == "end") > 0
    df = booktape.read(tape)
    seqs = np.unique(df["seq"].to_numpy())
    assert np.array_equal(seqs, np.arange(n))  # every poll, once
    # Spot-check the books themselves against what the sim served at those polls.
    d = json.loads(log.read_text())
    cfg = SimConfig(**d["config"])
    idx = sorted(random.Random(7).sample(range(n), 300))
    want = books_at(cfg, "RIU2", [d["served"]["RIU2"][i] for i in idx])
    got = books_by_seq(df[df["seq"].isin(idx)])
    assert got == [tuple(tuple(lv) for lv in b) for b in want]
    assert not list(tape.glob("_spill/**/*.bin"))


def helper_pids(recorder: psutil.Process) -> list[psutil.Process]:
    """The recorder's helper processes, oldest first (the saver is started first)."""
    try:
        kids = [c for c in recorder.children() if "spawn_main" in " ".join(c.cmdline())]
    except psutil.Error:
        return []
    return sorted(kids, key=lambda c: (c.create_time(), c.pid))


@pytest.mark.wine_slow("15 s a case under Wine (measured); there fanout-pipe once counted 3 "
                       "restarts for its 2 kills (nothing lost): not yet explained")
@pytest.mark.parametrize("variant", [*MULTI, "pipe+thread-sender"])
def test_topology_sigkill_saver_then_packer_loses_and_duplicates_nothing(variant, tmp_path):
    # "+thread-sender": the pipe fed by a thread, as on Windows (no O_NONBLOCK there).
    topology, _, how = variant.partition("+")
    env = {**os.environ, "BOOKTAPE_PIPE_SENDER": "thread"} if how else None
    tape, log = tmp_path / "data", tmp_path / "sim.json"
    rnd = random.Random(f"{variant}-{os.getpid()}")
    p = subprocess.Popen(
        [sys.executable, "-m", "booktape", "record", "--quiet", "--json", "--topology", topology,
         "--out", str(tape), "--sim-lockstep", "--sim-seed", "5", "--sim-latency", "30us",
         "--polls", "90000", "--sim-levels", "5", "--symbol", SYMBOLS[0], "--symbol", SYMBOLS[1],
         "--rotate-bytes", "256KB", "--sync-every", "100ms", "--sim-log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    rec = psutil.Process(p.pid)
    # Saver first; in the fan-outs then a packer (the newest helpers after a restart
    # are packers, started after their saver).
    victims = ["saver", "saver"] if not topology.startswith("fanout") else ["saver", "packer"]
    killed = []
    t_end = time.monotonic() + 30
    while not list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows")):
        assert time.monotonic() < t_end and p.poll() is None, "no journal"
        time.sleep(0.02)
    dead: set[int] = set()
    for victim in victims:
        time.sleep(rnd.uniform(0.1, 0.9))
        # After a kill the restarted helper takes a while to spawn on a loaded machine.
        t_wait = time.monotonic() + 20
        kids = []
        while p.poll() is None and time.monotonic() < t_wait:
            kids = [k for k in helper_pids(rec) if k.pid not in dead]
            if kids:
                break
            time.sleep(0.05)
        if p.poll() is not None or not kids:
            break
        target = kids[0] if victim == "saver" else kids[-1]
        target.kill()  # SIGKILL; TerminateProcess on Windows
        dead.add(target.pid)
        killed.append(victim)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert killed == victims, "the recording ended before every kill: make it longer"
    s = json.loads(out)
    assert s["lost"] == 0 and s["ok"]
    assert s["events"].get("restart") == len(victims)
    assert assert_exactly_the_sim(tape, log) == s["stored"]
    assert not shm_segments(p.pid)
    assert not psutil.pid_exists(target.pid) or psutil.Process(target.pid).status() == "zombie"


@pytest.mark.skipif(os.name == "nt", reason="SIGTERM is POSIX (Windows' CTRL_BREAK_EVENT: "
                    "test_windows.py)")
@pytest.mark.parametrize("topology", ["ring", "fanout-queue"])
def test_topology_sigterm_drains_seals_and_exits_0_leaving_nothing_behind(topology, tmp_path):
    tape = tmp_path / "data"
    p = subprocess.Popen(
        [sys.executable, "-m", "booktape", "record", "--quiet", "--json", "--topology", topology,
         "--out", str(tape), "--duration", "60s", "--sim-rate", "3000", "--symbol", SYMBOLS[0],
         "--symbol", SYMBOLS[1]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rec = psutil.Process(p.pid)
    t_end = time.monotonic() + 30
    while not list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows")):
        assert time.monotonic() < t_end and p.poll() is None, "no journal"
        time.sleep(0.05)
    time.sleep(0.5)
    helpers = helper_pids(rec)
    assert helpers
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert time.monotonic() - t0 < 10
    s = json.loads(out)
    assert s["ok"] and s["lost"] == 0 and s["stored"] > 0 and s["parts_sealed"] >= 2
    assert not list(tape.glob("symbol=*/date=*/collector=*/_part-*.arrows"))
    assert all(not psutil.pid_exists(h.pid) for h in helpers)
    assert not shm_segments(p.pid)
