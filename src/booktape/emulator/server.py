"""Serve the emulator over RPyC the way an mt5linux server serves MetaTrader5.

An mt5linux server is a plain RPyC *classic* server (``SlaveService``) in
Wine's Windows Python; its client sends code strings such as
``import MetaTrader5 as mt5`` and ``mt5.market_book_get('RIU2')``. Here the
same server runs with ``sys.modules['MetaTrader5']`` pointing at
:mod:`booktape.emulator`, so the real client connects unchanged.

A classic server runs any code a client sends, so it binds 127.0.0.1 unless
told otherwise (RPyC's own default, ``hostname=None``, binds every
interface), and it runs in a temporary working directory so a client's
relative paths land nowhere that matters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from ..errors import BadArgument
from ..sources.mt5linux import is_loopback
from ..sources.simulated import SimConfig
from . import configure
from .config import EmuConfig, Faults

log = logging.getLogger(__name__)

DEFAULT_PORT = 18812


class EmulatorServer:
    """An RPyC classic server whose ``import MetaTrader5`` is the emulator.

    Args:
        host: Address to bind; loopback unless you mean to expose code execution.
        port: TCP port; 0 picks a free one (read it back from :attr:`port`).
        config: The emulated world and its faults.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 config: EmuConfig | None = None) -> None:
        if not host:
            # RPyC treats a missing hostname as "every interface"; never do that silently.
            raise BadArgument("host must be an address to bind, e.g. 127.0.0.1")
        if not is_loopback(host):
            log.warning("emulator bound to %s: an RPyC classic server runs any code sent "
                        "to it; anyone who can reach this address controls this process", host)
        from rpyc.core import SlaveService
        from rpyc.utils.server import ThreadedServer

        self.terminal = configure(config or EmuConfig())
        # `import MetaTrader5` in client code strings resolves through sys.modules.
        self._had = sys.modules.get("MetaTrader5")
        sys.modules["MetaTrader5"] = sys.modules["booktape.emulator"]
        try:
            self._server = ThreadedServer(SlaveService, hostname=host, port=port,
                                          reuse_addr=True, logger=log)
        except OSError as e:
            raise BadArgument(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        # Listen now, not in start(): whoever learns the port may connect at once.
        self._server._listen()
        self.host = host
        self.port: int = self._server.listener.getsockname()[1]
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Serve until :meth:`close` (or Ctrl-C)."""
        self._server.start()

    def start(self) -> EmulatorServer:
        """Serve in a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self._server.start, name="booktape-emulate",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._had is None:
            sys.modules.pop("MetaTrader5", None)
        else:
            sys.modules["MetaTrader5"] = self._had


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *,
          config: EmuConfig | None = None, faults: dict[str, Any] | None = None,
          on_ready: Callable[[EmulatorServer], None] | None = None) -> None:
    """Run the emulator server until interrupted, in a temporary working directory.

    Args:
        host: Address to bind (127.0.0.1 by default).
        port: TCP port (18812, mt5linux's default).
        config: The emulated world; ``faults`` overrides its faults by name.
        on_ready: Called once the socket listens (the CLI prints the address).

    Raises:
        BadArgument: the address cannot be bound or a fault name is unknown.
    """
    cfg = config or EmuConfig()
    if faults:
        try:
            f = Faults.from_dict({**cfg.faults.__dict__, **faults})
        except (TypeError, ValueError) as e:
            raise BadArgument(str(e)) from e
        cfg = EmuConfig(**{**cfg.__dict__, "faults": f})
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="booktape-emulate-") as work:
        os.chdir(work)
        try:
            server = EmulatorServer(host, port, cfg)
            log.info("emulator serving MetaTrader5 on %s:%d (cwd %s)", host, server.port, work)
            if on_ready is not None:
                on_ready(server)
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                server.close()
        finally:
            os.chdir(old)


def main(argv: list[str] | None = None) -> None:
    """``python -m booktape.emulator.server``: used by tests to run a server process."""
    p = argparse.ArgumentParser(prog="python -m booktape.emulator.server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--faults", default="{}", help="JSON object of Faults fields")
    p.add_argument("--sim", default="{}", help="JSON object of SimConfig fields")
    p.add_argument("--password-env", default=None,
                   help="environment variable holding the password the account expects")
    a = p.parse_args(argv)
    pw = os.environ.get(a.password_env) if a.password_env else None
    cfg = EmuConfig(password=pw, sim=SimConfig(**json.loads(a.sim)))

    def ready(s: EmulatorServer) -> None:
        sys.stdout.write(f"READY {s.port}\n")
        sys.stdout.flush()

    serve(a.host, a.port, config=cfg, faults=json.loads(a.faults), on_ready=ready)


if __name__ == "__main__":
    main()
