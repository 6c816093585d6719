"""What a Windows box does to a recorder (issue 10), each with real processes.

Most run on every platform (the behaviour is the same, Windows is where it
used to break) and so also in ``make test-windows``; the ones that need the
real ``MetaTrader5`` package or a second drive letter skip elsewhere, with
the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import booktape
from booktape.analysis.verify import verify

from .conftest import run_booktape
from .helpers import under_wine

JOURNALS = "symbol=*/date=*/collector=*/_part-*.arrows"


def start_recorder(tape: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out", str(tape),
                             "--quiet", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_journal(p: subprocess.Popen[str], tape: Path, timeout: float = 240) -> None:
    """Wine on a loaded machine takes a minute or more to start a recorder and its helpers."""
    t_end = time.monotonic() + timeout
    while not list(tape.glob(JOURNALS)):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < t_end, "no journal"
        time.sleep(0.05)


def one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    """The one ``Error:`` line, last on stderr (a progress line may come before it)."""
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in p.stderr, p.stderr
    assert [ln for ln in lines if ln.startswith("Error: ")] == lines[-1:], p.stderr
    return lines[-1]


def test_seal_while_a_reader_holds_the_journal_open_loses_nothing(tape):
    """Windows refuses to delete a file open without share-delete (Python's open,
    pyarrow): each journal is held open across its seal; the seal waits it out."""
    p = start_recorder(tape, "--duration", "8s", "--rotate-every", "1s", "--interval", "2ms")
    held: set[str] = set()
    while p.poll() is None:
        for j in tape.glob(JOURNALS):
            if j.name in held:
                continue
            try:
                with open(j, "rb") as f:  # a reader that is slow to let go
                    f.read(64)
                    held.add(j.name)
                    time.sleep(1.2)  # longer than --rotate-every: the seal comes meanwhile
            except FileNotFoundError:
                pass
        time.sleep(0.02)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    s = json.loads(out)
    assert s["ok"] and s["lost"] == 0 and s["parts_sealed"] >= 2
    assert held  # at least one journal was open across its seal
    assert not list(tape.glob(JOURNALS)), "a sealed journal was left behind"
    res = verify(tape)
    assert res.ok, res.problems
    assert res.snapshots == s["stored"]


def test_collector_lock_refuses_a_second_recorder_and_is_released_when_the_holder_is_killed(tape):
    p = start_recorder(tape, "--duration", "120s", "--sync-every", "100ms")
    try:
        wait_for_journal(p, tape)
        second = run_booktape("record", "--out", str(tape), "--duration", "1s", "--quiet")
        assert second.returncode == 2
        assert "another recorder is writing collector 'zero'" in one_error_line(second)
        time.sleep(0.5)  # some rows reach the journal and are fsync'd
    finally:
        psutil.Process(p.pid).kill()  # SIGKILL / TerminateProcess: no clean-up at all
        p.communicate(timeout=60)
    # Its helpers notice their parent is gone and exit; the lock went with the recorder.
    third = run_booktape("record", "--out", str(tape), "--duration", "1s", "--quiet", "--json",
                         timeout=180)
    assert third.returncode == 0, third.stderr
    s = json.loads(third.stdout)
    assert s["ok"]
    assert not list(tape.glob(JOURNALS))
    # The killed session's fsync'd states are on the tape too: sealed by this recorder's
    # recovery, or (Windows) by the killed recorder's saver, which outlives it briefly.
    res = verify(tape)
    assert res.ok, res.problems
    df = booktape.read(tape)
    assert df["seq"].nunique() > s["stored"]
    assert df.groupby("seq").size().index.is_monotonic_increasing
    assert not df.duplicated(["seq", "level"]).any()


def test_record_into_a_path_with_spaces_and_cyrillic_letters(tmp_path):
    tape = tmp_path / "Данные" / "стакан RTS"
    rec = run_booktape("record", "--out", str(tape), "--polls", "2000", "--sim-lockstep",
                       "--json", check=True)
    assert json.loads(rec.stdout)["ok"]
    for cmd in (["ls", str(tape)], ["verify", str(tape)], ["analyze", str(tape)]):
        r = run_booktape(*cmd)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (cmd, r.stderr)
    assert len(booktape.read(tape)) > 0


def _other_drive(tmp_path: Path) -> Path | None:
    """A folder on a drive letter other than the temporary folder's, if there is one."""
    here = Path(__file__).resolve().parent.parent
    if os.path.splitdrive(str(here))[0].lower() == os.path.splitdrive(str(tmp_path))[0].lower():
        return None
    return here / "_other_drive_out"


