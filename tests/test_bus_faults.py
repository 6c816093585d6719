"""The bus through crashes, with real processes: nats-server, recorders and sinks killed and restarted.

In every case the sink's final tape holds every state of the recorders' local
tapes exactly once (compared by (symbol, collector, seq) and content), and
the recorder's events name the outage.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from booktape.analysis.verify import verify
from booktape.events import read_events
from booktape.read.reader import read_arrow

from .nats_server import NatsCluster
from .test_bus import (
    assert_same,
    finish,
    kinds,
    record_proc,
    sink_proc,
    stop,
    wait_for_event,
    wait_same,
)


def wait_for_states(root: Path, n: int = 50, timeout: float = 60) -> None:
    """Until ``root`` holds at least ``n`` states (journals included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(np.unique(read_arrow(root, columns=["seq"]).column("seq").to_numpy())) >= n:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{root} never reached {n} states")


def outage(local: Path) -> tuple[dict, dict]:
    ev = read_events(local, "zero")
    down = [e for e in ev if e["kind"] == "bus_down"]
    up = [e for e in ev if e["kind"] == "bus_up"]
    assert down and up, [e["kind"] for e in ev]
    assert up[-1]["t_ns"] > down[0]["t_ns"]
    return down[0], up[-1]


def test_nats_server_killed_mid_stream_and_restarted_on_its_store(nats_server, tmp_path):
    local, sink = tmp_path / "local", tmp_path / "sink"
    s = sink_proc(nats_server.url, sink)
    rec = record_proc(nats_server.url, local, "--duration", "10s")
    try:
        wait_for_states(sink)  # the bus is carrying data
        nats_server.kill()
        wait_for_event(local, "bus_down")
        time.sleep(1.5)
        nats_server.restart()
        code, _, err = finish(rec)
        assert code == 0, err
        wait_same(sink, local)
    finally:
        code, out, err = stop(s)
    assert code == 0, err
    assert_same(sink, local)
    assert verify(sink).ok
    down, up = outage(local)
    assert up["duration_ns"] > 1e9 and down["detail"]["url"] == nats_server.url


def test_nats_server_stopped_for_a_while_spills_and_resends_in_order(nats_server, tmp_path):
    """The issue asks for 30 s; 8 s proves the same path (reconnect loop with capped 2 s back-off,
    spill file past a 64 KB buffer) in a quarter of the time. ``--publish-buffer 64KB`` makes
    the wait spill to disk as a long outage would at 64 MB."""
    local, sink = tmp_path / "local", tmp_path / "sink"
    s = sink_proc(nats_server.url, sink)
    rec = record_proc(nats_server.url, local, "--duration", "14s", "--publish-buffer", "64KB")
    try:
        wait_for_states(sink)
        nats_server.stop()
        t_stop = time.monotonic()
        wait_for_event(local, "bus_down")
        time.sleep(max(0.0, 8 - (time.monotonic() - t_stop)))
        nats_server.restart()
        code, _, err = finish(rec)
        assert code == 0, err
        wait_same(sink, local)
    finally:
        code, _, err = stop(s)
    assert code == 0, err
    assert_same(sink, local)
    down, up = outage(local)
    assert up["duration_ns"] > 6e9
    assert up["detail"]["spilled"] > 0 and up["count"] > 0  # chunks waited on disk
    assert "bus_unsent" not in kinds(local)


def test_sink_killed_mid_stream_and_restarted(nats_server, tmp_path):
    local, sink = tmp_path / "local", tmp_path / "sink"
    s = sink_proc(nats_server.url, sink)
    rec = record_proc(nats_server.url, local, "--duration", "8s")
    try:
        wait_for_states(sink, 200)
        s.kill()  # SIGKILL; TerminateProcess on Windows
        s.wait(10)
        time.sleep(1)
        s = sink_proc(nats_server.url, sink)
        assert finish(rec)[0] == 0
        wait_same(sink, local)
    finally:
        code, _, err = stop(s)
    assert code == 0, err
    assert_same(sink, local)
    assert verify(sink).ok  # the killed sink's journals were recovered and sealed


def test_sink_killed_while_a_standby_waits_and_the_standby_takes_over(nats_server, tmp_path):
    local, sink = tmp_path / "local", tmp_path / "sink"
    a = sink_proc(nats_server.url, sink, "--durable", "desk")
    rec = record_proc(nats_server.url, local, "--duration", "8s")
    wait_for_states(sink, 100)
    b = sink_proc(nats_server.url, sink, "--durable", "desk")
    try:
        time.sleep(2)
        assert b.poll() is None  # waiting, not writing
        a.kill()
        a.wait(10)
        assert finish(rec)[0] == 0
        wait_same(sink, local)
    finally:
        code, out, err = stop(b)
    assert code == 0, err
    assert "standing by" in err
    import json

    assert json.loads(out)["waited_s"] > 0.2  # it waited on the lock before writing
    assert_same(sink, local)
    assert verify(sink).ok


def test_recorder_killed_and_restarted_continues_seq_and_resends(nats_server, tmp_path):
    local, sink = tmp_path / "local", tmp_path / "sink"
    s = sink_proc(nats_server.url, sink)
    rec = record_proc(nats_server.url, local, "--duration", "60s")
    try:
        wait_for_states(sink, 100)
        time.sleep(0.5)
        rec.kill()
        rec.wait(10)
        time.sleep(1)
        rec = record_proc(nats_server.url, local, "--duration", "3s")
        assert finish(rec)[0] == 0
        wait_same(sink, local)
    finally:
        code, _, err = stop(s)
    assert code == 0, err
    assert_same(sink, local)
    for sym in ("RIU2", "Si-12.22"):
        seq = np.unique(read_arrow(local, sym, columns=["seq"]).column("seq").to_numpy())
        assert np.array_equal(seq, np.arange(len(seq)))  # seq continued, nothing doubled
    starts = [e["detail"]["start_seq"] for e in read_events(local, "zero")
              if e["kind"] == "session_start"]
    assert len(starts) == 2 and min(starts[1]) > 0


def test_several_recorders_into_one_sink_with_one_recorders_server_killed(tmp_path):
    # Long enough that the stream's new leader is elected while every recorder still
    # records: a recorder that stops with the bus down leaves the rest to its next session.
    DURATION = "25s"
    cluster = NatsCluster(tmp_path / "cluster").start()
    n0, _, n2 = cluster.nodes
    try:
        _replicated_stream(n0.url)
        local, sink = tmp_path / "local", tmp_path / "sink"
        s = sink_proc(n0.url, sink)
        recs = [record_proc(n0.url, local, "--duration", DURATION, collector="zero",
                            symbols=("RIU2", "Si-12.22")),
                record_proc(n0.url, local, "--duration", DURATION, collector="one",
                            symbols=("RIU2", "BR-1.23")),
                record_proc(n2.url, local, "--duration", DURATION, collector="two",
                            symbols=("RIU2", "Si-12.22", "GAZP"))]
        try:
            wait_for_states(sink, 300)
            n2.kill()  # collector two's link is cut; zero and one go on through n0
            wait_for_event(local, "bus_down", collector="two")
            time.sleep(2)
            n2.restart()
            for r in recs:
                code, _, err = finish(r)
                assert code == 0, err
            wait_same(sink, local, timeout=90)
        finally:
            code, _, err = stop(s)
        assert code == 0, err
        assert_same(sink, local)
        # zero and one may see a short stall too, while the stream's leader moves off
        # the killed node; two's link was down for the whole kill.
        assert "bus_down" in kinds(local, "two") and "bus_up" in kinds(local, "two")
        for c in ("zero", "one", "two"):
            k = kinds(local, c)
            assert k.count("bus_down") == k.count("bus_up") and "bus_unsent" not in k
    finally:
        cluster.stop()


def _replicated_stream(url: str, timeout: float = 30) -> None:
    """Create BOOKTAPE with 3 replicas once the cluster has elected its JetStream leader."""
    import nats
    from nats.js.api import StorageType, StreamConfig

    async def go() -> None:
        nc = await nats.connect(url)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().add_stream(StreamConfig(
                        name="BOOKTAPE", subjects=["booktape.>"], storage=StorageType.FILE,
                        num_replicas=3, duplicate_window=120))
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
        finally:
            await nc.close()

    asyncio.run(go())
