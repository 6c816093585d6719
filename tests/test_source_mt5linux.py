"""``--source mt5linux``: the real mt5linux client against an emulator server process."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from booktape.errors import SourceUnavailable
from booktape.events import MemoryEvents
from booktape.sources import SourceSpec, make_source
from booktape.sources.mt5linux import BridgeLink, MT5LinuxSource, is_loopback, unpack_book
from booktape.sources.simulated import SimConfig, SimMarket

from . import emu_server
from .emu_server import emulator

LOCK = {"seed": 5, "lockstep": True}
FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1}
SECRET = "br1dge-S3CRET"


def opened(port: int, *symbols: str, **opts: object) -> tuple[MT5LinuxSource, MemoryEvents]:
    src = make_source(SourceSpec("mt5linux", {"host": "127.0.0.1", "port": port, **FAST,
                                              **opts}))
    assert isinstance(src, MT5LinuxSource)
    ev = MemoryEvents()
    src.bind(ev, lambda: False)
    src.open(symbols or ("RIU2",))
    return src, ev


def test_mt5linux_books_match_in_one_round_trip_per_poll() -> None:
    with emulator(sim=LOCK) as port:
        src, ev = opened(port, "RIU2", "SiU2", probe_every_s=3600)
        ref = SimMarket(SimConfig(**LOCK))
        g1, g2 = src.getter("RIU2"), src.getter("SiU2")
        link = src.link
        assert isinstance(link, BridgeLink)
        g1(), g2()  # the first poll also probes terminal_info (folded into the same call)
        ref.market_book_get("RIU2"), ref.market_book_get("SiU2")
        r0 = link.requests()
        for _ in range(50):
            assert g1() == ref.market_book_get("RIU2")
            assert g2() == ref.market_book_get("SiU2")
        assert link.requests() - r0 == 100  # exactly one round trip per poll
        assert src.symbol_info("RIU2")["ticks_bookdepth"] == 20
        src.close()
        assert ev.events[:1] == [] or all(e.kind == "none_result" for e in ev.events)


def test_mt5linux_close_releases_books_despite_unquoted_symbol_bug() -> None:
    with emulator() as port:
        src, _ = opened(port, "RIU2")
        src.getter("RIU2")()
        link = src.link
        assert isinstance(link, BridgeLink)
        # Peek at the server's call counters through a second, plain client.
        from mt5linux import MetaTrader5

        peek = MetaTrader5("127.0.0.1", port)
        src.close()
        assert peek.eval("mt5.terminal.stats['market_book_release']") == 1


def test_mt5linux_unpack_book_roundtrip() -> None:
    import struct

    levels = [(1, 106010.0, 3, 3.0), (2, 106000.0, 2**40, float(2**40))]
    payload = struct.pack("<" + "qdqd" * 2, *[x for lvl in levels for x in lvl])
    book = unpack_book(payload)
    assert book == tuple(levels) and book[1].volume == 2**40 and book[0].type == 1
    assert unpack_book(b"") == ()


@pytest.mark.parametrize("symbol, expected", [
    ("NOPE", "unknown symbol 'NOPE'"), ("EURUSD", "has no market depth")])
def test_mt5linux_bad_symbol_raises(symbol: str, expected: str) -> None:
    with emulator() as port, pytest.raises(SourceUnavailable, match=expected):
        opened(port, symbol)


def test_mt5linux_no_server_is_a_one_line_error() -> None:
    port = emu_server.free_port()
    with pytest.raises(SourceUnavailable) as e:
        opened(port)
    msg = str(e.value)
    assert f"cannot reach the mt5linux server at 127.0.0.1:{port}" in msg and "\n" not in msg


def test_mt5linux_warns_for_non_loopback_host(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        BridgeLink("10.20.30.40", 18812)
    assert "not a loopback address" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        BridgeLink("localhost", 18812)
        BridgeLink("127.0.0.1", 18812)
    assert caplog.text == ""
    assert is_loopback("::1") and is_loopback("127.0.0.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def test_mt5linux_version_mismatch_message(tmp_path: Path) -> None:
    # An mt5linux that does not parse on this Python, like 1.1.x (3.12 syntax) on 3.11.
    fake = tmp_path / "mt5linux"
    fake.mkdir()
    (fake / "__init__.py").write_text("type Alias = int\nmatch = (\n")
    code = ("from booktape.sources.mt5linux import import_mt5linux\n"
            "try:\n    import_mt5linux()\nexcept Exception as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{emu_server.SRC}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, check=False)
    assert "needs Python >= 3.12" in out.stdout and "mt5linux>=1.0.6,<1.1" in out.stdout


def test_mt5linux_login_with_env_password(monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with emulator(password=SECRET) as port:
        monkeypatch.setenv("BOOKTAPE_MT5_PASSWORD", "nope")
        with pytest.raises(SourceUnavailable, match="refused") as e:
            opened(port, login=5001234)
        assert "nope" not in str(e.value)
        monkeypatch.setenv("BOOKTAPE_MT5_PASSWORD", SECRET)
        src, ev = opened(port, login=5001234)
        assert src.getter("RIU2")() is not None
        src.close()
    assert SECRET not in caplog.text and SECRET not in repr(ev.events)


def test_mt5linux_terminal_ipc_drop_reconnects() -> None:
    with emulator(faults={"ipc_drop_after_calls": 40, "ipc_down_s": 0.1}) as port:
        src, ev = opened(port, "RIU2")
        g = src.getter("RIU2")
        t0 = time.monotonic()
        got = []
        while time.monotonic() - t0 < 3 and "reconnect" not in [e.kind for e in ev.events]:
            got.append(g())
        assert [e.kind for e in ev.events] == ["disconnect", "reconnect"]
        assert None in got and g() is not None
        src.close()


def test_mt5linux_server_restart_reconnects_over_a_new_socket() -> None:
    proc, port = emu_server.start()
    try:
        src, ev = opened(port, "RIU2", "SiU2")
        g = src.getter("RIU2")
        assert g() is not None
        emu_server.stop(proc)  # the bridge process dies: a real socket drop
        assert g() is None
        assert [e.kind for e in ev.events] == ["disconnect"]
        assert "EOFError" in ev.events[0].detail["cause"] or "Error" in ev.events[0].detail["cause"]
        for _ in range(3):
            assert g() is None  # still down: retries with back-off, no exception
        emu_server.wait_port_free(port)
        proc, _ = emu_server.start(port=port)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5 and "reconnect" not in [e.kind for e in ev.events]:
            g()
        assert [e.kind for e in ev.events] == ["disconnect", "reconnect"]
        assert ev.events[1].count >= 2  # several attempts
        assert g() is not None and src.getter("SiU2")() is not None  # both re-subscribed
        src.close()
    finally:
        emu_server.stop(proc)


def test_mt5linux_other_client_shapes_fall_back_to_plain_rpyc(tmp_path: Path) -> None:
    # A client class without eval/execute (mt5linux 1.1.x reshaped its API): booktape
    # speaks RPyC classic to the same server itself.
    fake = tmp_path / "mt5linux"
    fake.mkdir()
    (fake / "__init__.py").write_text("class MetaTrader5:\n    pass\n")
    with emulator() as port:
        code = ("from booktape.sources import SourceSpec, make_source\n"
                f"s = make_source(SourceSpec('mt5linux', {{'port': {port}}}))\n"
                "s.open(('RIU2',))\n"
                "b = s.getter('RIU2')()\n"
                "print(type(s.link.client).__name__, len(b), b[0][0])\n"
                "s.close()\n")
        env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{emu_server.SRC}")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=60, check=False)
    assert out.stdout.split() == ["NoneType", "40", "1"], out.stderr


@pytest.mark.skipif(importlib.util.find_spec("MetaTrader5") is not None,
                    reason="this Python has the MetaTrader5 package (the Windows lane installs it)")
def test_mt5linux_server_without_metatrader5_package_names_the_fix() -> None:
    # A bare RPyC classic server (an mt5linux server whose Wine Python lacks MetaTrader5).
    port = emu_server.free_port()
    code = ("from rpyc.utils.server import ThreadedServer\n"
            "from rpyc.core import SlaveService\n"
            f"ThreadedServer(SlaveService, hostname='127.0.0.1', port={port}).start()\n")
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        with pytest.raises(SourceUnavailable, match="has no MetaTrader5 package.*pip install "
                                                    "MetaTrader5") as e:
            opened(port)
        assert "\n" not in str(e.value)
    finally:
        p.kill()
        p.wait()


def test_mt5linux_hung_call_past_request_timeout_is_a_lost_link() -> None:
    with emulator(faults={"slow_every": 60, "slow_ms": 1500}) as port:
        src, ev = opened(port, "RIU2", request_timeout_s=0.3)
        g = src.getter("RIU2")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8 and "reconnect" not in [e.kind for e in ev.events]:
            g()
        kinds = [e.kind for e in ev.events]
        assert kinds[:2] == ["disconnect", "reconnect"], kinds
        assert "Timeout" in ev.events[0].detail["cause"]
        src.close()
