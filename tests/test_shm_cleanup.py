"""A ring recorder SIGKILLed with its process group leaves its segment; the next one removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from multiprocessing import shared_memory
from pathlib import Path

import pytest

from booktape.transport._shm import owner_alive, remove_dead_segments, segment_name, start_mark

# Under Wine "/dev/shm" is Linux's own (drive Z:): a directory, but not Windows' segments.
pytestmark = pytest.mark.skipif(os.name == "nt" or not Path("/dev/shm").is_dir(),
                                reason="POSIX shm as files (Windows frees a segment with its "
                                "last handle: test_windows.py)")


def _ours(pid: int) -> list[str]:
    return [p.name for p in Path("/dev/shm").glob(f"booktape-{pid}-*")]


def test_segment_name_tells_a_live_owner_from_a_dead_one_and_from_pid_reuse():
    me = segment_name()
    assert owner_alive(me) is True
    pid = os.getpid()
    assert owner_alive(f"booktape-{pid}-{start_mark(pid)}-abcd") is True
    # Same pid, another start time: the pid was reused, the owner is dead.
    assert owner_alive(f"booktape-{pid}-1-abcd") is False
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                       capture_output=True, text=True)
    assert owner_alive(f"booktape-{int(p.stdout)}-abc-abcd") is False
    assert owner_alive("something-else") is None
    # Names from before start marks: a live pid keeps its segment.
    assert owner_alive(f"booktape-{pid}-deadbeef") is True


def test_remove_dead_segments_removes_only_dead_owners():
    live = shared_memory.SharedMemory(name=segment_name(), create=True, size=4096)
    dead = shared_memory.SharedMemory(name=f"booktape-{os.getpid()}-1-beef", create=True,
                                      size=8192)
    try:
        removed = remove_dead_segments()
        names = [r.name for r in removed]
        assert dead.name.lstrip("/") in names and live.name.lstrip("/") not in names
        assert (Path("/dev/shm") / live.name.lstrip("/")).exists()
        assert not (Path("/dev/shm") / dead.name.lstrip("/")).exists()
        assert next(r for r in removed if r.name == dead.name.lstrip("/")).bytes == 8192
    finally:
        live.close()
        live.unlink()
        dead.close()
        try:
            dead.unlink()
        except FileNotFoundError:
            pass


def test_killed_process_group_leaves_a_segment_the_next_recorder_removes(tmp_path, cli):
    out = tmp_path / "data"
    p = subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out", str(out),
                          "--topology", "ring", "--duration", "60s", "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        give_up = time.monotonic() + 60
        while not _ours(p.pid) and time.monotonic() < give_up:
            time.sleep(0.05)
        left = _ours(p.pid)
        assert left, "the recorder never created its ring"
        time.sleep(0.5)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the recorder, its saver and its resource tracker
        p.wait()
    time.sleep(0.5)
    assert _ours(p.pid) == left, "the segment should survive a process-group SIGKILL"
    r = cli("record", "--out", str(out), "--topology", "ring", "--duration", "1s", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _ours(p.pid) == []
    assert "removed 1 shared-memory segment(s) of recorders no longer alive" in r.stderr
    assert left[0] in r.stderr
    ev = "".join(f.read_text() for f in (out / "_events").rglob("*.jsonl"))
    assert '"shm_cleanup"' in ev and left[0] in ev
