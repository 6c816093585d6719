"""Shared fixtures. Every multiprocess path runs under ``spawn``, as on Windows."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Force spawn for this process and for recorders started as subprocesses.
os.environ["BOOKTAPE_START_METHOD"] = "spawn"
mp.set_start_method("spawn", force=True)


@pytest.fixture
def tape(tmp_path: Path) -> Path:
    return tmp_path / "data"


def run_booktape(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
                 check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process."""
    e = dict(os.environ)
    e.update(env or {})
    e["COLUMNS"] = "200"
    # UTF-8 on every platform, so a test reads the same symbols (Windows pipes default to
    # the ANSI code page; what booktape writes there: test_output_encoding.py).
    e.setdefault("PYTHONIOENCODING", "utf-8")
    p = subprocess.run([sys.executable, "-m", "booktape", *args], capture_output=True,
                       text=True, encoding=e["PYTHONIOENCODING"].split(":")[0], timeout=timeout,
                       env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"booktape {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def cli():
    return run_booktape


@pytest.fixture
def nats_server(tmp_path: Path):
    """A nats-server with JetStream on a free 127.0.0.1 port and a temporary store."""
    from .nats_server import NatsServer

    srv = NatsServer(tmp_path / "js").start()
    yield srv
    srv.stop()


# -- the Windows lane's selection (issue 10) ------------------------------------------
# `make test-windows` runs every test on Windows Python under Wine, except those marked
# `@pytest.mark.wine_slow("why")`: too slow there for the lane's time (measured), or
# skipping on Windows anyway; the lane (which sets BOOKTAPE_WINDOWS_LANE=1) deselects them
# and `make test-min` runs them at the same lowest versions on Linux. A new test runs in
# the lane unless marked.
WINDOWS_LANE = os.environ.get("BOOKTAPE_WINDOWS_LANE") == "1"
# Processes the test process started, per test (subprocess and multiprocessing): a
# wine_slow test that started none is marked for nothing, and the summary says so.
_started = [0]
_no_process: list[str] = []
_passed: set[str] = set()


def _count_starts() -> None:
    import multiprocessing.process

    popen_init = subprocess.Popen.__init__
    mp_start = multiprocessing.process.BaseProcess.start

    def counted_popen(self, *a, **k):  # type: ignore[no-untyped-def]
        _started[0] += 1
        popen_init(self, *a, **k)

    def counted_start(self):  # type: ignore[no-untyped-def]
        _started[0] += 1
        mp_start(self)

    subprocess.Popen.__init__ = counted_popen  # type: ignore[method-assign]
    multiprocessing.process.BaseProcess.start = counted_start  # type: ignore[method-assign]


_count_starts()


def _wine_slow_reason(item: pytest.Item) -> str | None:
    m = item.get_closest_marker("wine_slow")
    if m is None:
        return None
    reason = m.args[0] if m.args else m.kwargs.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.wine_slow needs its reason "
                                f"(what it starts, and what that costs under Wine)")
    return reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, slow = [], []
    for item in items:
        (slow if _wine_slow_reason(item) is not None else keep).append(item)
    if WINDOWS_LANE and slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = keep
        config._wine_slow = slow  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    before = _started[0]
    yield
    if (_started[0] == before and item.nodeid in _passed
            and item.get_closest_marker("wine_slow") is not None):
        # A wider-scoped fixture may have started its processes for an earlier test.
        scopes = {d[-1].scope for d in item._fixtureinfo.name2fixturedefs.values()}  # type: ignore[attr-defined]
        if scopes <= {"function"}:
            _no_process.append(item.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _passed.add(report.nodeid)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    slow = getattr(config, "_wine_slow", [])
    if slow:
        from collections import Counter

        terminalreporter.section("not run in the Windows lane (@pytest.mark.wine_slow)")
        for reason, n in Counter(_wine_slow_reason(i) for i in slow).most_common():
            terminalreporter.write_line(f"{n:4d}  {reason}")
    if _no_process:
        terminalreporter.section("wine_slow tests that started no process (unmark them)")
        for nodeid in _no_process:
            terminalreporter.write_line(nodeid)
