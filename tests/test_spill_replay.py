"""Spill files of killed sessions are replayed into parts, then removed (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import booktape
from booktape.capture.frame import ChunkBuilder
from booktape.events import Event, EventLog
from booktape.sources.simulated import SimConfig, SimMarket
from booktape.tape.layout import events_path
from booktape.transport.backlog import Backlog
from booktape.transport.spill_replay import replay_spills


def killed_session_spill(root: Path, session: str, seqs: range, t0: int) -> Path:
    """What a killed acquirer leaves: its session_start event and a spill file of chunks."""
    ev = EventLog(events_path(root, "zero", session))
    ev.emit(Event("session_start", t0, collector="zero",
                  detail={"session": session, "symbols": ["RIU2"]}))
    ev.close()
    path = root / "_spill" / "collector=zero" / f"spill-{session}.bin"
    b = Backlog(0, path)  # every chunk goes to the spill file
    m = SimMarket(SimConfig(lockstep=True, unchanged_prob=0, seed=5))
    for k in range(0, len(seqs), 10):
        cb = ChunkBuilder()
        for s in seqs[k:k + 10]:
            t = t0 + s * 1_000_000
            cb.add(0, s, t, t + 5000, 0, m.market_book_get("RIU2"))
        b.add(cb.take())
    return path  # (never closed: the process was killed)


def test_spill_of_a_killed_session_is_replayed_by_the_next_record(tmp_path):
    root = tmp_path / "data"
    s0 = booktape.record(root, "RIU2", polls=300, topology="sequential",
                         source_options={"lockstep": True})
    last = s0.symbols[0].seq_last
    t0 = int(booktape.read(root)["t_after_ns"].max()) + 1_000_000
    # The killed session had stored up to `last` and spilled last-4 .. last+60.
    spill = killed_session_spill(root, "20990101T000000-dead01", range(last - 4, last + 61), t0)
    s1 = booktape.record(root, "RIU2", polls=50, topology="sequential",
                         source_options={"lockstep": True})
    assert not spill.exists() and not (root / "_spill").exists()
    assert s1.symbols[0].seq_first == last + 61  # numbered after the replayed states
    seq = np.unique(booktape.read(root)["seq"].to_numpy())
    assert np.array_equal(seq, np.arange(seq.size)) and seq[-1] == s1.symbols[0].seq_last


def test_recover_replays_spills_and_names_damaged_frames(tmp_path, cli):
    root = tmp_path / "data"
    spill = killed_session_spill(root, "20990101T000000-dead02", range(0, 40), 1_800_000_000 * 10**9)
    data = bytearray(spill.read_bytes())
    data[len(data) // 4 + 40] ^= 0x01  # inside the second of four equal frames
    spill.write_bytes(bytes(data))
    p = cli("recover", str(root))
    assert "Traceback" not in p.stderr
    assert p.returncode == 1 and "fails its checksum" in p.stdout
    assert "30 state(s)" in p.stdout and not spill.exists()
    seq = sorted(set(booktape.read(root)["seq"]))
    assert seq == list(range(0, 10)) + list(range(20, 40))


def test_spill_of_unknown_session_is_kept(tmp_path):
    root = tmp_path / "data"
    spill = killed_session_spill(root, "s1", range(0, 10), 1_800_000_000 * 10**9)
    for p in (root / "_events").rglob("*.jsonl"):
        p.unlink()
    [r] = replay_spills(root, 0)
    assert r.kept and spill.exists() and json.dumps(r.describe())
