"""``blind_ns``: the capture loop's bound on what it may have missed (issue 13), per topology."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import booktape
from booktape.analysis.verify import verify
from booktape.events import read_events

from .analysis_tapes import parts, rewrite_part

TOPOLOGIES = ["sequential", "pipe", "queue", "fanout-pipe", "fanout-queue", "ring"]
SYMBOLS = ["RIU2", "SiU2"]


def snapshots(tape: Path, symbol: str) -> dict[str, np.ndarray]:
    t = booktape.read_arrow(tape, symbol, columns=["seq", "t_before_ns", "t_after_ns",
                                                   "unchanged", "blind_ns"], snapshots_only=True)
    return {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names
            if c not in ("symbol", "collector")}


def trailing(tape: Path) -> dict[str, int]:
    (stop,) = [e for e in read_events(tape) if e["kind"] == "session_stop"]
    return stop["detail"]["trailing_blind_ns"]


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_blind_ns_with_every_poll_stored_is_exactly_the_pair_of_polls(topology, tmp_path):
    # --keep-unchanged stores every poll, so each state's bound is one pair:
    # its own t_after minus the previous poll's t_before; the first poll has none.
    tape = tmp_path / "data"
    s = booktape.record(tape, SYMBOLS, polls=3000, keep_unchanged=True, topology=topology,
                        source_options={"lockstep": True, "seed": 5})
    assert s.ok
    for sym in SYMBOLS:
        d = snapshots(tape, sym)
        assert d["blind_ns"].dtype == np.int64 and d["blind_ns"][0] == 0
        assert np.array_equal(d["blind_ns"][1:], d["t_after_ns"][1:] - d["t_before_ns"][:-1])
    assert trailing(tape) == {sym: 0 for sym in SYMBOLS}


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_blind_ns_covers_the_unchanged_polls_between_stored_states(topology, tmp_path):
    # With change detection, a state's bound is the widest of the pairs since
    # the previous stored state: at most that whole span, at least its average.
    tape = tmp_path / "data"
    s = booktape.record(tape, SYMBOLS, polls=4000, topology=topology,
                        source_options={"lockstep": True, "seed": 6, "unchanged_prob": 0.7})
    assert s.ok and s.unchanged > 1000
    for sym in SYMBOLS:
        d = snapshots(tape, sym)
        span = d["t_after_ns"][1:] - d["t_before_ns"][:-1]
        b = d["blind_ns"][1:]
        pairs = d["unchanged"][1:].astype(np.int64) + 1
        assert (b <= span).all() and (b * pairs >= span).all()
        assert (b[pairs == 1] == span[pairs == 1]).all()
        assert (b > 0).all()
    tr = trailing(tape)
    assert set(tr) == set(SYMBOLS) and all(v >= 0 for v in tr.values())


def test_a_tape_recorded_before_blind_ns_reads_as_unknown(tmp_path):
    tape = tmp_path / "data"
    booktape.record(tape, "RIU2", polls=500, source_options={"lockstep": True})
    for e in parts(tape):
        rewrite_part(tape, e.part, lambda t: t.drop_columns(["blind_ns"]))
    t = booktape.read_arrow(tape, "RIU2")
    assert t.column("blind_ns").null_count == t.num_rows > 0
    df = booktape.read(tape, "RIU2", snapshots_only=True)
    assert df["blind_ns"].isna().all()
    assert verify(tape).ok  # the old schema is still a valid tape
