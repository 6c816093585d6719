"""A real emulator server process on 127.0.0.1 for the mt5linux tests (not a test module)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import booktape

from .helpers import ctrl_c_reaches_children

SRC = str(Path(booktape.__file__).resolve().parent.parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int = 0, faults: dict[str, Any] | None = None,
          sim: dict[str, Any] | None = None, password: str | None = None) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "booktape.emulator.server", "--port", str(port),
            "--faults", json.dumps(faults or {}), "--sim", json.dumps(sim or {})]
    if password is not None:
        env["BOOKTAPE_TEST_EMU_PASSWORD"] = password
        args += ["--password-env", "BOOKTAPE_TEST_EMU_PASSWORD"]
    # stderr to a file, not a pipe: nobody reads it while the server runs.
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (lives as long as the server)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    assert p.stdout is not None
    line = p.stdout.readline()  # "READY <port>" once it listens
    if not line.startswith("READY"):
        p.kill()
        err.seek(0)
        raise RuntimeError(f"emulator did not start: {line!r} {err.read()}")
    return p, int(line.split()[1])


def stop(p: subprocess.Popen[str]) -> None:
    p.terminate()
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


@contextmanager
def emulator(**kw: Any) -> Iterator[int]:
    p, port = start(**kw)
    try:
        yield port
    finally:
        stop(p)


def wait_port_free(port: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.02)


class EmulateCli:
    """``booktape emulate`` as a real process; its stderr is drained and kept."""

    def __init__(self, *args: str, port: int = 0, env: dict[str, str] | None = None) -> None:
        import re
        import threading

        e = dict(os.environ)
        e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
        e.update(env or {})
        self.argv = [sys.executable, "-m", "booktape", "emulate", "--port", str(port), *args]
        # stop() is a Ctrl-C: under a harness that ignores SIGINT (a CI step in the
        # background) the server would inherit it ignored, run on for stop()'s 10 s
        # timeout, and a recorder's "server restarted" would come after its recording.
        with ctrl_c_reaches_children():
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True, env=e)
        self.lines: list[str] = []
        ready = threading.Event()
        pat = re.compile(r"on 127\.0\.0\.1:(\d+)")
        self.port = 0

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                m = pat.search(line)
                if m and not ready.is_set():
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self._t = threading.Thread(target=drain, daemon=True)
        self._t.start()
        if not ready.wait(30) or not self.port:
            self.stop()
            raise RuntimeError("booktape emulate did not start: " + "".join(self.lines))

    def stop(self) -> str:
        """Stop it (like Ctrl-C) and return everything it wrote to stderr."""
        import signal

        if self.proc.poll() is None:
            if os.name == "nt":
                # Windows has no Ctrl-C for a process without a console of its own:
                # TerminateProcess, which drops the bridge's sockets all the same.
                self.proc.kill()
            else:
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._t.join(timeout=5)
        return "".join(self.lines)
