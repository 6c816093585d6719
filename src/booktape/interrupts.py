"""Make Ctrl-C end a command, whatever swallows it (issue 14).

Two ways a ``KeyboardInterrupt`` goes missing, both seen in CI: code run where Python
ignores exceptions (a weakref callback, ``__del__``: "Exception ignored in ...
WeakKeyDictionary ... KeyboardInterrupt", and ``analyze`` ran on), and a C library
turning it into an error of its own (below). :func:`guard_interrupts` is the last
resort for the first and for an exit that waits on something: the command then ends
:data:`GRACE_S` after the first Ctrl-C anyway.

Two more, also from CI, are worse than a late exit, and the guard's handler keeps the
interrupt out of them. A ``KeyboardInterrupt`` raised while a module is being imported
can land in an extension's initialisation: nanobind (DuckDB's binding) calls
``abort()`` when Python code it runs there raises ("Critical nanobind error:
enum_create"), and the process dies of SIGABRT. So while an import is in progress the
handler holds the interrupt and has it delivered again once the import is over. And a
``KeyboardInterrupt`` swallowed where Python ignores exceptions is printed ("Exception
ignored in ... WeakSet ...") before the one line: the guard's unraisable hook drops that
report and delivers the interrupt again, so the command ends at once instead of after
:data:`GRACE_S`.


DuckDB runs Python's SIGINT handler while a query executes, clears the
``KeyboardInterrupt`` and raises an exception of its own instead
(``RuntimeError("Query interrupted")`` in 2.0, ``duckdb.InterruptException`` before). Code
that catches broadly, to note a damaged file and go on with the rest, would swallow the
user's Ctrl-C and run on for minutes. Inside :func:`watch_interrupts` such code asks
whether SIGINT arrived, whatever type the library raised; a type or message check would
break again with the next release.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: Seconds a command has, after its first Ctrl-C, to end by its own path (the one line,
#: temporary files removed) before :func:`guard_interrupts` ends the process.
GRACE_S = 8.0
#: How long a held interrupt waits before it is offered again (see :func:`guard_interrupts`).
RETRY_S = 0.02
_said = False
_received = False
_IMPORT_CODE = "<frozen importlib._bootstrap>"


def sigint_received() -> bool:
    """Whether Ctrl-C reached :func:`guard_interrupts`'s handler in this process.

    After it, any error is taken for the interrupt: a C extension can turn the
    ``KeyboardInterrupt`` raised inside it into an error of its own (CI: a Ctrl-C during
    ``import duckdb`` became ``ImportError: Encountered an error while initializing the
    extension`` and a traceback with exit 1).
    """
    return _received


def is_interrupt(e: BaseException) -> bool:
    """Whether ``e`` ends the command as interrupted: Ctrl-C itself, or any error after it
    (see :func:`sigint_received`)."""
    return isinstance(e, KeyboardInterrupt) or (isinstance(e, Exception) and _received)


def say_interrupted() -> int:
    """Write the one line, note it was written, and give an interrupted run's exit code."""
    if sys.stderr is not None:  # pythonw (a scheduled task without a console) has none
        sys.stderr.write("Interrupted.\n")
        sys.stderr.flush()
    said_interrupted()
    forget_caught_interrupt()
    return 130


def said_interrupted() -> None:
    """Note that "Interrupted." was written, so the last resort does not write it again."""
    global _said
    _said = True


def guard_interrupts(grace_s: float = GRACE_S) -> None:
    """From the first Ctrl-C on, end the process within ``grace_s`` with exit 130.

    The handler raises ``KeyboardInterrupt`` as Python's does, and starts a daemon
    thread that, if the process is still alive ``grace_s`` later, writes the one line
    (unless it was) and leaves by ``os._exit``: no Python-level path (swallowed
    exception, a join at exit) can hold it. Commands that stop on Ctrl-C by design
    (``record`` drains and seals) install their own handler over this one. Only where
    Ctrl-C has its default meaning: a job started with SIGINT ignored keeps ignoring it.
    While an import is in progress the handler holds the interrupt instead of raising it,
    and the thread offers it again :data:`RETRY_S` later; an unraisable
    ``KeyboardInterrupt`` is not printed but offered again the same way.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        return
    # Set when the interrupt could not be raised where it arrived (an import) or was
    # swallowed (an unraisable KeyboardInterrupt): the guard thread delivers it again.
    held = threading.Event()

    def guard() -> None:
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if held.wait(max(0.0, deadline - time.monotonic())):
                held.clear()
                time.sleep(RETRY_S)  # let the import (or the callback) go on a little
                _signal_main_thread()
        if not _said:
            os.write(2, b"Interrupted.\n")
        os._exit(130)

    def handler(signum: int, frame: FrameType | None) -> None:
        global _received
        if not _received:
            _received = True
            threading.Thread(target=guard, name="booktape-interrupt-guard", daemon=True).start()
        if _importing(frame):
            held.set()
            return
        raise KeyboardInterrupt

    default_hook = sys.unraisablehook

    def unraisable(args: sys.UnraisableHookArgs) -> None:
        if _received and issubclass(args.exc_type, KeyboardInterrupt):
            held.set()
            return
        default_hook(args)

    signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = unraisable


def _signal_main_thread() -> None:
    """Deliver SIGINT again to the main thread: ours, or the handler a command put over it.

    A real signal, not ``_thread.interrupt_main()``: that only marks the handler due, and
    a main thread blocked in ``time.sleep``, ``select`` or a lock would not run it until
    the call returned. On Windows ``raise()`` runs the C handler in this thread, which
    also wakes the main thread's waits (CPython's SIGINT event).
    """
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    else:
        signal.raise_signal(signal.SIGINT)


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (a module's top level, an extension's init)."""
    while frame is not None:
        if frame.f_code.co_filename == _IMPORT_CODE:
            return True
        frame = frame.f_back
    return False


@contextmanager
def watch_interrupts() -> Iterator[Callable[[], bool]]:
    """Yield a function telling whether SIGINT arrived since the block began.

    The handler in place is chained, not replaced: Ctrl-C still raises
    ``KeyboardInterrupt`` where Python would. Outside the main thread (where Python
    runs no signal handler) or when SIGINT is ignored, the function always says False.
    """
    prev = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(prev):
        yield lambda: False
        return
    seen = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal seen
        seen = True
        prev(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: seen
    finally:
        if signal.getsignal(signal.SIGINT) is handler:  # a later handler is not ours to undo
            signal.signal(signal.SIGINT, prev)


def forget_caught_interrupt() -> None:
    """Let a run that caught Ctrl-C exit with the code it chose (130), under ``python -m``.

    CPython (3.11 to 3.13 at least) marks a ``KeyboardInterrupt`` as unhandled when it
    leaves code run by a string ``exec``/``eval``, even if a caller catches it later; and
    ``dataclasses`` and ``namedtuple`` build their methods that way, so a Ctrl-C during
    any lazy import is such a one. Under ``-m`` the interpreter then kills itself with
    SIGINT at exit, and ``python -m booktape`` ended -2 after printing "Interrupted."
    (1 run in 25 sent SIGINT at start-up). Each string eval resets the mark as it
    begins: one that raises nothing clears it.
    """
    exec("None")  # noqa: S102 - a constant; run for its side effect described above
