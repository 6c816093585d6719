"""End to end: ``booktape record --source mt5|mt5linux`` through the emulator, and ``emulate``.

``mt5`` loads the emulator in-process as its MetaTrader5 module (faults come
from ``$BOOKTAPE_EMULATOR``, so they reach spawned pollers too); ``mt5linux``
talks to ``booktape emulate`` over a real socket with the real mt5linux client.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import booktape
import booktape.emulator as emu
from booktape.cli import cli as cli_group
from booktape.events import read_events
from booktape.sources.simulated import SimConfig, SimMarket

from .conftest import run_booktape
from .emu_server import EmulateCli
from .helpers import books_by_seq

SECRET = "Sup3r-Secret-pw!"
LOGIN = "5001234"
SIM = {"seed": 11, "lockstep": True}


def dedup_reference(symbol: str, n: int) -> list[tuple[tuple[int, float, int, float], ...]]:
    """The distinct consecutive states a lockstep sim serves over ``n`` calls."""
    m = SimMarket(SimConfig(**SIM))
    out: list[tuple[tuple[int, float, int, float], ...]] = []
    for _ in range(n):
        b = tuple(tuple(lvl) for lvl in m.market_book_get(symbol))
        if not out or b != out[-1]:
            out.append(b)  # type: ignore[arg-type]
    return out


def assert_tape_is_exact(tape: Path, symbols: tuple[str, ...], polls: int) -> None:
    """Every stored book is, in order, the state the emulator served: nothing corrupt,
    nothing missing, nothing twice (seq contiguous from 0)."""
    for s in symbols:
        df = booktape.read(tape, symbol=s).sort_values(["seq", "level"])
        seqs = sorted(set(df["seq"].tolist()))
        assert seqs == list(range(len(seqs)))
        got = books_by_seq(df)
        ref = dedup_reference(s, polls)
        assert len(got) > 10
        assert got == ref[: len(got)]


def assert_secret_absent(tape: Path, *texts: str) -> None:
    for t in texts:
        assert SECRET not in t
    for f in tape.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_cli_record_mt5_emulator_survives_ipc_drop_exactly(tape: Path) -> None:
    env = {"BOOKTAPE_EMULATOR": json.dumps({
        "faults": {"ipc_drop_after_calls": 700, "ipc_down_s": 0.05}, "sim": SIM,
        "password": SECRET}), "BOOKTAPE_MT5_PASSWORD": SECRET}
    args = ("record", "--source", "mt5", "--mt5-module", "booktape.emulator",
            "--mt5-login", LOGIN, "--mt5-server", "Booktape-Emulator",
            "--symbol", "RIU2", "--symbol", "SiU2", "--polls", "3000", "--out", str(tape), "--json")
    p = run_booktape(*args, env=env)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["lost"] == 0 and summary["none_results"] > 0
    kinds = [e["kind"] for e in read_events(tape)]
    assert kinds.count("disconnect") == 1 and kinds.count("reconnect") == 1
    rec = next(e for e in read_events(tape) if e["kind"] == "reconnect")
    assert rec["duration_ns"] >= 50_000_000 and rec["detail"]["source"] == "mt5"
    assert_tape_is_exact(tape, ("RIU2", "SiU2"), 3000)
    assert_secret_absent(tape, p.stdout, p.stderr, " ".join(args))


def test_cli_record_mt5linux_through_emulate_with_drop_and_login(tape: Path) -> None:
    env = {"BOOKTAPE_MT5_PASSWORD": SECRET}
    server = EmulateCli("--require-password", "--sim-lockstep", "--sim-seed", "11",
                        "--fault", "ipc_drop_after_calls=900", "--fault", "ipc_down_s=0.05",
                        env=env)
    try:
        args = ("record", "--source", "mt5linux", "--mt5-port", str(server.port),
                "--mt5-login", LOGIN, "--symbol", "RIU2", "--polls", "2000",
                "--out", str(tape), "--json")
        p = run_booktape(*args, env=env)
        assert p.returncode == 0, p.stderr
    finally:
        server_log = server.stop()
    summary = json.loads(p.stdout)
    assert summary["lost"] == 0 and summary["source"] == "mt5linux"
    ev = read_events(tape)
    assert [e["kind"] for e in ev if e["kind"] in ("disconnect", "reconnect")] == [
        "disconnect", "reconnect"]
    assert "no IPC connection" in next(e for e in ev if e["kind"] == "disconnect")["detail"]["cause"]
    assert_tape_is_exact(tape, ("RIU2",), 2000)
    assert_secret_absent(tape, p.stdout, p.stderr, server_log, " ".join(args),
                         " ".join(server.argv))


def test_cli_record_mt5linux_survives_server_restart(tape: Path) -> None:
    import subprocess
    import sys

    server = EmulateCli()
    port = server.port
    # Long enough to outlast the server's restart: a Windows Python process under Wine
    # takes seconds to start (4 s ended there before the reconnect).
    duration = "15s" if os.name == "nt" else "4s"
    rec = subprocess.Popen(
        [sys.executable, "-m", "booktape", "record", "--source", "mt5linux", "--mt5-port",
         str(port), "--symbol", "RIU2", "--duration", duration, "--out", str(tape), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()  # wait until books are being journaled (not just started)
        while not list(tape.glob("symbol=RIU2/*/*/_part-*.arrows")):
            assert time.monotonic() - t0 < 30 and rec.poll() is None, "recorder did not start"
            time.sleep(0.05)
        time.sleep(0.3)
        server.stop()  # the bridge goes away: a real socket drop
        time.sleep(0.3)
        server = EmulateCli(port=port)
        _, err = rec.communicate(timeout=60)
    finally:
        server.stop()
        if rec.poll() is None:
            rec.kill()
    assert rec.returncode == 0, err
    kinds = [e["kind"] for e in read_events(tape)]
    assert kinds.count("disconnect") == 1 and kinds.count("reconnect") == 1
    df = booktape.read(tape, symbol="RIU2").sort_values(["seq", "level"])
    seqs = sorted(set(df["seq"].tolist()))
    assert seqs == list(range(len(seqs)))
    for book in books_by_seq(df):  # every stored book is whole and well-formed
        types = [lv[0] for lv in book]
        prices = [lv[1] for lv in book]
        assert types == sorted(types) and prices == sorted(prices, reverse=True)
        assert all(lv[2] > 0 and lv[3] == lv[2] for lv in book)
        assert max(p for t, p, *_ in book if t == 2) < min(p for t, p, *_ in book if t == 1)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in-process (click's runner): for checks that need no real process."""
    return CliRunner().invoke(cli_group, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("extra, msg", [
    (("--symbol", "NOPE"), "Error: unknown symbol 'NOPE'"),
    (("--symbol", "EURUSD"), "Error: symbol 'EURUSD' has no market depth"),
    (("--mt5-path", "/nonexistent/terminal64.exe"), "Error: no MetaTrader 5 terminal at"),
])
def test_cli_record_mt5_fatal_causes_exit_2(tape: Path, extra: tuple[str, ...], msg: str) -> None:
    r = invoke("record", "--source", "mt5", "--mt5-module", "booktape.emulator",
               "--polls", "10", "--out", str(tape), "--quiet", *extra)
    assert r.exit_code == 2, r.output
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_record_mt5_wrong_password_exit_2_without_echo(tape: Path) -> None:
    emu.configure(emu.EmuConfig(password=SECRET))
    try:
        wrong = "not-" + SECRET[::-1]
        r = invoke("record", "--source", "mt5", "--mt5-module", "booktape.emulator",
                   "--mt5-login", LOGIN, "--polls", "10", "--out", str(tape), "--quiet",
                   env={"BOOKTAPE_MT5_PASSWORD": wrong})
        assert r.exit_code == 2 and "was refused" in r.stderr
        assert wrong not in r.output
        # --mt5-ask-password: typed at a hidden prompt, never on the command line.
        r = CliRunner().invoke(
            cli_group, ["record", "--source", "mt5", "--mt5-module", "booktape.emulator",
                        "--mt5-login", LOGIN, "--mt5-ask-password", "--polls", "10",
                        "--out", str(tape), "--json"],
            input=SECRET + "\n", env={"BOOKTAPE_MT5_PASSWORD": ""}, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert SECRET not in r.output  # the prompt hides what was typed
        assert_secret_absent(tape)
    finally:
        emu.configure()
        os.environ.pop("BOOKTAPE_MT5_PASSWORD", None)  # the prompt put it in this process


def test_cli_mt5_options_are_checked(tape: Path) -> None:
    r = invoke("record", "--mt5-port", "1", "--polls", "5", "--out", str(tape))
    assert r.exit_code == 2 and "apply only to --source mt5 or mt5linux" in r.stderr
    r = CliRunner().invoke(cli_group, ["record", "--source", "mt5linux", "--mt5-password", "x",
                                       "--out", str(tape)])
    assert r.exit_code == 2 and "No such option" in r.stderr
    r = invoke("record", "--source", "mt5", "--mt5-port", "1", "--out", str(tape))
    assert r.exit_code == 2 and "apply only to --source mt5linux" in r.stderr
    r = invoke("record", "--source", "mt5linux", "--mt5-port", str(_closed_port()),
               "--polls", "5", "--out", str(tape), "--quiet")
    assert r.exit_code == 2 and "Error: cannot reach the mt5linux server" in r.stderr


def test_cli_emulate_bad_fault_exit_2() -> None:
    r = invoke("emulate", "--port", "0", "--fault", "ipc_drop_afterr=3")
    assert r.exit_code == 2 and "unknown fault" in r.stderr
    r = invoke("emulate", "--port", "0", "--fault", "nonsense")
    assert r.exit_code == 2 and "NAME=VALUE" in r.stderr


def _closed_port() -> int:
    from .emu_server import free_port

    return free_port()


def test_cli_record_mt5_in_a_spawned_poller_keeps_faults_and_exactness(tape: Path) -> None:
    # pipe: the source is built inside a spawned polling process from the SourceSpec.
    env = {"BOOKTAPE_EMULATOR": json.dumps({
        "faults": {"ipc_drop_after_calls": 500, "ipc_down_s": 0.05}, "sim": SIM})}
    p = run_booktape("record", "--source", "mt5", "--mt5-module", "booktape.emulator",
                     "--symbol", "RIU2", "--polls", "2000", "--topology", "pipe",
                     "--out", str(tape), "--json", env=env)
    assert p.returncode == 0, p.stderr
    kinds = [e["kind"] for e in read_events(tape)]
    assert kinds.count("disconnect") == 1 and kinds.count("reconnect") == 1
    assert_tape_is_exact(tape, ("RIU2",), 2000)