@pytest.mark.skipif(os.name != "nt", reason="drive letters are Windows")
def test_record_from_one_drive_into_another(tmp_path):
    out = _other_drive(tmp_path)
    if out is None:
        pytest.skip("the tests and the temporary folder are on the same drive")
    shutil.rmtree(out, ignore_errors=True)
    try:
        p = subprocess.run([sys.executable, "-m", "booktape", "record", "--out",
                            str(out / "Данные"), "--polls", "2000", "--sim-lockstep", "--json"],
                           capture_output=True, text=True, timeout=180, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["ok"]
        assert verify(out / "Данные").ok
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.parametrize("args", [
    ["record", "--source", "mt5", "--symbol", "RIU2", "--duration", "2s", "--out", "{tmp}/d"],
    ["snapshot", "RIU2", "--source", "mt5"],
    ["bench", "--source", "mt5", "--topologies", "sequential", "--thresholds", "64KB",
     "--duration", "0.3s", "--repeat", "1", "--out", "{tmp}/b"],
])
def test_metatrader5_source_without_a_terminal_is_one_error_line(tmp_path, args):
    """On Windows the real package (it finds no terminal); elsewhere it cannot be imported."""
    r = run_booktape(*[a.format(tmp=tmp_path) for a in args], timeout=300)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_error_line(r)
    assert "MetaTrader" in line, line
    if os.name == "nt":
        assert "cannot import" not in line, line  # the lane installs the real package


@pytest.mark.skipif(os.name != "nt", reason="console control events are Windows (SIGTERM: "
                    "test_topologies.py)")
def test_ctrl_break_to_the_recorders_process_group_drains_seals_and_exits_0(tape):
    import signal

    env = dict(os.environ, COLUMNS="200")
    p = subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out", str(tape),
                          "--quiet", "--json", "--duration", "120s"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         creationflags=subprocess.CREATE_NEW_PROCESS_GROUP)  # type: ignore[attr-defined]
    try:
        wait_for_journal(p, tape)
        time.sleep(0.5)
        try:
            p.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        except (OSError, SystemError) as e:
            if under_wine():  # measured: GenerateConsoleCtrlEvent fails, WinError 12
                pytest.skip(f"Wine does not deliver CTRL_BREAK_EVENT without a console: {e}")
            raise
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            if under_wine():
                pytest.skip("Wine does not deliver CTRL_BREAK_EVENT to a process group "
                            "whose output is a pipe (no console)")
            raise
    finally:
        if p.poll() is None:
            psutil.Process(p.pid).kill()
            p.communicate(timeout=60)
    assert p.returncode == 0, err
    s = json.loads(out)
    assert s["ok"] and s["lost"] == 0 and s["stored"] > 0
    assert not list(tape.glob(JOURNALS))


def test_durable_replace_and_directory_fsync_work_on_this_platform(tmp_path):
    """Windows cannot fsync a directory: the path must not fail there (see tape/_fs.py)."""
    from booktape.tape._fs import fsync_dir, replace_durably, unlink_sealed

    d = tmp_path / "Данные"
    d.mkdir()
    (d / "a.tmp").write_bytes(b"new")
    (d / "a").write_bytes(b"old")
    fsync_dir(d)
    replace_durably(d / "a.tmp", d / "a")
    assert (d / "a").read_bytes() == b"new" and not (d / "a.tmp").exists()
    assert unlink_sealed(d / "a") and not (d / "a").exists()
    assert unlink_sealed(d / "a")  # already gone is fine


@pytest.mark.skipif(os.name != "nt", reason="only Windows refuses to delete an open file")
def test_unlink_sealed_gives_up_on_a_reader_that_never_closes_without_failing(tmp_path):
    from booktape.tape._fs import unlink_sealed

    p = tmp_path / "_part-000001.arrows"
    p.write_bytes(b"x")
    with open(p, "rb"):
        assert unlink_sealed(p, wait_s=0.3) is False
    assert unlink_sealed(p)


