"""Fuzzing every file of a tape (issue 11): damage is reported, never silently different data.

Truncations, bit flips, byte insertions and deletions over parts, manifests,
journals, events, spill files and lock files. For each damaged copy, the
property: every command either returns exactly the original data for the
intact portions or reports the damage (a :class:`BooktapeError`); never
another exception, never a hang (pytest-timeout bounds each test), never
silently different data. ``BOOKTAPE_FUZZ_EXAMPLES`` sets the cases per test
(``make fuzz`` runs thousands; CI a few hundred in all).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import booktape
from booktape.analysis.verify import verify
from booktape.errors import BooktapeError
from booktape.read.listing import event_counts, list_tape
from booktape.tape.recover import recover
from booktape.transport.spill_replay import replay_spills

from .test_journal import three_batch_journal
from .test_spill_replay import killed_session_spill

EXAMPLES = int(os.environ.get("BOOKTAPE_FUZZ_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get(
    "BOOKTAPE_FUZZ_RANDOM"), suppress_health_check=list(HealthCheck), database=None)

pytestmark = pytest.mark.timeout(max(300, EXAMPLES * 3))


@pytest.fixture(autouse=True)
def _quiet_booktape_warnings():
    """Warnings are expected by the thousand here; only here (a module-level setLevel
    silenced booktape's warnings for every test collected with this file)."""
    lg = logging.getLogger("booktape")
    before = lg.level
    lg.setLevel(logging.ERROR)
    yield
    lg.setLevel(before)


# -- mutations ------------------------------------------------------------------------------
@st.composite
def mutation(draw: st.DrawFn) -> Callable[[bytes], bytes]:
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "insert", "delete", "zero"]))
    frac = draw(st.floats(0, 1, allow_nan=False))
    bit = draw(st.integers(0, 7))
    blob = draw(st.binary(min_size=1, max_size=16))
    n = draw(st.integers(1, 64))

    def apply(data: bytes) -> bytes:
        if not data:
            return blob if kind == "insert" else data
        i = min(int(frac * len(data)), len(data) - 1)
        if kind == "flip":
            b = bytearray(data)
            b[i] ^= 1 << bit
            return bytes(b)
        if kind == "truncate":
            return data[:i]
        if kind == "insert":
            return data[:i] + blob + data[i:]
        if kind == "delete":
            return data[:i] + data[i + n:]
        return data[:i] + bytes(min(n, len(data) - i)) + data[i + n:]

    apply.__name__ = f"{kind}@{frac:.4f}"
    return apply


def damage(root: Path, rel: str, fn: Callable[[bytes], bytes]) -> None:
    p = root / rel
    p.write_bytes(fn(p.read_bytes()))


def fresh_copy(base: Path, work: Path) -> Path:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base, work)
    return work


def rows(t: pa.Table) -> pa.Table:
    """Level rows in a canonical order, without the partition keys."""
    t = t.select([c for c in t.column_names if c not in ("symbol", "collector")])
    return t.sort_by([("seq", "ascending"), ("level", "ascending")])


def assert_subset(got: pa.Table, orig: pa.Table) -> None:
    """Every returned row is an original row, whole states only: nothing invented or altered."""
    got = rows(got)
    seqs = pa.array(np.unique(got.column("seq").to_numpy()))
    want = rows(orig.filter(pa.compute.is_in(orig.column("seq"), value_set=seqs)))
    assert got.equals(want), "returned data differs from the original"


def run_or_report(fn: Callable[[], object]) -> object | None:
    """The command's result, or None when it reported damage; anything else fails the test."""
    try:
        return fn()
    except BooktapeError:
        return None


# -- a sealed tape: parts, manifests, events, lock ------------------------------------------
@pytest.fixture(scope="module")
def sealed(tmp_path_factory) -> tuple[Path, pa.Table, list[str]]:
    root = tmp_path_factory.mktemp("fz") / "sealed"
    booktape.record(root, "RIU2", polls=400, rotate_bytes="60KB", topology="sequential",
                    source_options={"lockstep": True, "levels": 10})
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert sum(f.endswith(".parquet") for f in files) >= 2
    return root, booktape.read_arrow(root), files


