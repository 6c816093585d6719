"""Test helpers: regroup level rows into books, and the sim's ground truth."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from booktape.sources.simulated import SimConfig, books_at


def books_by_seq(df: pd.DataFrame) -> list[tuple[tuple[int, float, int, float], ...]]:
    """Level rows (one symbol, one collector, sorted) → one tuple of levels per seq."""
    out = []
    seq = df["seq"].to_numpy()
    cuts = np.flatnonzero(np.diff(seq)) + 1
    cols = [df[c].to_numpy() for c in ("level", "type", "price", "volume", "volume_dbl")]
    for chunk in np.split(np.arange(len(df)), cuts):
        if cols[0][chunk[0]] < 0:
            out.append(())
            continue
        out.append(tuple((int(cols[1][i]), float(cols[2][i]), int(cols[3][i]), float(cols[4][i]))
                         for i in chunk))
    return out


def sim_truth(log_path: Path, symbol: str) -> tuple[list[tuple], list[int]]:
    """The distinct consecutive states the sim served, and the unchanged calls before each."""
    d = json.loads(Path(log_path).read_text())
    cfg = SimConfig(**d["config"])
    served = d["served"][symbol]
    # A state is "changed" when the book differs from the previous call's
    # (several events in one call can, rarely, come back to the same book).
    served_books = books_at(cfg, symbol, served)
    books, unchanged = [], []
    prev = None
    run = 0
    for b in served_books:
        if b == prev:
            run += 1
            continue
        books.append(tuple(tuple(lv) for lv in b))
        unchanged.append(run)
        prev, run = b, 0
    return books, unchanged


def under_wine() -> bool:
    """True in `make test-windows`: Windows Python run by Wine on Linux."""
    if os.name != "nt":
        return False
    import ctypes

    try:
        return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return False


def session_started_at(out: Path, p: subprocess.Popen[str]) -> float:
    """A live recorder's ``session_start`` event as a ``time.monotonic()`` value.

    Tests time kills and stops from it, not from the launch: under load a recorder
    may take seconds to start polling.
    """
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up and p.poll() is None:
        for f in (out / "_events").rglob("events-*.jsonl") if (out / "_events").is_dir() else ():
            for line in f.read_text().splitlines():
                if '"session_start"' in line:
                    t_ns = json.loads(line)["t_ns"]
                    return time.monotonic() - (time.time_ns() - t_ns) / 1e9
        time.sleep(0.02)
    raise AssertionError("the recorder never started")


@contextlib.contextmanager
def ctrl_c_reaches_children() -> Iterator[None]:
    """Children started inside get SIGINT at its default, as from a terminal.

    A test run started in the background of a non-interactive shell (a CI step, a
    harness) inherits SIGINT *ignored*, and so does every child it starts; programs keep
    an ignored SIGINT ignored (Python does), so a Ctrl-C test would test the harness:
    analyze then ran 60 s past the test's SIGINT. A handler here is reset to the
    default by exec. Main thread only (as pytest runs tests).
    """
    before = signal.getsignal(signal.SIGINT)
    if not callable(before):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


# Tests that stop, freeze or kill a recorder's process group with POSIX signals. Windows'
# own stop (CTRL_BREAK_EVENT) and kill (TerminateProcess) have their tests in test_windows.py.
posix_signals = pytest.mark.skipif(
    sys.platform == "win32",
    reason="signals a recorder's process group (SIGTERM/SIGSTOP/killpg are POSIX; "
           "Windows' stop and kill: test_windows.py)")
