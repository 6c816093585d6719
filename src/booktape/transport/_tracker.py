"""Survive a killed multiprocessing resource tracker without a traceback (issue 11).

POSIX Python keeps one "resource tracker" process that unlinks leaked shared
memory and semaphores. If it is killed mid-recording, the next use relaunches
a fresh one that never heard of our segments, and unregistering them then
prints a ``KeyError`` traceback from the new tracker at exit (and, in 3.11, a
helper that *attaches* a segment registers it with its own relaunched tracker,
which unlinks the ring when that helper exits). Hand-written because the fix
upstream (``SharedMemory(track=False)``) needs Python 3.13.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import shared_memory
from typing import Any

_owner: dict[tuple[str, str], Any] = {}
_quiet = [False]
_installed = [False]


def _tracker() -> Any:
    from multiprocessing import resource_tracker

    return resource_tracker


def _alive(t: Any) -> bool:
    try:
        return bool(t._pid is not None and t._check_alive())
    except Exception:  # noqa: BLE001 - any doubt: treat it as gone
        return False


def install() -> None:
    """Make unregistering skip names the current tracker never knew (idempotent)."""
    if os.name == "nt" or _installed[0]:
        return
    rt = _tracker()
    register, unregister = rt.register, rt.unregister

    def reg(name: str, rtype: str) -> None:
        if _quiet[0] and rtype == "shared_memory":
            return
        register(name, rtype)
        _owner[(name, rtype)] = rt._resource_tracker._pid

    def unreg(name: str, rtype: str) -> None:
        t = rt._resource_tracker
        pid = _owner.pop((name, rtype), t._pid)
        if pid != t._pid or not _alive(t):
            return  # the tracker that knew `name` is gone; a new one would raise KeyError
        unregister(name, rtype)

    rt.register, rt.unregister = reg, unreg
    _installed[0] = True


@contextmanager
def _untracked() -> Iterator[None]:
    install()
    _quiet[0] = True
    try:
        yield
    finally:
        _quiet[0] = False


def attach(name: str) -> shared_memory.SharedMemory:
    """Attach an existing segment without registering it: its creator owns its lifetime."""
    with _untracked():
        return shared_memory.SharedMemory(name=name)