# A recorder whose helpers the test can tell apart on every platform: Windows has no
# /proc/PID/comm and every helper is "python.exe -c spawn_main(...)", so the recorder
# itself names them (multiprocessing knows each child's name) and prints
# "booktape-saver PID" for every saver it starts; a line on stdin stops the recording.
RING_RECORDER = r"""
import multiprocessing as mp, sys, threading, time
import booktape
from booktape.capture.loop import StopFlag

stop = StopFlag()

def name_savers():
    seen = set()
    while True:
        for c in mp.active_children():
            if c.name == "booktape-saver" and c.pid not in seen:
                seen.add(c.pid)
                print("booktape-saver", c.pid, flush=True)
        time.sleep(0.02)

def stop_on_stdin():
    sys.stdin.readline()
    stop.set()

if __name__ == "__main__":
    threading.Thread(target=name_savers, daemon=True).start()
    threading.Thread(target=stop_on_stdin, daemon=True).start()
    s = booktape.record(sys.argv[1], "RIU2", topology="ring", duration="600s", stop=stop,
                        source_options={"rate": 2000}, sync_every="100ms",
                        rotate_every="2s")
    print("stored", s.stored, "lost", s.lost, "ok", s.ok, flush=True)
"""


def test_ring_saver_terminated_and_restarted_reattaches_to_the_live_ring(tape):
    """Windows frees a shared-memory segment with its last handle: the recorder's handle
    must keep the ring alive while its saver is gone (TerminateProcess / SIGKILL), and
    the restarted saver must read it on from the first unacknowledged chunk."""
    import queue
    import threading

    env = dict(os.environ, COLUMNS="200")
    p = subprocess.Popen([sys.executable, "-c", RING_RECORDER, str(tape)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(ln) for ln in p.stdout], daemon=True)
    reader.start()

    def next_saver(timeout: float = 240) -> int:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            try:
                ln = lines.get(timeout=0.5)
            except queue.Empty:
                assert p.poll() is None, p.stderr.read() if p.stderr else ""
                continue
            if ln.startswith("booktape-saver "):
                return int(ln.split()[1])
        raise AssertionError("no saver started")

    try:
        first = next_saver()
        # Killed once it has stored some of the ring: a journal exists and keeps growing.
        wait_for_journal(p, tape)
        time.sleep(1.0)
        psutil.Process(first).kill()  # TerminateProcess on Windows: no clean-up at all
        second = next_saver()
        assert second != first
        wait_for_journal(p, tape)
        time.sleep(1.0)  # the new saver stores states polled after the kill too
        p.stdin.write("stop\n")
        p.stdin.flush()
        p.wait(timeout=240)
    finally:
        if p.poll() is None:
            psutil.Process(p.pid).kill()
            p.wait(timeout=60)
    reader.join(30)  # its last line (the summary) may still be on the way
    err = p.stderr.read() if p.stderr else ""
    said = []
    while not lines.empty():
        said.append(lines.get())
    assert p.returncode == 0, err
    summary = said[-1].split()
    assert summary[0] == "stored", said
    stored, lost, ok = int(summary[1]), int(summary[3]), summary[5]
    assert (lost, ok) == (0, "True"), said
    seq = booktape.read_arrow(tape, "RIU2", "zero", columns=["seq"],
                              snapshots_only=True).column("seq").to_pylist()
    assert len(seq) == len(set(seq)) == stored, "duplicates or a gap"
    assert sorted(seq) == list(range(stored))
    events = [json.loads(ln) for f in (tape / "_events").rglob("*.jsonl")
              for ln in f.read_text().splitlines()]
    restarts = [e for e in events if e["kind"] == "restart"]
    assert [e["detail"]["process"] for e in restarts] == ["booktape-saver"], restarts
    v = run_booktape("verify", str(tape), timeout=300)
    assert v.returncode == 0, v.stdout + v.stderr


def test_dead_segments_are_looked_for_only_where_posix_shm_is_files(tmp_path):
    """A \\dev\\shm folder on Windows (under Wine: Linux's own /dev/shm, drive Z:) holds
    no Windows segments, and its pids mean nothing there: the lane's recorders once
    deleted live Linux processes' segments from it."""
    from booktape.transport._shm import remove_dead_segments

    seg = tmp_path / f"booktape-{2**31 - 2}-1-beef"  # a pid no process has
    seg.write_bytes(b"x" * 100)
    removed = remove_dead_segments(tmp_path)
    if os.name == "nt":
        assert removed == [] and seg.exists()
    else:
        assert [r.name for r in removed] == [seg.name] and not seg.exists()
