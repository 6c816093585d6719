"""``--sim-log`` writes the market's true timeline; ``booktape truth`` scores a tape against it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import booktape
from booktape.analysis.truth import BUCKETS, score_truth
from booktape.cli import cli as cli_group
from booktape.sources.sim_timeline import state_hash
from booktape.sources.simulated import SimConfig, book_at
from booktape.tape.seal import PARQUET_OPTIONS


def rewrite_parts(tape: Path, fn) -> None:  # type: ignore[no-untyped-def]
    """Replace every sealed part of every symbol by ``fn(table)``, manifests kept true."""
    import dataclasses

    import pyarrow.parquet as pq

    from booktape.tape.layout import MANIFEST
    from booktape.tape.manifest import read_manifest, sha256_file

    for d in tape.glob("symbol=*/date=*/collector=*"):
        entries = []
        for e in read_manifest(d):
            t = pq.read_table(d / e.part)
            pq.write_table(fn(t).replace_schema_metadata(t.schema.metadata), d / e.part,
                           **PARQUET_OPTIONS)
            entries.append(dataclasses.replace(e, bytes=(d / e.part).stat().st_size,
                                               sha256=sha256_file(d / e.part)))
        (d / MANIFEST).write_text("".join(json.dumps(dataclasses.asdict(e)) + "\n"
                                          for e in entries))


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_group, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("truth")
    tape, log = d / "data", d / "truth.json"
    booktape.record(tape, ["RIU2", "SiU2"], duration="1.5s", topology="sequential",
                    source_options={"rate": 3000, "latency_ns": 30_000, "seed": 4,
                                    "log_path": str(log)})
    return tape, log


def test_truth_file_lists_every_state_with_life_and_content(recorded):
    _, log = recorded
    doc = json.loads(log.read_text())
    cfg = SimConfig(**doc["config"])
    tl = doc["symbols"]["RIU2"]
    ev = np.array(tl["events"])
    assert np.array_equal(ev, np.arange(ev[0], ev[-1] + 1))
    assert tl["events"][0] == doc["served"]["RIU2"][0] and tl["events"][-1] == doc["served"]["RIU2"][-1]
    birth, death = np.array(tl["birth_ns"]), np.array(tl["death_ns"])
    assert (death > birth).all() and np.array_equal(birth[1:], death[:-1])
    # Births fall inside the recording's window (on the stamps' wall clock).
    t = booktape.read_arrow(recorded[0], "RIU2", snapshots_only=True)
    tb = t.column("t_before_ns").to_numpy()
    assert tb[0] - 10**8 < birth[len(birth) // 2] < tb[-1] + 10**8
    for k in (0, len(ev) // 2, len(ev) - 1):
        assert tl["hash"][k] == state_hash(book_at(cfg, "RIU2", int(ev[k])))


def test_truth_scores_a_tape_with_no_missed_state_outliving_its_bound(recorded):
    tape, log = recorded
    rep = score_truth(tape, log)
    assert rep.ok and len(rep.scores) == 2
    for s in rep.scores:
        assert s.true_states == s.stored + s.missed and s.stored > 100 and s.unchecked == 0
        assert sum(s.missed_by_lifetime.values()) == s.missed
        assert sum(s.true_by_lifetime.values()) == s.true_states
        assert set(s.missed_by_lifetime) == {b for _, b in BUCKETS}
    r = invoke("truth", str(tape), "--sim-log", str(log))
    assert r.exit_code == 0 and "OK: no missed state outlived its bound" in r.output


def test_truth_names_a_missed_state_that_outlived_a_shrunk_bound(recorded, tmp_path):
    import shutil

    tape = tmp_path / "data"
    shutil.copytree(recorded[0], tape)

    def shrink(t: pa.Table) -> pa.Table:  # claim a 1 ns bound everywhere
        i = t.schema.get_field_index("blind_ns")
        return t.set_column(i, "blind_ns", pa.array(np.ones(t.num_rows, np.int64)))

    rewrite_parts(tape, shrink)
    rep = score_truth(tape, recorded[1], symbol="RIU2")
    assert not rep.ok and all(v.bound_ns == 1 and v.lifetime_ns >= 1 for v in rep.violations)
    assert len(rep.violations) == rep.scores[0].missed
    r = invoke("truth", str(tape), "--sim-log", str(recorded[1]), "--symbol", "RIU2")
    assert r.exit_code == 1
    v = rep.violations[0]
    assert f"state {v.events} lived" in r.output and "FAILED" in r.output


def test_truth_bad_input_is_one_line_and_exit_2(recorded, tmp_path):
    tape, log = recorded
    cut = tmp_path / "cut.json"
    cut.write_bytes(log.read_bytes()[: log.stat().st_size // 2])
    other = tmp_path / "other"
    other_log = tmp_path / "other.json"
    booktape.record(other, "RIU2", duration="0.5s", topology="sequential",
                    source_options={"rate": 3000, "seed": 99, "log_path": str(other_log)})
    old = tmp_path / "old.json"
    d = json.loads(log.read_text())
    old.write_text(json.dumps({"config": d["config"], "served": d["served"]}))
    for args, msg in [
        ((str(tape), "--sim-log", str(cut)), "is truncated or damaged"),
        ((str(tape), "--sim-log", str(old)), "holds no true timeline"),
        ((str(tape), "--sim-log", str(tmp_path / "nope.json")), "no such file"),
        ((str(other), "--sim-log", str(log)), "stored no state inside the window"),
        ((str(tape), "--sim-log", str(other_log), "--symbol", "RIU2"), "stored no state inside"),
    ]:
        r = invoke("truth", *args)
        assert r.exit_code == 2 and r.output.startswith("Error: ") and msg in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1


def test_truth_refuses_another_seed_inside_the_same_window(tmp_path):
    # Two recorders polling one wall-clock window with different seeds: the
    # window fits, the content does not.
    import threading

    tapes = [tmp_path / "a", tmp_path / "b"]
    logs = [tmp_path / "a.json", tmp_path / "b.json"]

    def rec(i: int) -> None:
        booktape.record(tapes[i], "RIU2", duration="1s", topology="sequential",
                        source_options={"rate": 2000, "seed": 20 + i, "log_path": str(logs[i])})

    th = [threading.Thread(target=rec, args=(i,)) for i in range(2)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    r = invoke("truth", str(tapes[0]), "--sim-log", str(logs[1]))
    assert r.exit_code == 2 and "does not describe RIU2/zero" in r.output


def test_truth_says_the_bound_is_unknown_for_a_tape_without_blind_ns(recorded, tmp_path):
    import shutil

    tape = tmp_path / "data"
    shutil.copytree(recorded[0], tape)
    rewrite_parts(tape, lambda t: t.drop_columns(["blind_ns"]))
    r = invoke("truth", str(tape), "--sim-log", str(recorded[1]), "--symbol", "RIU2")
    assert r.exit_code == 2 and "has no blind_ns" in r.output and "unknown" in r.output


def test_truth_of_a_lockstep_recording(tmp_path):
    tape, log = tmp_path / "data", tmp_path / "t.json"
    booktape.record(tape, ["RIU2", "SiU2"], polls=3000, topology="ring",
                    source_options={"lockstep": True, "seed": 8, "log_path": str(log)})
    rep = score_truth(tape, log)
    assert rep.ok
    for s in rep.scores:
        # Every state a call served was stored; those a call stepped over lived 0 ns.
        assert s.missed == s.missed_by_lifetime["<100us"] and s.stored > 500
