"""``booktape.analysis.verify`` on real tapes with known injected defects."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from booktape.analysis import verify
from booktape.errors import TapeNotFound

from .analysis_tapes import (
    _write_manifest,
    clean_tape,
    coll_dir,
    corrupt_byte,
    duplicate_part,
    middle_seq,
    parts,
    remove_seq,
    swap_rows,
)
from .analysis_tapes import (
    problem_kinds as kinds,
)


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    return clean_tape(tmp_path / "data")


def test_verify_clean_tape_has_no_problems(tape: Path) -> None:
    res = verify(tape)
    assert res.ok, res.problems
    assert res.parts == 3 and res.journals == 0
    assert res.snapshots == sum(e.snapshots for e in parts(tape))
    assert res.rows == sum(e.rows for e in parts(tape))


def test_verify_corrupted_byte_names_the_part(tape: Path) -> None:
    p = corrupt_byte(tape, parts(tape)[1].part)
    res = verify(tape)
    assert "checksum" in kinds(res)
    assert any(x.file == str(p) and p.name in x.message for x in res.problems)


def test_verify_removed_seq_is_a_gap_inside_its_part(tape: Path) -> None:
    k = middle_seq(tape)
    remove_seq(tape, k)
    res = verify(tape)
    assert kinds(res) == {"seq-gap"}
    (p,) = res.problems
    assert f"{k - 1} → {k + 1}" in p.message and parts(tape)[1].part in p.message


def test_verify_duplicated_part_repeats_seq_across_parts(tape: Path) -> None:
    e = parts(tape)[1]
    new = duplicate_part(tape, e.part)
    res = verify(tape)
    assert kinds(res) == {"seq-duplicate"}
    (p,) = res.problems
    assert new in p.message and e.part in p.message and f"{e.seq_min}..{e.seq_max}" in p.message


def test_verify_swapped_rows_go_back_in_seq(tape: Path) -> None:
    k = middle_seq(tape)
    swap_rows(tape, k)
    res = verify(tape)
    assert "seq-order" in kinds(res)
    assert any(f"{k + 1} → {k}" in p.message for p in res.problems)


def test_verify_part_missing_from_disk_and_manifest_mismatch(tape: Path) -> None:
    d = coll_dir(tape)
    e1, e2 = parts(tape)[1], parts(tape)[2]
    (d / e1.part).unlink()
    _write_manifest(d, [e if e.part != e2.part else dataclasses.replace(e, rows=e.rows + 1)
                        for e in parts(tape)])
    res = verify(tape)
    assert {"missing-file", "rows", "seq-gap"} <= kinds(res)


def test_verify_unsealed_journal_and_orphan_part_are_listed(tape: Path) -> None:
    d = coll_dir(tape)
    shutil.copy(d / parts(tape)[0].part, d / "part-000009.parquet")
    (d / "_part-000010.arrows").write_bytes(b"")
    res = verify(tape)
    assert {"orphan", "open-journal"} <= kinds(res)
    files = {Path(p.file).name for p in res.problems}
    assert {"part-000009.parquet", "_part-000010.arrows"} <= files


def test_verify_path_without_tape_raises(tmp_path: Path) -> None:
    with pytest.raises(TapeNotFound):
        verify(tmp_path)


def test_verify_and_recover_say_what_a_foreign_parquet_file_is(tape: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from booktape.cli import cli

    d = coll_dir(tape)
    pq.write_table(pa.table({"x": [1, 2, 3]}), d / "part-000042.parquet")
    (d / "part-000043.parquet").write_bytes(b"not parquet at all\n")  # 19 bytes, also on Windows
    shutil.copy(d / parts(tape)[0].part, d / "part-000044.parquet")  # a booktape part, unlisted
    res = verify(tape)
    msg: dict[str, str] = {}
    for p in res.problems:  # a file can have several (the copy also repeats seq of part 1)
        name = Path(p.file).name
        msg[name] = f"{msg[name]} | {p.message}" if name in msg else p.message
    assert msg["part-000042.parquet"].startswith(
        "part-000042.parquet is a Parquet file booktape did not write (3 rows; columns x; no "
        "booktape metadata)")
    assert msg["part-000043.parquet"].startswith("part-000043.parquet is not a Parquet file (19 "
                                                 "bytes")
    assert "a booktape part (collector zero, seq 0.." in msg["part-000044.parquet"]
    assert "run `booktape verify --repair`" in msg["part-000044.parquet"]
    assert not any("run `booktape recover`" in m for m in msg.values())
    r = CliRunner().invoke(cli, ["recover", str(tape)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "nothing to recover; but:"
    assert "part-000042.parquet is a Parquet file booktape did not write" in r.output
    assert len(lines) == 4


def test_verify_unlisted_part_with_its_journal_says_run_recover(tape: Path) -> None:
    d = coll_dir(tape)
    shutil.copy(d / parts(tape)[0].part, d / "part-000009.parquet")
    shutil.copy(d / parts(tape)[0].part, d / "_part-000009.arrows")
    msg = {Path(p.file).name: p.message for p in verify(tape).problems if p.kind == "orphan"}
    assert "run `booktape recover`" in msg["part-000009.parquet"]


def test_verify_checks_journal_batches_and_lists_quarantined_ones(tmp_path: Path) -> None:
    from booktape.tape.recover import recover

    from .test_journal import batch_offsets, flip, three_batch_journal

    j, _ = three_batch_journal(tmp_path)
    a, b = batch_offsets(j)[1]
    flip(j, b - 40)
    res = verify(tmp_path)
    [p] = [p for p in res.problems if p.kind == "journal-batch"]
    assert "batch 2" in p.message and "seq 30..59" in p.message and p.file == str(j)
    recover(tmp_path, 0)
    res = verify(tmp_path)
    [q] = [p for p in res.problems if p.kind == "quarantined"]
    assert "batch 2 (seq 30..59)" in q.message and q.file.endswith(".arrows.quarantined")


@pytest.fixture
def sealed_tape(tmp_path: Path) -> Path:
    """A tape sealed by booktape itself (the fixture above rewrites parts by hand)."""
    import booktape

    root = tmp_path / "sealed"
    booktape.record(root, "RIU2", polls=1500, rotate_bytes="200KB", topology="sequential",
                    source_options={"lockstep": True})
    return root


def test_verify_repair_rebuilds_a_damaged_manifest_from_the_parts(sealed_tape: Path) -> None:
    tape = sealed_tape
    d = coll_dir(tape)
    good = parts(tape)
    mf = d / "_manifest.jsonl"
    lines = mf.read_bytes().splitlines()
    mf.write_bytes(b"\n".join([lines[0], b"null", b'{"rows": "x"}']) + b"\n")
    res = verify(tape)
    assert {"manifest", "orphan"} <= kinds(res)
    assert any("line 2" in p.message for p in res.problems)
    res = verify(tape, repair=True)
    assert res.ok, res.problems
    assert res.repairs and "relisted" in res.repairs[0]
    assert (d / "_manifest.jsonl.damaged").exists()
    again = parts(tape)
    assert [(e.part, e.sha256, e.rows, e.seq_min, e.seq_max) for e in again] == \
        [(e.part, e.sha256, e.rows, e.seq_min, e.seq_max) for e in good]


def test_verify_repair_refuses_a_part_whose_pages_are_damaged(sealed_tape: Path) -> None:
    tape = sealed_tape
    d = coll_dir(tape)
    victim = parts(tape)[1]
    _write_manifest(d, [e for e in parts(tape) if e.part != victim.part])
    corrupt_byte(tape, victim.part)
    res = verify(tape, repair=True)
    assert "left unlisted" in res.repairs[0] and victim.part in res.repairs[0]
    assert not res.ok
