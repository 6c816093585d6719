"""What a cron job relies on: filters that match nothing fail with exit 2 naming what
exists, and an interrupted command exits 130 with one line (issue 14)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import booktape
from booktape.cli import cli
from booktape.errors import BadArgument, TapeNotFound

from .analysis_tapes import clean_tape, coll_dir
from .helpers import ctrl_c_reaches_children


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tape with collectors ``zero`` and ``one`` of symbol RIU2."""
    tape = clean_tape(tmp_path_factory.mktemp("scripts") / "data")
    shutil.copytree(coll_dir(tape), coll_dir(tape).with_name("collector=one"))
    return tape


@pytest.mark.parametrize("cmd", [
    ["analyze", "--json"], ["analyze"], ["verify"], ["ls"], ["export", "--csv", "{tmp}/x.csv"],
])
def test_cli_unknown_collector_exits_2_naming_collectors_here(two: Path, tmp_path: Path,
                                                             cmd: list[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in cmd]
    r = run(args[0], str(two), *args[1:], "--collector", "zeroo")
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines() == [
        f"Error: no collector 'zeroo' in {two}; collectors here: one, zero"]
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("cmd", [["analyze", "--json"], ["ls"], ["export", "--csv", "{tmp}/x.csv"],
                                 ["verify"]])
def test_cli_unknown_symbol_exits_2_naming_symbols_here(two: Path, tmp_path: Path,
                                                        cmd: list[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in cmd]
    r = run(args[0], str(two), *args[1:], "--symbol", "NOPE")
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"Error: no symbol 'NOPE' in {two}; symbols here: RIU2")


@pytest.mark.parametrize("cmd", [["analyze"], ["export", "--csv", "{tmp}/x.csv"]])
def test_cli_start_after_end_exits_2(two: Path, tmp_path: Path, cmd: list[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in cmd]
    r = run(args[0], str(two), *args[1:], "--start", "2026-11-26T11:00", "--end",
            "2026-11-26T10:00")
    assert r.exit_code == 2, r.output
    assert "Error: --start 2026-11-26T11:00:00+00:00 is not before --end" in r.output


def test_cli_analyze_window_with_no_states_exits_2(two: Path) -> None:
    r = run("analyze", str(two), "--start", "2001-01-01", "--end", "2001-01-02", "--json")
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"Error: no snapshots in {two} match --start 2001-01-01")


def test_cli_analyze_real_collector_still_passes(two: Path) -> None:
    r = run("analyze", str(two), "--collector", "one", "--json")
    assert r.exit_code == 0, r.output


def test_read_unknown_symbol_raises_tape_not_found_as_documented(two: Path) -> None:
    with pytest.raises(TapeNotFound, match="symbols here: RIU2"):
        booktape.read(two, symbol="NOPE")
    with pytest.raises(TapeNotFound, match="collectors here: one, zero"):
        booktape.read(two, collector="zeroo")
    with pytest.raises(BadArgument, match="not before"):
        booktape.read(two, start="2026-11-26T11:00", end="2026-11-26T11:00")
    assert len(booktape.read(two, symbol="RIU2", collector="one")) > 0


def _big_tape(tmp_path: Path) -> Path:
    """Enough parts that analyze runs for seconds: the clean tape's collector copied 40 times."""
    tape = clean_tape(tmp_path / "data")
    for i in range(40):
        shutil.copytree(coll_dir(tape), coll_dir(tape).with_name(f"collector=c{i:02d}"))
    return tape


def _working(pid: int, under: Path) -> bool:
    """The process has a file under ``under`` open: past start-up, doing the work."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(under))
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False
@pytest.mark.wine_slow("skips on Windows (its skipif says why): marked, it runs at the lowest "
                       "versions on Linux with the other wine_slow tests")
@pytest.mark.skipif(sys.platform == "win32" or not Path("/proc/self/fd").is_dir(),
                    reason="watches /proc for open files")
@pytest.mark.parametrize("cmd", ["analyze", "bench"])
def test_cli_ctrl_c_exits_130_with_one_line(tmp_path: Path, cmd: str) -> None:
    if cmd == "analyze":
        tape = _big_tape(tmp_path)
        args = ["analyze", str(tape), "--png", str(tmp_path / "png")]
        busy = tape
    else:
        args = ["bench", "--topologies", "sequential", "--thresholds", "16MB", "--latency", "0",
                "--duration", "20s", "--repeat", "1", "--out", str(tmp_path / "b")]
        busy = tmp_path / "b"
    with ctrl_c_reaches_children():
        p = subprocess.Popen([sys.executable, "-m", "booktape", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    # Interrupt the work, not Python's start-up (a loaded machine takes seconds to import).
    deadline = time.monotonic() + 90
    while not _working(p.pid, busy) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.poll() is None, p.communicate()
    os.killpg(p.pid, signal.SIGINT)  # the terminal sends Ctrl-C to the whole group
    t0 = time.monotonic()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    # Within ~1 s on a quiet machine; the margin is for a loaded one.
    assert time.monotonic() - t0 < 15, err
    # One line of ours; bench's progress bar may leave its last state above it.
    assert err.strip().splitlines()[-1] == "Interrupted.", err
    assert "Traceback" not in err and "Aborted" not in err and err.count("Interrupted") == 1


def _importing(pid: int) -> bool:
    """The process maps a shared library from site-packages: booktape's own code runs.

    Python's start-up before it (its own imports, ``site``) is not ours to handle; the
    first such library (numpy's, pyarrow's) loads inside booktape's CLI imports.
    """
    try:
        return "site-packages" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(sys.platform == "win32" or not Path("/proc/self/maps").is_file(),
                    reason="sends POSIX SIGINT to a process group, watches /proc for libraries")
def test_analyze_ctrl_c_at_any_moment_exits_130_with_one_line(tmp_path: Path) -> None:
    """SIGINT at moments from the CLI's imports through the scan, the analysis and the plots.

    Each ends the run within seconds with one line and exit 130. It did not: during the
    imports (seconds on a loaded machine) a traceback and exit -2; and a Ctrl-C caught
    after it passed through a dataclass's generated code made ``python -m`` kill itself
    with SIGINT at exit (-2 after "Interrupted."), see ``forget_caught_interrupt``.
    """
    tape = _big_tape(tmp_path)
    bad = []
    for i, moment in enumerate((0.0, 0.1, 0.25, 0.5, 0.8, 1.2, 1.8, 2.6, 4.0, 6.0)):
        with ctrl_c_reaches_children():
            p = subprocess.Popen([sys.executable, "-m", "booktape", "analyze", str(tape), "--png",
                                  str(tmp_path / f"png{i}")], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + 90
        while not _importing(p.pid) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(moment)
        if p.poll() is not None:
            bad.append((moment, "finished before the signal", p.communicate()))
            continue
        os.killpg(p.pid, signal.SIGINT)
        t0 = time.monotonic()
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            bad.append((moment, "still running 60 s after SIGINT", p.communicate()))
            continue
        took = time.monotonic() - t0
        if p.returncode != 130 or err.strip() != "Interrupted." or took > 15:
            bad.append((moment, p.returncode, round(took, 1), err[-2000:]))
    assert not bad, bad


def test_cli_heatmap_unknown_collector_names_the_collectors_here(two: Path, tmp_path: Path) -> None:
    r = run("heatmap", str(two), "--symbol", "RIU2", "--collector", "zeroo", "--png",
            str(tmp_path / "h.png"))
    assert r.exit_code == 2
    assert r.output.strip() == (f"Error: no collector 'zeroo' for RIU2 in {two}; "
                                "collectors here: one, zero")
