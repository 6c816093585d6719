"""Bad output paths are a one-line ``Error:`` (exit 2) before any work, never a traceback
(issue 14), and the other bad option values the issue names."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from booktape.cli import cli

from .analysis_tapes import clean_tape


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_tape(tmp_path_factory.mktemp("outpaths") / "data")


def run(*args: str):  # type: ignore[no-untyped-def]
    # catch_exceptions=False: a traceback fails the test instead of hiding in r.exception.
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


CASES = [
    (["export", "{tape}", "--csv", "{tmp}/nodir/x.csv"], "Error: --csv {tmp}/nodir/x.csv: the folder"
     " {tmp}/nodir does not exist; create it first"),
    (["analyze", "{tape}", "--html", "{tmp}/nodir/r.html"], "Error: --html {tmp}/nodir/r.html: the "
     "folder {tmp}/nodir does not exist"),
    (["analyze", "{tape}", "--html", "{tmp}"], "Error: --html {tmp} is a directory; give a file name"),
    (["analyze", "{tape}", "--png", "{tmp}/file"], "Error: --png {tmp}/file is a file; give a directory"),
    (["analyze", "{tape}", "--png", "{tmp}/file/sub"], "Error: --png {tmp}/file/sub: {tmp}/file is a "
     "file, not a directory"),
    (["heatmap", "{tape}", "--symbol", "RIU2", "--png", "{tmp}"], "Error: --png {tmp} is a directory"),
    (["heatmap", "{tape}", "--symbol", "RIU2", "--html", "{tmp}/nodir/h.html"], "Error: --html"),
    (["merge", "{tape}", "--collectors", "zero,one", "--out", "{tmp}/file"],
     "Error: --out {tmp}/file is a file; give a directory"),
    (["bench", "--out", "{tmp}/file", "--duration", "1s"], "Error: --out {tmp}/file is a file"),
    (["record", "--out", "", "--duration", "1s"], "Error: --out is empty; give the tape directory"),
    (["analyze", "{tape}", "--stall-factor", "-1"], "Error: invalid --stall-factor -1.0: must be "
     "positive"),
    (["heatmap", "{tape}", "--symbol", "RIU2", "--window", "0"], "Error: invalid --window '0': must "
     "be positive"),
    (["record", "--out", "{tmp}/t", "--until", "2001-01-01T10:00"], "Error: invalid --until "
     "'2001-01-01T10:00': that time has passed"),
    (["emulate", "--port", "99999"], "Invalid value for '--port': 99999 is not in the range"),
]


@pytest.mark.parametrize("args, message", CASES)
def test_cli_bad_output_or_value_exits_2_before_working(tape: Path, tmp_path: Path,
                                                        args: list[str], message: str) -> None:
    (tmp_path / "file").write_text("not a directory")

    def fill(s: str) -> str:
        # {tmp}/a/b as this platform writes it (C:\\...\\a\\b on Windows), as a user types it.
        s = re.sub(r"\{tmp\}((?:/[\w.]+)*)", lambda m: str(Path(f"{tmp_path}{m.group(1)}")), s)
        return s.replace("{tape}", str(tape))

    t0 = time.monotonic()
    r = CliRunner().invoke(cli, [fill(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 2, r.output
    assert fill(message) in r.output
    assert "Traceback" not in r.output
    assert time.monotonic() - t0 < 15  # checked before working (seconds on a loaded box)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing written
