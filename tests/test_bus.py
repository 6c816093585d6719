"""The bus package: subjects, credentials, codec, the sink's ordering, and real record→NATS→sink runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from booktape.analysis.compare import compare_tapes
from booktape.bus.backfill import split_snapshots
from booktape.bus.codec import ForeignMessage, decode, encode
from booktape.bus.config import check_url
from booktape.bus.credentials import connect_options
from booktape.bus.sink_tape import SinkTape
from booktape.bus.subjects import covers, escape_token, subject_matches, unescape_token
from booktape.capture.frame import ChunkBuilder
from booktape.capture.frame import decode as decode_frame
from booktape.clock import SystemClock
from booktape.errors import BadArgument
from booktape.events import read_events
from booktape.read.reader import read_arrow
from booktape.tape.writer import WriterConfig

from .nats_server import NatsServer, free_port


# -- pure parts ------------------------------------------------------------------
@given(st.text(min_size=1, max_size=30))
def test_escape_token_any_name_round_trips_and_is_one_token(name):
    tok = escape_token(name)
    assert unescape_token(tok) == name
    assert "." not in tok and "*" not in tok and ">" not in tok and " " not in tok


def test_subject_for_dotted_symbol_stays_three_tokens():
    from booktape.bus.subjects import subject_for

    assert subject_for("booktape", "zero", "Si-12.22") == "booktape.zero.Si-12%2E22"
    assert subject_matches("booktape.>", "booktape.zero.Si-12%2E22")
    assert subject_matches("booktape.zero.*", "booktape.zero.RIU2")
    assert not subject_matches("booktape.one.*", "booktape.zero.RIU2")
    assert covers(["booktape.>"], "booktape.zero.*")
    assert covers(["booktape.zero.*"], "booktape.zero.*")
    assert not covers(["booktape.one.>"], "booktape.zero.*")
    assert not covers(["booktape.zero.RIU2"], "booktape.zero.*")


def test_check_url_with_credentials_is_refused_without_echoing_them():
    with pytest.raises(BadArgument) as e:
        check_url("nats://alice:s3cret@127.0.0.1:4222")
    assert "s3cret" not in str(e.value) and "BOOKTAPE_NATS_USER" in str(e.value)
    with pytest.raises(BadArgument, match="scheme"):
        check_url("http://127.0.0.1:4222")
    assert check_url("127.0.0.1:4222,tls://b:4222") == "nats://127.0.0.1:4222,tls://b:4222"


def test_connect_options_env_and_file(tmp_path):
    env = {"BOOKTAPE_NATS_USER": "u", "BOOKTAPE_NATS_PASSWORD": "p"}
    assert connect_options(None, env) == {"user": "u", "password": "p"}
    f = tmp_path / "auth"
    creds = tmp_path / "x.creds"
    creds.write_text("jwt")
    f.write_text(f"# desk\ntoken = abc\ncreds = {creds}\n")
    assert connect_options(str(f), {}) == {"token": "abc", "user_credentials": str(creds)}
    f.write_text("secret-line-without-key\n")
    with pytest.raises(BadArgument) as e:
        connect_options(str(f), {})
    assert "secret-line" not in str(e.value)
    with pytest.raises(BadArgument, match="no user"):
        connect_options(None, {"BOOKTAPE_NATS_PASSWORD": "p"})


def _chunk(seqs, levels=3, sym=0, t0=1_700_000_000_000_000_000):
    b = ChunkBuilder()
    for s in seqs:
        book = tuple((1 + (i % 2), 100.0 + i + s, 10 + i, 10.0 + i) for i in range(levels))
        b.add(sym, s, t0 + s * 1000, t0 + s * 1000 + 500, 0, 1500, book)
    return decode_frame(b.take())[sym]


def test_codec_round_trip_keeps_rows_and_headers():
    batch = _chunk(range(5, 9))
    subject, headers, payload = encode("booktape", "zero", "Si-12.22", batch, 0, "s1")
    assert subject == "booktape.zero.Si-12%2E22"
    assert headers["Nats-Msg-Id"] == "zero/Si-12.22/5-8"
    c = decode(headers, payload)
    assert (c.collector, c.symbol, c.first, c.last, c.base) == ("zero", "Si-12.22", 5, 8, 0)
    assert c.table.equals(pa.Table.from_batches([batch]))


def test_codec_foreign_messages_are_told_apart():
    batch = _chunk([1, 2])
    _, headers, payload = encode("booktape", "zero", "RIU2", batch, 0, "s1")
    with pytest.raises(ForeignMessage, match="header"):
        decode(None, b"hello")
    with pytest.raises(ForeignMessage, match="Arrow"):
        decode(headers, b"not arrow")
    with pytest.raises(ForeignMessage, match="seq range"):
        decode(dict(headers, **{"Booktape-Last": "7"}), payload)


def test_split_snapshots_never_cuts_a_snapshot():
    t = pa.Table.from_batches([_chunk(range(50), levels=7)])
    parts = split_snapshots(t, 20)
    assert sum(p.num_rows for p in parts) == t.num_rows
    for p in parts:
        seq = p.column("seq").to_numpy()
        assert len(np.unique(seq)) * 7 == p.num_rows
    assert pa.concat_tables(parts).equals(t)
    assert [p.num_rows for p in split_snapshots(t, 3)] == [7] * 50  # larger than the limit: alone


def test_sink_tape_out_of_order_duplicates_and_overlaps_give_each_state_once(tmp_path):
    """Chunks arrive overtaken, twice, and re-split; the tape gets seq 0..59 once, in order."""
    from booktape.bus.codec import Chunk

    root = tmp_path / "sink"
    st_ = SinkTape(root, SystemClock(), WriterConfig(sync_every_ns=0), "t")

    def ch(lo, hi):
        t = pa.Table.from_batches([_chunk(range(lo, hi))])
        return Chunk("zero", "RIU2", lo, hi - 1, 0, t)

    order = [(0, 10), (20, 30), (10, 20), (10, 20), (25, 40), (0, 5), (50, 60), (40, 50)]
    tokens = []
    for i, (lo, hi) in enumerate(order):
        tok = f"m{i}"
        tokens.append(tok)
        assert st_.accept(ch(lo, hi), tok)
    acked = st_.tick(force=True)
    assert sorted(acked) == sorted(tokens)  # every message acked, and only after the fsync
    st_.close()
    t = read_arrow(root)
    seq = t.column("seq").to_numpy()
    assert np.array_equal(np.unique(seq), np.arange(60))
    assert len(seq) == 60 * 3
    ref = pa.Table.from_batches([_chunk(range(60))])
    assert np.array_equal(t.column("price").to_numpy(), ref.column("price").to_numpy())
    assert st_.counts.held == 2 and st_.counts.duplicates == 2 and st_.counts.trimmed_rows == 15


def test_sink_tape_base_is_where_a_new_collector_starts(tmp_path):
    """The first message seen may be overtaken: the sink waits for Booktape-Base, not for it."""
    from booktape.bus.codec import Chunk

    st_ = SinkTape(tmp_path / "s", SystemClock(), WriterConfig(), "t")
    t = pa.Table.from_batches([_chunk(range(110, 120))])
    st_.accept(Chunk("zero", "RIU2", 110, 119, 100, t), "late")
    assert st_.held[("zero", "RIU2")] and st_.counts.chunks_written == 0
    st_.accept(Chunk("zero", "RIU2", 100, 109, 100,
                     pa.Table.from_batches([_chunk(range(100, 110))])), "first")
    assert st_.counts.chunks_written == 2
    st_.close()


# -- real server, real processes ------------------------------------------------------
def sink_proc(url: str, out: Path, *extra: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[str]:
    e = dict(os.environ, **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "booktape", "sink", url, "--out", str(out),
                             "--sync-every", "100ms", "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)


def record_proc(url: str, out: Path, *extra: str, collector: str = "zero",
                symbols: tuple[str, ...] = ("RIU2", "Si-12.22"),
                env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "booktape", "record", "--out", str(out), "--quiet",
            "--collector", collector, "--publish", url, "--sync-every", "100ms"]
    for s in symbols:
        args += ["--symbol", s]
    e = dict(os.environ, **(env or {}))
    return subprocess.Popen(args + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)


def finish(p: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def stop(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    return finish(p)


def wait_same(sink: Path, local: Path, timeout: float = 60, **kw: str):
    """Poll until the sink's tape holds exactly the local tape's states (journals count too)."""
    deadline = time.monotonic() + timeout
    cmp = None
    while time.monotonic() < deadline:
        try:
            cmp = compare_tapes(sink, local, **kw)
            if cmp.equal:
                return cmp
        except Exception:
            pass
        time.sleep(0.5)
    raise AssertionError(f"sink never caught up: {cmp.to_dict() if cmp else 'no sink tape'}")


def assert_same(sink: Path, local: Path, **kw: str) -> None:
    cmp = compare_tapes(sink, local, **kw)
    assert cmp.equal, cmp.to_dict()
    assert all(s.same > 0 for s in cmp.streams)


def wait_for_event(root: Path, kind: str, timeout: float = 30, collector: str = "zero") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if kind in kinds(root, collector):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event in {root} after {timeout} s")


def kinds(root: Path, collector: str = "zero") -> list[str]:
    return [e["kind"] for e in read_events(root, collector)]


def test_record_publish_then_sink_gives_the_same_tape(nats_server, tmp_path, cli):
    local, sink = tmp_path / "local", tmp_path / "sink"
    code, _, err = finish(record_proc(nats_server.url, local, "--duration", "3s"))
    assert code == 0, err
    p = cli("sink", nats_server.url, "--out", str(sink), "--until-idle", "2s", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["counts"]["quarantined"] == 0 and summary["counts"]["snapshots_written"] > 100
    assert_same(sink, local)
    # Every reader works unchanged on a sink's tape, and analyze says the two agree.
    for args in (["ls", str(sink)], ["verify", str(sink)], ["analyze", str(sink)],
                 ["export", str(sink), "--symbol", "RIU2", "--csv", str(tmp_path / "x.csv")]):
        r = cli(*args)
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (args, r.stderr)
    assert cli("verify", str(sink)).returncode == 0
    r = cli("analyze", str(sink), "--compare", str(local))
    assert r.returncode == 0 and "same states, same bytes per state" in r.stdout, r.stdout
    # A sink's tape merges like any tape (a second collector from another recorder).
    code, _, err = finish(record_proc(nats_server.url, local, "--duration", "2s",
                                      collector="one", symbols=("RIU2",)))
    assert code == 0, err
    p = cli("sink", nats_server.url, "--out", str(sink), "--until-idle", "2s")
    assert p.returncode == 0, p.stderr
    assert_same(sink, local)
    r = cli("merge", str(sink), "--symbol", "RIU2", "--collectors", "zero,one", "--out",
            str(tmp_path / "merged"), "--json")
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    assert json.loads(r.stdout)


def test_analyze_compare_names_missing_and_changed_states(nats_server, tmp_path, cli):
    local, sink = tmp_path / "local", tmp_path / "sink"
    assert finish(record_proc(nats_server.url, local, "--duration", "2s",
                              symbols=("RIU2",)))[0] == 0
    assert cli("sink", nats_server.url, "--out", str(sink), "--until-idle", "2s").returncode == 0
    # A third tape: the local one with its last state dropped and one price changed.
    from booktape.schema import BOOK_SCHEMA

    t = read_arrow(local, columns=BOOK_SCHEMA.names).drop_columns(["symbol", "collector"])
    seq = t.column("seq").to_numpy()
    keep = seq < seq.max()
    t = t.filter(pa.array(keep))
    price = t.column("price").to_numpy().copy()
    price[seq[keep] == 3] += 1
    t = t.set_column(t.schema.get_field_index("price"), "price", pa.array(price))
    from booktape.tape.writer import TapeWriter

    w = TapeWriter(tmp_path / "bad", "zero", SystemClock())

    w.append("RIU2", t.cast(BOOK_SCHEMA).combine_chunks().to_batches()[0])
    w.close()
    r = cli("analyze", str(sink), "--compare", str(tmp_path / "bad"), "--json")
    assert r.returncode == 1
    s = json.loads(r.stdout)["streams"][0]
    assert s["only_a"] == 1 and s["differ"] == 1 and s["examples"]["differ"] == [3]


def test_unreachable_bus_at_start_records_locally_then_publishes_when_it_appears(tmp_path, cli):
    port = free_port()
    srv = NatsServer(tmp_path / "js", port)
    local, sink = tmp_path / "local", tmp_path / "sink"
    # Long enough for the server's start and one reconnect backoff on a loaded
    # machine (8 s ended before bus_up under load 12).
    rec = record_proc(srv.url, local, "--duration", "15s")
    wait_for_event(local, "bus_down")
    srv.start()
    try:
        code, _, err = finish(rec)
        assert code == 0, err
        assert "unreachable" in err and "recording locally" in err
        ev = read_events(local, "zero")
        down = [e for e in ev if e["kind"] == "bus_down"]
        up = [e for e in ev if e["kind"] == "bus_up"]
        assert len(down) == 1 and len(up) == 1 and up[0]["t_ns"] > down[0]["t_ns"]
        assert up[0]["duration_ns"] == up[0]["t_ns"] - down[0]["t_ns"]
        assert cli("sink", srv.url, "--out", str(sink), "--until-idle", "2s").returncode == 0
        assert_same(sink, local)
    finally:
        srv.stop()


def test_bus_down_for_the_whole_session_is_sent_by_the_next_one(tmp_path, cli):
    srv = NatsServer(tmp_path / "js", free_port())
    local, sink = tmp_path / "local", tmp_path / "sink"
    code, _, err = finish(record_proc(srv.url, local, "--duration", "2s"))
    assert code == 0 and "bus_unsent" in kinds(local)
    srv.start()
    try:
        assert finish(record_proc(srv.url, local, "--duration", "2s"))[0] == 0
        assert cli("sink", srv.url, "--out", str(sink), "--until-idle", "2s").returncode == 0
        assert_same(sink, local)
        seq = read_arrow(sink, "RIU2").column("seq").to_numpy()
        assert seq.min() == 0  # the first session's states came through the second
    finally:
        srv.stop()


def test_wrong_credential_is_one_clear_error_and_the_tape_is_untouched(tmp_path, cli):
    srv = NatsServer(tmp_path / "js", config="authorization { token: \"right-token\" }").start()
    try:
        local = tmp_path / "local"
        r = cli("record", "--out", str(local), "--duration", "1s", "--publish", srv.url,
                env={"BOOKTAPE_NATS_TOKEN": "wrong-token"})
        assert r.returncode == 2
        assert r.stderr.startswith("Error: NATS at") and "refused the credentials" in r.stderr
        assert "wrong-token" not in r.stderr and "Traceback" not in r.stderr
        assert not local.exists()
        # The right token from a file (never argv) works for both ends.
        auth = tmp_path / "nats.auth"
        auth.write_text("token = right-token\n")
        r = cli("record", "--out", str(local), "--duration", "1s", "--publish", srv.url,
                "--nats-auth", str(auth), "--quiet")
        assert r.returncode == 0, r.stderr
        r = cli("sink", srv.url, "--out", str(tmp_path / "sink"), "--until-idle", "2s",
                "--nats-auth", str(auth))
        assert r.returncode == 0, r.stderr
        assert_same(tmp_path / "sink", local)
    finally:
        srv.stop()


def test_user_password_from_the_environment(tmp_path, cli):
    srv = NatsServer(tmp_path / "js", config="authorization { users: [ {user: desk, password: "
                     "\"pw-9\"} ] }").start()
    try:
        env = {"BOOKTAPE_NATS_USER": "desk", "BOOKTAPE_NATS_PASSWORD": "pw-9"}
        r = cli("record", "--out", str(tmp_path / "l"), "--duration", "1s", "--publish",
                srv.url, "--quiet", env=env)
        assert r.returncode == 0, r.stderr
        r = cli("sink", srv.url, "--out", str(tmp_path / "s"), "--until-idle", "2s",
                env=dict(env, BOOKTAPE_NATS_PASSWORD="nope"))
        assert r.returncode == 2 and "refused the credentials" in r.stderr
    finally:
        srv.stop()


def _add_stream(url: str, **kw) -> None:
    import nats
    from nats.js.api import StreamConfig

    async def go() -> None:
        nc = await nats.connect(url)
        await nc.jetstream().add_stream(StreamConfig(name="BOOKTAPE", subjects=["booktape.>"],
                                                     **kw))
        await nc.close()

    asyncio.run(go())


@pytest.mark.parametrize("settings, text", [
    ({"storage": "memory"}, "storage is memory"),
    ({"max_msgs": 1000}, "discard is old with max_msgs=1000"),
    ({"retention": "interest"}, "retention is interest"),
])
def test_stream_that_would_lose_data_is_refused(nats_server, tmp_path, cli, settings, text):
    from nats.js.api import RetentionPolicy, StorageType

    kw = dict(settings)
    if "storage" in kw:
        kw["storage"] = StorageType.MEMORY
    if "retention" in kw:
        kw["retention"] = RetentionPolicy.INTEREST
    _add_stream(nats_server.url, **kw)
    local = tmp_path / "local"
    r = cli("record", "--out", str(local), "--duration", "1s", "--publish", nats_server.url)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("Error: stream BOOKTAPE") and text in r.stderr
    assert not local.exists()
    r = cli("sink", nats_server.url, "--out", str(tmp_path / "s"), "--until-idle", "1s")
    assert r.returncode == 2 and text in r.stderr


def test_foreign_message_is_quarantined_and_the_rest_is_written(nats_server, tmp_path, cli):
    import nats

    async def pub() -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        from booktape.bus.config import BusConfig
        from booktape.bus.stream import ensure_stream

        await ensure_stream(js, BusConfig(url=nats_server.url))
        await js.publish("booktape.zero.RIU2", b"{\"price\": 1}", headers={"X-From": "someone"})
        await nc.close()

    asyncio.run(pub())
    local, sink = tmp_path / "local", tmp_path / "sink"
    assert finish(record_proc(nats_server.url, local, "--duration", "2s"))[0] == 0
    r = cli("sink", nats_server.url, "--out", str(sink), "--until-idle", "2s", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["quarantined"] == 1
    q = list((sink / "_quarantine").glob("*.jsonl"))
    rec = json.loads(q[0].read_text().splitlines()[0])
    assert rec["subject"] == "booktape.zero.RIU2" and rec["headers"]["X-From"] == "someone"
    import base64

    assert base64.b64decode(rec["payload_b64"]) == b"{\"price\": 1}"
    assert_same(sink, local)
    assert cli("verify", str(sink)).returncode == 0


def test_nkey_seed_from_environment_and_file_against_a_real_server(tmp_path, cli):
    import nkeys

    def seed_file(name: str) -> tuple[Path, str]:
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        f = tmp_path / name
        f.write_bytes(seed)
        f.chmod(0o600)
        return f, seed.decode()

    good, good_seed = seed_file("desk.nk")
    bad, bad_seed = seed_file("other.nk")
    pub = nkeys.from_seed(good_seed.encode()).public_key.decode()
    srv = NatsServer(tmp_path / "js", config=f"authorization {{ users: [ {{ nkey: {pub} }} ] }}"
                     ).start()
    try:
        local, sink = tmp_path / "local", tmp_path / "sink"
        # Another key is refused: one line, exit 2, no seed anywhere, the tape untouched.
        r = cli("record", "--out", str(local), "--duration", "1s", "--publish", srv.url,
                env={"BOOKTAPE_NATS_NKEY": str(bad)})
        assert r.returncode == 2 and "refused the credentials" in r.stderr, r.stderr
        assert bad_seed not in r.stderr + r.stdout and not local.exists()
        # The server's key from the environment (recorder) and from --nats-auth (sink).
        code, _, err = finish(record_proc(srv.url, local, "--duration", "3s",
                                          env={"BOOKTAPE_NATS_NKEY": str(good)}))
        assert code == 0, err
        auth = tmp_path / "nats.auth"
        auth.write_text(f"nkey = {good}\n")
        r = cli("sink", srv.url, "--out", str(sink), "--until-idle", "2s", "--nats-auth",
                str(auth))
        assert r.returncode == 0, r.stderr
        assert_same(sink, local)
        for f in [*local.rglob("*"), *sink.rglob("*")]:
            if f.is_file():
                assert good_seed.encode() not in f.read_bytes(), f
    finally:
        srv.stop()


def test_no_local_keeps_no_parts_and_the_sink_holds_every_state_once(nats_server, tmp_path, cli):
    local, sink = tmp_path / "local", tmp_path / "sink"
    for _ in range(2):  # a second session continues seq from the manifests left behind
        code, out, err = finish(record_proc(nats_server.url, local, "--duration", "3s",
                                            "--rotate-every", "1s", "--no-local"))
        assert code == 0, out + err
    # Every sealed part was deleted once acknowledged; the manifests stay.
    from booktape.tape.layout import partition_dirs
    from booktape.tape.manifest import read_manifest

    listed: dict[str, int] = {}
    for d in partition_dirs(local, None, "zero"):
        entries = read_manifest(d)
        assert entries and not list(d.glob("part-*.parquet")) and not list(d.glob("_part-*"))
        sym = d.parent.parent.name.split("=", 1)[1]
        listed[sym] = listed.get(sym, 0) + sum(e.snapshots for e in entries)
    assert set(listed) == {"RIU2", "Si-12.22"} and all(n > 5 for n in listed.values())
    assert "session_start" in kinds(local)
    r = cli("sink", nats_server.url, "--out", str(sink), "--until-idle", "2s", "--json")
    assert r.returncode == 0, r.stderr
    for sym, n in listed.items():
        seq = np.unique(read_arrow(sink, sym, "zero", columns=["seq"]).column("seq").to_numpy())
        assert len(seq) == n and np.array_equal(seq, np.arange(n)), sym
    assert cli("verify", str(sink)).returncode == 0
    # The local tape says what it is: parts listed but gone.
    r = cli("verify", str(local))
    assert r.returncode == 1 and "missing" in r.stdout + r.stderr


def test_record_config_publish_section_publishes_and_the_sink_gets_it(nats_server, tmp_path, cli):
    """`record --config` with a [publish] section (issue 12's config file, issue 15's bus)."""
    local, sink = tmp_path / "local", tmp_path / "sink"
    auth = tmp_path / "nats.auth"
    auth.write_text("# no credentials needed on this test server\n")
    cfg = tmp_path / "booktape.toml"
    cfg.write_text(f"out = '{local}'\n"
                   f'symbols = ["RIU2"]\ncollector = "cfg"\nduration = "3s"\n'
                   f'[thresholds]\nsync_every = "100ms"\n'
                   f'[publish]\nurl = "{nats_server.url}"\nstream = "DESK"\n'
                   f"nats_auth = '{auth}'\n"
                   'duplicate_window = "1m"\n')
    r = cli("record", "--config", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    r = cli("sink", nats_server.url, "--stream", "DESK", "--out", str(sink), "--until-idle", "2s")
    assert r.returncode == 0, r.stderr
    assert_same(sink, local)
    # A flag overrides the file: --stream OTHER is what the recorder asks for (and JetStream
    # refuses a second stream over the same subjects: one clear line, exit 2).
    r = cli("record", "--config", str(cfg), "--quiet", "--stream", "OTHER", "--duration", "1s")
    assert r.returncode == 2 and "refused stream OTHER" in r.stderr and "overlap" in r.stderr
