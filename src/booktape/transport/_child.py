"""What every helper process of a topology does first, and how it is started.

Helpers (packers, savers) are children of the recorder, which supervises
them. Ctrl-C reaches the whole process group, so helpers ignore SIGINT and
SIGTERM and stop when the supervisor tells them (a sentinel message) or when
the supervisor is gone: they must never outlive it (issue 3, "no orphans").
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from multiprocessing.context import (
        DefaultContext,
        ForkContext,
        ForkServerContext,
        SpawnContext,
    )

    # typeshed's BaseContext has no .Process; get_context() returns one of these.
    Context: TypeAlias = DefaultContext | SpawnContext | ForkContext | ForkServerContext

START_METHOD_ENV = "BOOKTAPE_START_METHOD"


def mp_context() -> Context:
    """The start method from ``BOOKTAPE_START_METHOD`` (tests force ``spawn``), else the default.

    A context, never ``set_start_method``: the recorder is a library and the
    global start method belongs to the application.
    """
    method = os.environ.get(START_METHOD_ENV) or None
    return mp.get_context(method)  # type: ignore[return-value]


#: A spawned helper's exit code when it found itself re-running the user's
#: script, which called ``booktape.record()`` without a ``__main__`` guard.
UNGUARDED_MAIN = 5
UNGUARDED_MESSAGE = (
    "the script that calls booktape.record() re-ran in every helper process: under the "
    "'spawn' start method (Windows, macOS, BOOKTAPE_START_METHOD=spawn) each helper "
    "imports the main script, so put the call under `if __name__ == \"__main__\":`")


def refuse_in_spawned_child() -> None:
    """Stop a helper that is re-running the user's unguarded script (called by ``record``).

    multiprocessing sets ``_inheriting`` while a spawned child imports the
    parent's main module (its own ``_check_not_importing_main`` looks at it).
    Recording from there would start helpers of its own, forever; exiting
    with :data:`UNGUARDED_MAIN` tells the recorder why, so it stops instead
    of restarting us.
    """
    if getattr(mp.current_process(), "_inheriting", False):
        # Silent: the recorder raises the one message (UnguardedMain) in the user's script.
        os._exit(UNGUARDED_MAIN)


def become_helper() -> int:
    """Ignore stop signals and die with the parent; returns the parent's pid to watch."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    if hasattr(signal, "SIGBREAK"):
        signal.signal(signal.SIGBREAK, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        # Belt and braces beside the getppid() checks: the kernel kills us if
        # the supervisor dies, even while we are blocked in a system call.
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
            # `ps -o comm`/`top` show "booktape-saver" rather than "python": an
            # operator (and the kill tests) can tell the helpers apart.
            pr_set_name = 15
            name = mp.current_process().name.encode()[:15]
            libc.prctl(pr_set_name, ctypes.c_char_p(name), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    deprioritize(HELPER_NICE)
    # The parent's pid as the parent knew it, not getppid(): a recorder killed
    # while we were still importing has re-parented us already, and watching
    # pid 1 would keep this orphan alive forever (seen under load).
    parent = mp.parent_process()
    ppid = parent.pid if parent is not None and parent.pid else os.getppid()
    if os.name != "nt" and os.getppid() != ppid:
        os._exit(3)
    return ppid


#: How much helpers (packers, saver) yield the CPU to the poller. Storage only
#: has to keep up on average (the backlog absorbs bursts), while every ms the
#: poller waits for a core is a gap in the data. BOOKTAPE_HELPER_NICE=0 disables.
HELPER_NICE = int(os.environ.get("BOOKTAPE_HELPER_NICE", "10"))


def deprioritize(nice: int, thread: bool = False) -> None:
    """Lower this process's (or, on Linux, this thread's) CPU priority; best effort."""
    if nice <= 0:
        return
    try:
        if thread and sys.platform.startswith("linux"):
            import threading

            # On Linux a thread has its own nice value: setpriority on its tid.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
        elif os.name == "nt":
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        elif not thread:
            os.nice(nice)
    except (OSError, ImportError, AttributeError):
        pass


def parent_gone(ppid: int) -> bool:
    """True once the supervisor has died (we were re-parented)."""
    if os.name == "nt":
        parent = mp.parent_process()
        return parent is not None and not parent.is_alive()
    return os.getppid() != ppid


class Control:
    """Per-generation shared words: [acked chunk, helpers ready]. One writer each.

    Acknowledgements travel here rather than over a reply pipe: the saver
    stores "durable through n" and the acquirer reads it with one load, so an
    ack can never block either side.
    """

    ACKED, READY = 0, 1

    def __init__(self, ctx: Context | None = None, raw: object = None) -> None:
        if raw is None:
            assert ctx is not None
            raw = ctx.RawArray("q", 2)
            raw[self.ACKED] = -1  # type: ignore[index]
        self.raw: object = raw

    def __getstate__(self) -> object:
        return self.raw

    def __setstate__(self, raw: object) -> None:
        self.raw = raw

    @property
    def acked(self) -> int:
        return int(self.raw[self.ACKED])  # type: ignore[index]

    def ack(self, n: int) -> None:
        self.raw[self.ACKED] = n  # type: ignore[index]

    @property
    def ready(self) -> int:
        return int(self.raw[self.READY])  # type: ignore[index]

    def set_ready(self) -> None:
        self.raw[self.READY] += 1  # type: ignore[index]


#: Shared-memory segments this process created and has not yet removed.
_SEGMENTS: set[Any] = set()


def track_segment(shm: Any, live: bool = True) -> None:
    """Note (or forget) a segment to remove if the process must exit at once."""
    if live:
        _SEGMENTS.add(shm)
    else:
        _SEGMENTS.discard(shm)


def unlink_segments() -> None:
    """Remove our segments now (before ``os._exit``): no leak, no resource-tracker warning."""
    for shm in list(_SEGMENTS):
        try:
            shm.unlink()
        except OSError:
            pass
    _SEGMENTS.clear()


def tracker_died() -> int | None:
    """If multiprocessing's resource tracker (our child) was killed: relaunch it, its exit code.

    Reads the tracker's private pid (CPython 3.8-3.13 keep it in
    ``_resource_tracker._pid``): the public API only notices a dead tracker at
    the next registration, and then with a bare warning.
    """
    if os.name == "nt":
        return None  # Windows has no resource tracker
    from multiprocessing import resource_tracker

    rt: Any = resource_tracker._resource_tracker
    pid = getattr(rt, "_pid", None)
    if pid is None:
        return None
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None  # not our child (a forked recorder shares its parent's): not ours to judge
    if got == 0:
        return None
    code = os.waitstatus_to_exitcode(status)
    # ensure_running() would reap it with a blocking waitpid (done above) and warn.
    with rt._lock:
        try:
            os.close(rt._fd)
        except (OSError, TypeError):
            pass
        rt._fd = None
        rt._pid = None
    rt.ensure_running()
    # The new tracker knows none of our semaphores: tell it, or each one's
    # unregistering at exit prints a KeyError traceback from the tracker.
    from multiprocessing import util
    from multiprocessing.synchronize import SemLock

    cleanup = getattr(SemLock, "_cleanup", None)
    for f in list(util._finalizer_registry.values()):  # type: ignore[attr-defined]
        if cleanup is not None and getattr(f, "_callback", None) is cleanup and f._args:
            resource_tracker.register(f._args[0], "semaphore")
    return code
