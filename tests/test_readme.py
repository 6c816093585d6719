"""Every command block of README.md runs as written (issue 14: the redundant-collector
example failed as written), with durations shortened so the whole file takes a minute.

``sh`` blocks run in bash, ``python`` blocks in a fresh interpreter, in README order.
A block whose first command records starts in an empty directory; any other gets a copy
of the tape the README's first recording block made (plus ``old_csvs/``, the notebook
CSVs the analysis examples read). Lines needing what this machine lacks (a Windows
terminal, a NATS server, minutes of benchmarking) are skipped by the rules in SKIP,
each with its reason and the test that covers it instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

#: Line pattern -> why it is not run here (and what covers it).
SKIP = {
    r"^make ": "builds the environment / runs the whole suite",
    r"--source mt5\b": "needs a Windows terminal (test_source_mt5 runs the emulator in its place)",
    r"--source mt5linux|booktape emulate": "a server that runs until Ctrl-C (test_source_mt5linux)",
    r"--publish|booktape sink|--compare data": "needs a NATS server (test_bus)",
    r"booktape bench|run_bench|make_config|load_results\(\"bench": "minutes of runs (test_cli_bench)",
    r"read_stream\(": "needs a --ticks recording from an MT5 source (test_ticks)",
    r"my-forts\.toml|booktape\.toml": "a file the user writes (the service and config tests)",
    r"^sudo |systemctl|journalctl": "installs a system service",
    r"^curl ": "scrapes a live recorder's metrics port (test_service scrapes it over a socket)",
}
RECORDS = re.compile(r"^(T=\S+\s+)?booktape record|booktape\.record\(")


def blocks() -> list[tuple[int, str, list[str]]]:
    """(line, language, lines) of every ``sh``/``python`` block."""
    out, cur, lang, start = [], None, "", 0
    for i, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            if cur is None:
                lang, start, cur = line[3:].strip(), i, []
            else:
                if lang in ("sh", "python"):
                    out.append((start, lang, cur))
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


def shorten(line: str, concurrent: bool = False) -> str:
    # Recorders run side by side must overlap although each spends seconds starting up
    # on a loaded machine (the duration counts from the call).
    d = "10s" if concurrent else "2s"
    line = re.sub(r"--duration \S+", f"--duration {d}", line)
    line = re.sub(r"duration=\"[^\"]+\"", 'duration="2s"', line)
    if line.lstrip().startswith("booktape record") and not re.search(r"--(duration|until|polls)",
                                                                      line):
        line = line.replace("booktape record", "booktape record --duration 2s", 1)
    return line


def skipped(line: str) -> str | None:
    return next((why for pat, why in SKIP.items() if re.search(pat, line)), None)


def runnable(lang: str, lines: list[str]) -> list[str]:
    concurrent = lang == "sh" and any(re.search(r"&\s*(#.*)?$", x) for x in lines)
    keep = []
    for line in lines:
        if skipped(line):
            continue
        if lang == "sh":
            line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
        keep.append(shorten(line, concurrent))
    return [x for x in keep if x.strip()]


def move_times(text: str, tape: Path) -> str:
    """The README's example times are on 2026-11-26 from 10:00; move them, keeping their
    distances, so that 10:00 is the recording's first minute."""
    import datetime as dt

    import booktape

    t = booktape.read_arrow(tape, columns=["t_before_ns"], snapshots_only=True)
    first = dt.datetime.fromtimestamp(int(t.column("t_before_ns").to_numpy().min()) // 10**9,
                                      tz=dt.UTC).replace(second=0, tzinfo=None)
    shift = first - dt.datetime(2026, 11, 26, 10, 0)

    def move(m: re.Match[str]) -> str:
        return (dt.datetime.fromisoformat(m.group(0)) + shift).strftime("%Y-%m-%dT%H:%M")

    return re.sub(r"2026-11-26T\d\d:\d\d", move, text)


@pytest.mark.skipif(sys.platform == "win32", reason="the README's sh blocks need bash")
def test_readme_every_command_block_runs(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               COLUMNS="200")
    tape: Path | None = None
    ran = 0
    for line, lang, lines in blocks():
        code = runnable(lang, lines)
        if not code:
            continue
        cwd = tmp_path / f"block-{line}"
        cwd.mkdir()
        if not RECORDS.search(code[0]):
            assert tape is not None, f"README line {line}: a block before any recording needs data"
            shutil.copytree(tape, cwd / "data")
            shutil.copytree(tape.parent / "old_csvs", cwd / "old_csvs")
            # The README's example times are a day in 2026; use the recording's instead.
            code = [move_times(x, tape) for x in code]
        text = "\n".join(code)
        if lang == "sh":
            cmd = ["bash", "-e", "-o", "pipefail", "-c", text]
        else:
            cmd = [sys.executable, "-c", text]
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"README line {line} ({lang}) failed:\n{text}\n{p.stdout}\n{p.stderr}"
        ran += 1
        if tape is None and (cwd / "data").is_dir():
            tape = cwd / "data"
            (cwd / "old_csvs").mkdir()
            subprocess.run(["booktape", "export", "data", "--csv", "old_csvs/0.csv", "--symbol",
                            "RIU2", "--collector", "zero"], cwd=cwd, env=env, check=True,
                           capture_output=True)
    assert ran >= 6


def test_readme_skips_name_a_reason_and_leave_most_lines_running() -> None:
    lines = [x for _, _, ls in blocks() for x in ls if x.strip()]
    skips = [x for x in lines if skipped(x)]
    assert len(skips) < len(lines) / 2


def test_readme_pyarrow_one_liner_reads_a_tape_with_a_stray_file(tmp_path: Path) -> None:
    (one_liner,) = [x for _, lang, ls in blocks() if lang == "python" for x in ls
                    if "pyarrow.dataset" in x]
    subprocess.run([sys.executable, "-m", "booktape", "record", "--out", "data", "--duration",
                    "1s", "--quiet"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    (tmp_path / "data" / "notes.txt").write_text("a note a person left in the tape\n")
    (tmp_path / "data" / "symbol=RIU2" / "notes.txt").write_text("another\n")
    code = one_liner.replace(";  ds.dataset(", ";  t = ds.dataset(", 1) + "\nassert t.num_rows > 0"
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("line", ["booktape record --out data --collector one --interval 50ms"])
def test_readme_recording_without_an_end_gets_a_short_duration(line: str) -> None:
    assert shorten(line).startswith("booktape record --duration 2s ")
