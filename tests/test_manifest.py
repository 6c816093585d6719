"""Manifest lines checked against their schema; parts found without them (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import booktape
from booktape.tape import manifest as manifest_mod
from booktape.tape.layout import partition_dirs
from booktape.tape.manifest import load_manifest, read_manifest
from booktape.tape.tape import Tape


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("m") / "data"
    booktape.record(root, ["RIU2", "SiU2"], polls=1500, rotate_bytes="200KB",
                    source_options={"lockstep": True}, topology="sequential")
    return root


def copy(recorded: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "data"
    shutil.copytree(recorded, dst)
    return dst


BAD_LINES = [
    (b'\xff{"part": "x"}', "not UTF-8"),
    (b"42", "is int"),
    (b"null", "is NoneType"),
    (b'{"part": "part-000001.parquet"}', "has no 'rows'"),
    (None, "rows='x'"),
]


@pytest.mark.parametrize("line,why", BAD_LINES)
def test_a_damaged_manifest_line_is_a_problem_naming_file_and_line(recorded, tmp_path, line, why):
    root = copy(recorded, tmp_path)
    d = partition_dirs(root, "RIU2")[0]
    mf = d / "_manifest.jsonl"
    lines = mf.read_bytes().splitlines()
    assert len(lines) >= 2
    if line is None:
        e = json.loads(lines[0])
        e["rows"] = "x"
        line = json.dumps(e).encode()
    lines[0] = line
    mf.write_bytes(b"\n".join(lines) + b"\n")
    m = load_manifest(d)
    [p] = m.problems
    assert p.line == 1 and p.file == mf and why in p.message and not p.torn_tail
    assert len(m.entries) == len(lines) - 1
    # The part the damaged line listed is still found, from its own metadata, with a warning.
    full = booktape.read(recorded, "RIU2")
    got = booktape.read(root, "RIU2")
    assert got.equals(full)
    with pytest.raises(booktape.BooktapeError, match="line 1"):
        booktape.read(root, "RIU2", strict=True)


def test_manifest_that_is_a_directory_is_reported_and_parts_still_read(recorded, tmp_path):
    root = copy(recorded, tmp_path)
    d = partition_dirs(root, "RIU2")[0]
    (d / "_manifest.jsonl").unlink()
    (d / "_manifest.jsonl").mkdir()
    m = load_manifest(d)
    assert m.problems[0].line == 0 and "cannot be read" in m.problems[0].message
    assert booktape.read(root, "RIU2").equals(booktape.read(recorded, "RIU2"))


def test_an_emptied_manifest_never_drops_parts_silently(recorded, tmp_path, caplog):
    root = copy(recorded, tmp_path)
    d = partition_dirs(root, "RIU2")[0]
    (d / "_manifest.jsonl").write_bytes(b"")
    got = booktape.read(root, "RIU2")
    assert got.equals(booktape.read(recorded, "RIU2"))
    assert "in no manifest line" in caplog.text
    with pytest.raises(booktape.BooktapeError, match="in no manifest line"):
        booktape.read(root, "RIU2", strict=True)


def test_torn_last_line_is_benign_and_next_entry_starts_on_a_new_line(recorded, tmp_path):
    root = copy(recorded, tmp_path)
    d = partition_dirs(root, "RIU2")[0]
    mf = d / "_manifest.jsonl"
    good = read_manifest(d)
    mf.write_bytes(mf.read_bytes() + b'{"part": "part-0000')
    m = load_manifest(d)
    assert m.entries == good and m.problems[0].torn_tail
    manifest_mod.add_entry(d, good[0].__class__(**{**good[0].__dict__, "part": "part-999999.parquet"}))
    assert [e.part for e in read_manifest(d)][-1] == "part-999999.parquet"


def test_summary_reads_each_manifest_once(recorded, monkeypatch):
    from booktape.events import read_events
    from booktape.read.summary import summarize
    from booktape.tape import tape as tape_mod

    calls: list[Path] = []
    real = tape_mod.load_manifest

    def counting(d: Path):
        calls.append(d)
        return real(d)

    monkeypatch.setattr(tape_mod, "load_manifest", counting)
    monkeypatch.setattr(manifest_mod, "load_manifest", counting)
    session = next(e["detail"]["session"] for e in read_events(recorded)
                   if e["kind"] == "session_start")
    s = summarize(Tape(recorded), "zero", session)
    assert s.parts_sealed >= 2 and len(s.symbols) == 2
    assert sorted(calls) == sorted(set(calls)) == partition_dirs(recorded)