@given(data=st.data())
@FUZZ
def test_fuzz_sealed_tape(sealed, tmp_path_factory, data):
    base, orig, files = sealed
    target = data.draw(st.sampled_from(files), label="file")
    fn = data.draw(mutation(), label="mutation")
    root = fresh_copy(base, tmp_path_factory.getbasetemp() / "fz-work")
    damage(root, target, fn)
    strict_ok = target.endswith(("events.jsonl", ".lock")) or "_events" in target
    got = run_or_report(lambda: booktape.read_arrow(root))
    if got is not None:
        # Read without complaint: exactly the original (parts found even without manifest lines).
        assert rows(got).equals(rows(orig)), f"{target} {fn.__name__}: silently different data"
    skipped = run_or_report(lambda: booktape.read_arrow(root, skip_damaged=True))
    if skipped is not None:
        assert_subset(skipped, orig)
    if strict_ok:  # events and lock files never affect the data
        assert got is not None
    if not target.endswith((".parquet", ".jsonl")):
        return  # lock files: the reads above are the property
    res = run_or_report(lambda: verify(root))
    if target.endswith(".parquet") and (root / target).read_bytes() != (base / target).read_bytes():
        assert res is None or not res.ok, f"verify missed {fn.__name__} in {target}"
    run_or_report(lambda: list_tape(root))
    run_or_report(lambda: event_counts(root))


# -- a journal with three checksummed batches ------------------------------------------------
@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> tuple[Path, pa.Table, str]:
    root = tmp_path_factory.mktemp("fzj") / "journal"
    j, batches = three_batch_journal(root)
    orig = booktape.read_arrow(root)
    return root, orig, str(j.relative_to(root))


@given(fn=mutation())
@FUZZ
def test_fuzz_journal(journal, tmp_path_factory, fn):
    base, orig, rel = journal
    root = fresh_copy(base, tmp_path_factory.getbasetemp() / "fzj-work")
    damage(root, rel, fn)
    got = run_or_report(lambda: booktape.read_arrow(root))
    if got is not None:
        # Quiet: the original, or a torn tail cut off (a prefix of whole batches).
        assert_subset(got, orig)
        seq = np.unique(rows(got).column("seq").to_numpy())
        assert np.array_equal(seq, np.arange(seq.size)), "a quiet read lost a middle batch"
    skipped = run_or_report(lambda: booktape.read_arrow(root, skip_damaged=True))
    if skipped is not None:
        assert_subset(skipped, orig)
    run_or_report(lambda: verify(root))
    run_or_report(lambda: list_tape(root))
    done = run_or_report(lambda: recover(root, 0))
    after = run_or_report(lambda: booktape.read_arrow(root, skip_damaged=True))
    if after is not None:
        assert_subset(after, orig)
        if skipped is not None and done:
            # Recovery keeps every batch that verified.
            assert rows(after).num_rows >= rows(skipped).num_rows
    assert not list(root.rglob("*.tmp"))


# -- a spill file of a killed session ------------------------------------------------------------
@pytest.fixture(scope="module")
def spill(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("fzs") / "spill"
    p = killed_session_spill(root, "20990101T000000-fuzz01", range(0, 40), 1_800_000_000 * 10**9)
    clean = fresh_copy(root, root.parent / "clean")
    replay_spills(clean, 0)
    return root, str(p.relative_to(root))


@given(fn=mutation())
@FUZZ
def test_fuzz_spill_file(spill, tmp_path_factory, fn):
    base, rel = spill
    orig = booktape.read_arrow(base.parent / "clean")
    root = fresh_copy(base, tmp_path_factory.getbasetemp() / "fzs-work")
    damage(root, rel, fn)
    res = run_or_report(lambda: replay_spills(root, 0))
    got = run_or_report(lambda: booktape.read_arrow(root))
    if got is not None and got.num_rows:
        assert_subset(got, orig)
    if res:
        [r] = res  # type: ignore[misc]
        if not r.damaged and not r.kept:
            n = len(np.unique(got.column("seq").to_numpy())) if got is not None else 0
            # No damage named: every state came back (a cut at a frame boundary is a torn tail).
            assert n == sum(r.states.values())
