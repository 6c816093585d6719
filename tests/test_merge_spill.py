"""``merge`` keeps the collectors' day-long arrays on disk (issue 12): the same numbers back,
mapped or read, and the temporary directory gone after a merge, finished or failed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from booktape.read.merge_bound import CollectorStates
from booktape.read.merge_spill import DaySpill

from .test_truth import CAME_BACK, CAME_BACK_BOOK, CAME_BACK_POLLS, _hand_built


def test_spilled_states_come_back_equal_mapped_or_read_and_close_removes_them(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rng = np.random.default_rng(1)
    cs = CollectorStates(rng.integers(0, 10**12, 1000), rng.integers(0, 10**12, 1000),
                         rng.integers(-1, 10**6, 1000), rng.integers(0, 2**63, 1000, np.uint64),
                         rng.random(1000) < 0.5)
    bare = CollectorStates(cs.tb[:5], cs.ta[:5], cs.blind[:5])
    spill = DaySpill(2)
    assert spill.dir.parent == tmp_path
    spill.put(0, cs)
    spill.put(1, bare)
    for mmap in (True, False):
        got = spill.get(0, mmap=mmap)
        for f in ("tb", "ta", "blind", "hash", "reread"):
            assert np.array_equal(getattr(got, f), getattr(cs, f))
            assert getattr(got, f).dtype == getattr(cs, f).dtype
        assert isinstance(got.tb, np.memmap) == mmap
    one = spill.get(1)
    assert one.hash is None and one.reread is None and np.array_equal(one.tb, bare.tb)
    del got, one
    spill.close()
    assert not spill.dir.exists()


def _spills(d: Path) -> list[Path]:
    return sorted(d.glob("booktape-merge-*"))


def test_merge_leaves_no_spill_behind_finished_or_failed(tmp_path, monkeypatch):
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    _hand_built(tmp_path / "ok", CAME_BACK, CAME_BACK_POLLS, CAME_BACK_BOOK)  # merges
    assert _spills(spills) == []

    from booktape.read.merge_rounds import Rounds

    def boom(self):  # the second pass fails after the spill was written
        raise RuntimeError("disk gone")

    monkeypatch.setattr(Rounds, "run", boom)
    with pytest.raises(RuntimeError, match="disk gone"):
        _hand_built(tmp_path / "bad", CAME_BACK, CAME_BACK_POLLS, CAME_BACK_BOOK)
    assert _spills(spills) == []
