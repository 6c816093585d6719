"""Notice a Ctrl-C that a C library turned into an error of its own (issue 14).

DuckDB runs Python's SIGINT handler while a query executes, clears the
``KeyboardInterrupt`` and raises an exception of its own instead
(``RuntimeError("Query interrupted")`` in 2.0, ``duckdb.InterruptException`` before). Code
that catches broadly, to note a damaged file and go on with the rest, would swallow the
user's Ctrl-C and run on for minutes. Inside :func:`watch_interrupts` such code asks
whether SIGINT arrived, whatever type the library raised; a type or message check would
break again with the next release.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


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
