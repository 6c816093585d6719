"""Names of the ring's shared-memory segments, and removing those dead recorders left.

A recorder SIGKILLed with its whole process group (systemd's stop timeout,
Task Manager's "End process tree") takes its resource tracker with it, so
nothing removes its 64 MiB segment from ``/dev/shm`` — under Docker's default
64 MB ``/dev/shm`` that alone blocks the restart (issue 12). A segment's name
says who owns it: ``booktape-<pid>-<process start time>-<random>``; the start
time tells a dead recorder from a new process that got the same pid.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import psutil

PREFIX = "booktape-"
SHM_DIR = Path("/dev/shm")
_NAME = re.compile(r"^booktape-(\d+)-(?:([0-9a-f]+)-)?[0-9a-f]+$")


def start_mark(pid: int) -> str | None:
    """A process's start time in centiseconds since the epoch, hex; None if it is gone."""
    try:
        return f"{round(psutil.Process(pid).create_time() * 100):x}"
    except (psutil.Error, OSError):
        return None


def segment_name() -> str:
    """A fresh name for this process's segment."""
    return f"{PREFIX}{os.getpid()}-{start_mark(os.getpid()) or '0'}-{secrets.token_hex(4)}"


def owner_alive(name: str) -> bool | None:
    """Whether the recorder named in ``name`` still runs; None if it is not one of ours."""
    m = _NAME.match(name)
    if m is None:
        return None
    pid, mark = int(m.group(1)), m.group(2)
    now = start_mark(pid)
    if now is None:
        return False
    # Names from before start marks (booktape-PID-RANDOM) keep a live pid's segment.
    return mark is None or now == mark


@dataclass(frozen=True)
class Removed:
    name: str
    bytes: int
    pid: int


def remove_dead_segments(shm_dir: Path = SHM_DIR) -> list[Removed]:
    """Remove the segments of booktape recorders that are no longer alive.

    Only on systems where POSIX shared memory is a directory (Linux); on
    Windows a segment disappears with the last process that maps it.
    """
    # On Windows "/dev/shm" is a folder on the current drive, if anything: under Wine
    # it is Linux's own /dev/shm (drive Z:), whose pids mean nothing to Windows, and
    # the Windows lane's recorders deleted other Linux processes' live segments there.
    if os.name == "nt" or not shm_dir.is_dir():
        return []
    out: list[Removed] = []
    for p in shm_dir.glob(f"{PREFIX}*"):
        if owner_alive(p.name) is not False:
            continue
        try:
            size = p.stat().st_size
            p.unlink()
        except OSError:
            continue  # another user's, or removed meanwhile
        m = _NAME.match(p.name)
        out.append(Removed(p.name, size, int(m.group(1)) if m else 0))
    return out
