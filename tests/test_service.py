"""Health files, `booktape status`, `--metrics`, `--log` and the stale-feed watchdog, on real recorders."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from booktape.capture.stats import Stats
from booktape.events import MemoryEvents
from booktape.service.health import health_path
from booktape.service.metrics import parse_addr
from booktape.service.watchdog import Watchdog

from .helpers import posix_signals


def _start(out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "booktape", "record", "--out", str(out),
                             "--quiet", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _health(out: Path, until, timeout: float = 60) -> dict:
    p = health_path(out, "zero")
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if p.exists():
            h = json.loads(p.read_text())
            if until(h):
                return h
        time.sleep(0.1)
    raise AssertionError(f"health never matched: {p.read_text() if p.exists() else 'missing'}")


def _status(cli, out: Path) -> tuple[int, list[dict]]:
    r = cli("status", str(out), "--json")
    return r.returncode, json.loads(r.stdout) if r.stdout.strip() else r.stderr


@posix_signals
def test_status_live_then_stale_then_dead_with_metrics_scraped_and_a_log(tmp_path, cli):
    out = tmp_path / "data"
    log = tmp_path / "rec.log"
    # sim-rate 0.001: a change every ~17 min, so a 2 s --stale-after goes (and stays) stale.
    p = _start(out, "--duration", "120s", "--stale-after", "2s", "--sim-rate", "0.001",
               "--metrics", "127.0.0.1:0", "--log", str(log), "--topology", "pipe")
    try:
        h = _health(out, lambda h: h.get("polls", 0) > 0 and h.get("metrics"))
        assert h["pid"] == p.pid and h["state"] == "recording" and h["session"] == "open"
        assert set(h["symbols"]) == {"RIU2"}
        host, port = parse_addr(h["metrics"])
        assert host == "127.0.0.1" and port > 0
        # The metrics endpoint, over a real socket.
        body = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
        polls = [ln for ln in body.splitlines() if ln.startswith("booktape_polls_total{")]
        assert polls and float(polls[0].split()[-1]) > 0
        assert 'booktape_up{collector="zero"} 1.0' in body
        # Stale: the book does not change for 2 s (checked once a second).
        h = _health(out, lambda h: h["symbols"]["RIU2"]["stale"], timeout=60)
        code, rows = _status(cli, out)
        assert code == 1 and rows[0]["verdict"] == "stale", rows
        body = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
        assert 'booktape_symbol_stale{collector="zero",symbol="RIU2"} 1.0' in body
        assert float(next(ln for ln in body.splitlines()
                          if ln.startswith("booktape_stale_events_total{")).split()[-1]) >= 1
        # The log is written by the health helper from the events, a second or so behind
        # the health file: let it catch up before the kill.
        give_up = time.monotonic() + 30
        while " WARNING stale RIU2" not in log.read_text() and time.monotonic() < give_up:
            time.sleep(0.2)
        # Dead: the recorder and its helpers vanish without a clean stop.
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        code, rows = _status(cli, out)
        assert code == 1 and rows[0]["verdict"] == "dead", rows
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = log.read_text()
    assert " INFO start collector=zero" in text
    assert " WARNING stale RIU2 collector=zero" in text and '"phase":"start"' in text
    ev = "".join(f.read_text() for f in (out / "_events").rglob("*.jsonl"))
    assert '"kind":"stale"' in ev


@pytest.mark.wine_slow("skips on Windows (its skipif says why): marked, it runs at the lowest "
                       "versions on Linux with the other wine_slow tests")
@posix_signals
def test_a_healthy_recorder_exits_0_and_a_stopped_one_too(tmp_path, cli):
    out = tmp_path / "data"
    log = tmp_path / "rec.log"
    p = _start(out, "--duration", "120s", "--log", str(log), "--rotate-every", "2s")
    try:
        _health(out, lambda h: h.get("polls", 0) > 0)
        code, rows = _status(cli, out)
        assert code == 0 and rows[0]["verdict"] == "healthy", rows
        time.sleep(3)  # a seal or two (every 2 s) for the log
        p.send_signal(signal.SIGTERM)  # a clean stop: drain, seal, exit 0
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    code, rows = _status(cli, out)
    assert code == 0 and rows[0]["verdict"] == "stopped"
    h = rows[0]["health"]
    assert h["state"] == "stopped" and h["parts_sealed"] >= 1 and h["last_error"] is None
    text = log.read_text()
    for word in (" INFO start ", " INFO seal RIU2 ", " INFO stop "):
        assert word in text, text
    assert all(line[:4].isdigit() and "Z " in line for line in text.splitlines())


@posix_signals
def test_the_health_helper_starts_with_the_recording(tmp_path, cli):
    """Health is visible from the start: the helper is launched with the first health file.

    (It used to start 5 s in, leaving the file unrefreshed, and `status`
    calling a loaded recorder stuck, for up to ~10 s.)
    """
    out = tmp_path / "data"
    # sequential and --quiet: the health helper is the recorder's only spawned child.
    p = _start(out, "--duration", "60s", "--topology", "sequential")
    try:
        _health(out, lambda h: True)  # the recorder's own first health file
        t0 = time.monotonic()
        found = None
        while found is None and time.monotonic() < t0 + 10:
            for c in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split():
                try:
                    if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text():
                        found = time.monotonic() - t0
                except OSError:
                    pass
            time.sleep(0.01)
        assert found is not None and found < 2.0, found
        # ...and it refreshes the health file while recording.
        first = _health(out, lambda h: h.get("polls", 0) > 0)["updated_ns"]
        h = _health(out, lambda h: h["updated_ns"] > first)
        assert h["state"] == "recording"
        code, rows = _status(cli, out)
        assert code == 0 and rows[0]["verdict"] == "healthy", rows
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@posix_signals
def test_killed_health_helper_is_restarted_and_reported(tmp_path):
    out = tmp_path / "data"
    p = _start(out, "--duration", "15s")
    try:
        h = _health(out, lambda h: h.get("polls", 0) > 0)
        kids = [c for c in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
                if Path(f"/proc/{c}/comm").read_text().strip() == "booktape-health"]
        assert kids
        os.kill(int(kids[0]), signal.SIGKILL)
        first = h["updated_ns"]
        # A new helper keeps the health file moving.
        _health(out, lambda h: h["updated_ns"] > first + 2_000_000_000 and h["restarts"] >= 1)
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    ev = "".join(f.read_text() for f in (out / "_events").rglob("*.jsonl"))
    assert '"process":"booktape-health"' in ev
    assert "booktape-health died" in p.stderr.read()


def test_bad_service_options_are_one_line_errors(tmp_path, cli):
    out = tmp_path / "data"
    r = cli("record", "--out", str(out), "--duration", "1s", "--metrics", "localhost:notaport")
    assert r.returncode == 2 and r.stderr.startswith("Error: invalid --metrics")
    r = cli("record", "--out", str(out), "--duration", "1s", "--log", str(tmp_path))
    assert r.returncode == 2 and "--log" in r.stderr and "directory" in r.stderr
    r = cli("status", str(tmp_path / "nothing"))
    assert r.returncode == 2 and r.stderr.startswith("Error: no tape at")


def test_watchdog_never_flags_outside_the_session_and_clears_when_the_book_moves():
    stats = Stats()
    ev = MemoryEvents()
    t0 = 1_000_000_000_000
    stats.set("started_ns", t0)
    stats.sym_set("last_change_ns", 0, t0)
    open_ = [False]
    wd = Watchdog(stats, ev, ("A",), "zero", "s1", stale_after_ns=10, is_open=lambda t: open_[0])
    wd.check(t0 + 1_000)
    assert ev.events == [] and stats.sym_get("stale", 0) == 0  # closed: a quiet book is fine
    open_[0] = True
    wd.check(t0 + 1_000)
    assert [e.detail["phase"] for e in ev.events] == ["start"] and stats.sym_get("stale", 0)
    assert stats.sym_get("resubscribe", 0) == 1 and stats.get("stale_events") == 1
    stats.sym_set("last_change_ns", 0, t0 + 995)
    wd.check(t0 + 1_000)
    assert ev.events[-1].detail["phase"] == "end" and stats.sym_get("stale", 0) == 0
    wd.check(t0 + 2_000, broker_lost=True)
    assert ev.events[-1].detail["reason"] == "broker_lost"


def test_poller_side_resubscribes_only_what_the_watchdog_asked_for():
    from booktape.transport._resub import Resubscriber

    class Src:
        def __init__(self):
            self.calls = []

        def resubscribe(self, sym):
            self.calls.append(sym)

    stats, src = Stats(), Src()
    r = Resubscriber(src, ("A", "B", "C"), stats)
    r()
    assert src.calls == []
    stats.sym_set("resubscribe", 1, 1)
    r()
    r()
    assert src.calls == ["B"] and stats.sym_get("resubscribe", 1) == 0
    Resubscriber(object(), ("A",), stats)()  # a source without resubscribe (the sim): nothing


def test_metrics_address_is_loopback_unless_told_otherwise():
    assert parse_addr("9108") == ("127.0.0.1", 9108)
    assert parse_addr("0.0.0.0:9108") == ("0.0.0.0", 9108)
    assert parse_addr("[::1]:9108") == ("::1", 9108)


@posix_signals
def test_a_frozen_recorder_is_stuck_then_healthy_again(tmp_path, cli):
    out = tmp_path / "data"
    p = _start(out, "--duration", "120s", "--topology", "sequential")
    try:
        _health(out, lambda h: h.get("polls", 0) > 0)
        os.killpg(p.pid, signal.SIGSTOP)  # alive, but neither polling nor writing health
        try:
            time.sleep(11)
            code, rows = _status(cli, out)
            assert code == 1 and rows[0]["verdict"] == "stuck", rows
        finally:
            os.killpg(p.pid, signal.SIGCONT)
        t = time.time_ns()
        _health(out, lambda h: h["updated_ns"] > t)
        code, rows = _status(cli, out)
        assert code == 0 and rows[0]["verdict"] == "healthy", rows
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_draining_after_the_last_poll_is_healthy_and_says_closed_after_a_close():
    """Polls ended (a close, a deadline, Ctrl-C): the health file says "draining", not
    "recording" (issue 12), and `status` judges it healthy however long no poll came;
    a recorder that died while draining is dead (its backlog was never sealed)."""
    from booktape.service.health import Identity, Rates, snapshot
    from booktape.service.status import judge
    from booktape.transport._shm import start_mark

    now = time.time_ns()
    close = now - 60_000_000_000
    ident = Identity(collector="zero", symbols=("RIU2",), pid=os.getpid(),
                     pid_start=start_mark(os.getpid()), session_id="s", source="sim",
                     topology="pipe", stale_after_ns=120_000_000_000, close_ns=close)
    stats = Stats()
    stats.set("session_state", 1)  # a scheduled session, open
    stats.set("started_ns", now - 3_600_000_000_000)
    stats.set("last_poll_at_ns", close - 1_000_000)
    h = snapshot(ident, stats, Rates(), now)
    # Still polling: recording, and a minute without a poll is a stuck poller.
    assert (h["state"], h["session"]) == ("recording", "open")
    stats.set("polls_ended_ns", close)
    h = snapshot(ident, stats, Rates(), now)
    assert (h["state"], h["session"], h["polls_ended_ns"]) == ("draining", "closed", close)
    assert judge(h, now).verdict == "draining" and judge(h, now).ok
    # Long past the last poll (a big backlog to seal) is still draining, not stuck...
    late = now + 5 * 60_000_000_000
    h = snapshot(ident, stats, Rates(), late)
    assert judge(h, late).verdict == "draining"
    # ...but a health file nobody rewrites is, and a dead drainer is dead.
    assert judge(h, late + 60_000_000_000).verdict == "stuck"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    h_dead = {**h, "pid": int(dead.stdout), "pid_start": None}
    assert judge(h_dead, late).verdict == "dead" and not judge(h_dead, late).ok
    # A drain before the window's close (--until, Ctrl-C) leaves the session open.
    early = dataclasses.replace(ident, close_ns=now + 3_600_000_000_000)
    h = snapshot(early, stats, Rates(), now)
    assert (h["state"], h["session"]) == ("draining", "open")
    # The watchdog flags no book while nothing polls (a quiet drain is not a stale feed).
    ev = MemoryEvents()
    stats.set("started_ns", now - 10 * 120_000_000_000)
    Watchdog(stats, ev, ("RIU2",), "zero", "s", 120_000_000_000).check(now)
    assert not stats.sym_get("stale", 0) and not ev.events
